#pragma once
/// The certificate generator behind `taskrt certs generate DIR`: a cluster CA
/// (ca.pem, ca.key) and one certificate and key per identity (head, node-1,
/// ..., client), signed by that CA, written with OpenSSL's C API.
///
/// Keys are EC P-256 (PKCS#8 PEM, unencrypted, mode 0600); certificates are
/// X.509 v3 signed with SHA-256 (mode 0644). The CA has basicConstraints
/// CA:TRUE, pathlen 0. Every identity has extendedKeyUsage serverAuth and
/// clientAuth (any identity may accept or open cluster connections) and
/// subjectAltNames DNS:localhost, IP:127.0.0.1, IP:::1 plus the given hosts.
///
/// Node identity: a certificate names the node ids it may register under in
/// URI subjectAltNames "taskrt:node:ID" (see cluster/tls_observer.hpp). Every
/// identity but "head" and "client" gets its own name; a pool identity NAME
/// (`--pool NAME`) gets "taskrt:node:NAME-*", so the replicas of a
/// Kubernetes Deployment share one Secret and register as NAME-<anything>.
/// "client" gets none: it may submit and inspect but not register a node.
///
/// When DIR already holds ca.pem and ca.key, that CA signs the new
/// identities (adding a node later); it is never replaced. Existing identity
/// files are only replaced with `force`.

#include <string>
#include <vector>

namespace taskrt {

/// What to generate.
struct cert_request {
  std::string dir;
  std::vector<std::string> names; ///< identities, e.g. head, node-1, client
  std::vector<std::string> pools; ///< pool identities: NAME allows node ids NAME-*
  std::vector<std::string> hosts; ///< extra subjectAltNames (IP or DNS name)
  int days = 825;                 ///< validity of new certificates
  bool force = false;             ///< replace identities whose files exist
};

/// One file written.
struct written_file {
  std::string path;
  std::string kind; ///< "ca-certificate", "ca-key", "certificate" or "key"
  std::string name; ///< the identity ("ca" for the CA)
};

/// What generate_certificates did.
struct cert_result {
  bool new_ca = false; ///< false: an existing CA in DIR signed the identities
  std::vector<written_file> files;
};

/// The default identities: head, node-1 .. node-N, client.
std::vector<std::string> default_identities(int nodes);

/// Empty when `name` may name an identity (1-64 of [A-Za-z0-9._-], not "ca",
/// not starting with '.' or '-'), else why not.
std::string check_identity_name(const std::string& name);

/// Empty when `host` may be a subjectAltName (an IPv4/IPv6 address or a DNS
/// name of [A-Za-z0-9.-], '*.' allowed in front), else why not.
std::string check_san_host(const std::string& host);

/// The taskrt:node: patterns a new certificate for identity `name` carries.
std::vector<std::string> node_patterns_for(const std::string& name, bool pool);

/// Writes the CA (unless DIR holds one) and the identities. Throws
/// std::invalid_argument for bad requests (names, hosts, days) and
/// std::runtime_error when files exist (without force) or cannot be
/// written; nothing is written when a check fails.
cert_result generate_certificates(const cert_request& req);

} // namespace taskrt

#pragma once
/// Mutual TLS for cluster traffic (libcaf_openssl).
///
/// A TLS directory, as `taskrt certs generate DIR` writes it, holds the
/// cluster CA certificate (ca.pem) and identities NAME.pem + NAME.key. A
/// process picks one identity: the head "head", a worker node its node id,
/// a client "client" (or --tls-name), else the only identity in the
/// directory. ca.key is not needed to run and should stay off the nodes.
///
/// With TLS configured, CAF's [openssl] keys certificate, key and cafile are
/// set and the head publishes with caf::openssl::publish, nodes and clients
/// connect with caf::openssl::remote_actor. Every CAF session then requires
/// and verifies a peer certificate on both sides (SSL_VERIFY_PEER |
/// SSL_VERIFY_FAIL_IF_NO_PEER_CERT against cafile, ciphers
/// HIGH:!aNULL:!MD5). TLS is never configured without a certificate: CAF
/// would fall back to anonymous AECDH (encrypted, not authenticated).
///
/// Verified: the peer's certificate chains to ca.pem, is within its validity
/// and has the TLS purpose of its side (serverAuth for the head, clientAuth
/// for nodes and clients). Not verified: host names or IP addresses (CAF
/// sets no expected host), that a node's certificate name matches its node
/// id (any certificate of the cluster CA may register as any node), and
/// revocation (no CRL).

#include "taskrt/runtime/protocol.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace taskrt {

/// Where a process finds its TLS material; an empty dir means no TLS.
struct tls_options {
  std::string dir;
  std::string name; ///< identity in dir; empty: by role
};

/// The files of one identity, resolved and checked (absolute paths).
struct tls_files {
  std::string dir;
  std::string name;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

/// Picks the identity in opts.dir (opts.name, else the first of `names`
/// present, else the only identity there) and checks it: the certificate
/// and key load and match, and the certificate verifies against ca.pem
/// (signed by that CA, not expired). Throws std::runtime_error saying what
/// is wrong. Warns when the key is readable by group or others.
tls_files resolve_tls(const tls_options& opts, const std::vector<std::string>& names);

/// Sets [openssl] certificate, key and cafile, loads caf::openssl::manager
/// and installs the handshake observer (cluster/tls_observer.hpp). Call
/// after configure_network and before the actor system is built.
void configure_tls(caf::actor_system_config& cfg, const tls_files& files);

/// Publishes `head` on host:port: over mutual TLS when `sys` was configured
/// with configure_tls, else in plaintext. Returns the bound port.
caf::expected<uint16_t> publish_head(caf::actor_system& sys, const head_actor& head,
                                     uint16_t port, const std::string& host);

/// Connects to the head at host:port (over TLS when `sys` was configured
/// with configure_tls). Errors are errc::unavailable with a message for
/// people: "cannot reach the head at H:P (...)" or, when the handshake
/// failed, "TLS handshake with the head at H:P failed: REASON".
caf::expected<head_actor> connect_head(caf::actor_system& sys, const std::string& host,
                                       uint16_t port);

} // namespace taskrt

#pragma once
/// Sees the outcome of every TLS handshake of this process, which CAF 0.17
/// does not report: libcaf_openssl's session (src/openssl/session.cpp)
/// creates an SSL_CTX per connection, sets SSL_VERIFY_PEER |
/// SSL_VERIFY_FAIL_IF_NO_PEER_CERT with no verify callback, and on a failed
/// SSL_accept/SSL_connect only closes the socket (its CAF_LOG_INFO is
/// compiled out of Debian's build: CAF_LOG_LEVEL_QUIET). The BASP broker then
/// drops the connection silently; a connecting peer gets
/// sec::disconnect_during_handshake.
///
/// The observer registers an OpenSSL ex_data "new" callback for SSL_CTX
/// (CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, ...)): OpenSSL calls it
/// inside SSL_CTX_new for every context, CAF's included, and it installs an
/// info callback (SSL_CTX_set_info_callback) that CAF never overrides. The
/// info callback sees alerts sent and received and the end of each
/// handshake step, and reads the verification result; the peer address
/// (getpeername on SSL_get_fd) is taken at the connection's first callback,
/// before a refused peer can close the socket, and kept in the SSL's
/// ex_data. install_tls_observer() checks on a fresh context that the
/// callback was attached.
///
/// Incoming connections (this process accepted them: the head) that fail
/// are logged with spdlog::warn, with the peer address and the reason, once
/// per connection; accepted ones are logged at info with the peer
/// certificate's CN. Outgoing failures are kept for connect_head to explain.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// A failed TLS handshake as this process saw it.
struct tls_failure {
  bool incoming = false; ///< true: this process accepted the connection
  std::string peer;      ///< "ADDR:PORT" of the other side ("" if unknown)
  uint16_t peer_port = 0;
  std::string reason;    ///< e.g. "certificate verify failed (unable to get local issuer certificate)"
  std::chrono::steady_clock::time_point at;
};

/// Installs the observer (once per process; later calls do nothing). False
/// when OpenSSL did not attach the callback to a new context, i.e. refused
/// handshakes cannot be seen.
bool install_tls_observer();

/// The latest failure of a connection this process opened to port `port`
/// at or after `since`.
std::optional<tls_failure> outgoing_tls_failure(uint16_t port,
                                                std::chrono::steady_clock::time_point since);

/// How many incoming handshakes failed so far in this process.
uint64_t refused_tls_handshakes();

/// URI subjectAltNames of this form name the node ids a certificate may
/// register under: "taskrt:node:node-1", or a pool "taskrt:node:pool-a-*".
inline constexpr const char* node_uri_prefix = "taskrt:node:";

/// What the certificate of a verified incoming TLS connection allows.
struct tls_peer_identity {
  std::string cn;                         ///< the subject CN ("client", "node-1", ...)
  std::vector<std::string> node_patterns; ///< from taskrt:node: URIs; empty: no node
};

/// The identity of the verified incoming TLS connection whose peer is
/// ADDR:PORT (as getpeername gives it, IPv6 without brackets), while that
/// connection is open; nothing when there is none.
std::optional<tls_peer_identity> incoming_tls_peer(const std::string& addr, uint16_t port);

/// True when `node_id` equals a pattern, or a pattern ends with '*' and
/// `node_id` is its prefix plus at least one character.
bool node_id_allowed(const std::vector<std::string>& patterns, const std::string& node_id);

} // namespace taskrt

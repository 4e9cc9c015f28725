#include "taskrt/cluster/tls_observer.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace taskrt {

namespace {

/// Index of the per-connection conn_info (SSL ex_data).
int info_index = -1;

std::mutex failures_mtx;
std::deque<tls_failure> outgoing_failures; ///< the latest few, newest last
std::atomic<uint64_t> refused{0};

/// Verified incoming connections by (peer address, port): what their
/// certificate allows, and the SSL that owns the entry.
std::mutex peers_mtx;
std::map<std::pair<std::string, uint16_t>, std::pair<const SSL*, tls_peer_identity>> peers;

/// The peer's address without port or brackets ("" when unknown).
std::string peer_host(const SSL* ssl) {
  int fd = SSL_get_fd(ssl);
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return {};
  char host[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, host, sizeof(host));
  else if (addr.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, host,
                sizeof(host));
  return host;
}

/// The taskrt:node: URI patterns of the peer's certificate.
std::vector<std::string> node_patterns_of(const SSL* ssl) {
  std::vector<std::string> out;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert)
    return out;
  auto* names = static_cast<GENERAL_NAMES*>(
    X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names)
    return out;
  const std::string prefix = node_uri_prefix;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_URI)
      continue;
    const auto* s = n->d.uniformResourceIdentifier;
    std::string uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                    static_cast<size_t>(ASN1_STRING_length(s)));
    if (uri.rfind(prefix, 0) == 0 && uri.size() > prefix.size())
      out.push_back(uri.substr(prefix.size()));
  }
  GENERAL_NAMES_free(names);
  return out;
}

/// "ADDR:PORT" of the socket's peer; port 0 and "" when unknown.
std::string peer_of(const SSL* ssl, uint16_t& port) {
  port = 0;
  int fd = SSL_get_fd(ssl);
  if (fd < 0)
    return {};
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return {};
  char host[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
    return std::string{host} + ":" + std::to_string(port);
  }
  if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
    return "[" + std::string{host} + "]:" + std::to_string(port);
  }
  return {};
}

/// The subject CN of the peer's certificate ("" when none).
std::string peer_cn(const SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert)
    return {};
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                sizeof(cn))
      < 0)
    return {};
  return cn;
}

/// Why the handshake failed, from what OpenSSL knows at this point. Peeks at
/// the error queue without consuming it (CAF reads it after us).
std::string reason_of(const SSL* ssl, int where, int ret) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK)
    return std::string{"certificate verify failed ("} + X509_verify_cert_error_string(verify)
           + ")";
  const bool alert = (where & SSL_CB_ALERT) != 0;
  if (alert && (where & SSL_CB_READ))
    return std::string{"the peer sent alert \""} + SSL_alert_desc_string_long(ret) + "\"";
  std::string out;
  if (auto code = ERR_peek_last_error(); code != 0) {
    const char* r = ERR_reason_error_string(code);
    out = r ? r : "OpenSSL error " + std::to_string(code);
    const int why = ERR_GET_REASON(code);
    if (why == SSL_R_WRONG_VERSION_NUMBER || why == SSL_R_PACKET_LENGTH_TOO_LONG
        || why == SSL_R_HTTP_REQUEST)
      out += " (the peer does not speak TLS)";
  }
  if (alert)
    out += (out.empty() ? "" : " ") + std::string{"(sent alert \""}
           + SSL_alert_desc_string_long(ret) + "\")";
  return out.empty() ? "the connection closed during the handshake" : out;
}

/// What the observer keeps per connection (SSL ex_data, freed with the SSL).
struct conn_info {
  std::string peer;   ///< taken at the first callback, while the socket is connected
  std::string host;   ///< the peer address alone (set once verified)
  uint16_t peer_port = 0;
  bool established = false;
  bool reported = false;
};

/// The connection's info, made at the first callback.
conn_info& info_of(const SSL* ssl) {
  auto* info = static_cast<conn_info*>(SSL_get_ex_data(ssl, info_index));
  if (!info) {
    info = new conn_info;
    info->peer = peer_of(ssl, info->peer_port);
    if (SSL_set_ex_data(const_cast<SSL*>(ssl), info_index, info) != 1) {
      delete info;
      thread_local conn_info unattached; // out of memory: report without dedup
      unattached = conn_info{};
      return unattached;
    }
  }
  return *info;
}

/// Called by OpenSSL in SSL_free: the connection is gone, and with it
/// what its certificate allowed.
///
/// Also empties this thread's OpenSSL error queue. A refused handshake (a
/// plaintext peer, another CA) leaves its errors there: libcaf_openssl
/// reads them through SSL_get_error() and frees the connection, but never
/// clears the queue, so the next read without data on *another* connection
/// of this multiplexer thread was taken as fatal and dropped it: each
/// refused peer cut the head's good nodes and clients
/// (tests/e2e/tls_e2etest.cpp checks the good node never lost the head).
/// Nothing reads the queue after the free: the connection's verdict was
/// taken.
void free_info(void* parent, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  ERR_clear_error();
  auto* info = static_cast<conn_info*>(ptr);
  if (info && !info->host.empty()) {
    std::lock_guard<std::mutex> guard{peers_mtx};
    auto i = peers.find({info->host, info->peer_port});
    if (i != peers.end() && i->second.first == parent)
      peers.erase(i);
  }
  delete info;
}

/// True when OpenSSL put the connection into its error state (a fatal
/// handshake or record error). SSL_want() is no help here: it may still say
/// SSL_READING from the previous step.
bool in_error(const SSL* ssl) {
  return std::strcmp(SSL_state_string(ssl), "SSLERR") == 0;
}

void report(const SSL* ssl, int where, int ret) {
  auto& info = info_of(ssl);
  if (info.reported)
    return; // one report per connection: the first cause is the real one
  const bool incoming = SSL_is_server(ssl) == 1;
  // A connection that completed its handshake and fails later was closed,
  // not refused (OpenSSL 3 treats a peer closing without close_notify as a
  // fatal error; CAF closes sockets that way).
  if (incoming && info.established)
    return;
  info.reported = true;
  tls_failure f;
  f.incoming = incoming;
  f.peer = info.peer;
  f.peer_port = info.peer_port;
  f.reason = reason_of(ssl, where, ret);
  f.at = std::chrono::steady_clock::now();
  if (f.incoming) {
    spdlog::warn("refused TLS connection from {}: {}", f.peer.empty() ? "an unknown peer" : f.peer,
                 f.reason);
    ++refused; // after the log line: whoever sees the count can find the line
    return;
  }
  std::lock_guard<std::mutex> guard{failures_mtx};
  outgoing_failures.push_back(std::move(f));
  while (outgoing_failures.size() > 32)
    outgoing_failures.pop_front();
}

void on_info(const SSL* ssl, int where, int ret) {
  auto& info = info_of(ssl);
  if (where & SSL_CB_ALERT) {
    // ret = (level << 8) | description; only fatal alerts end a connection
    // (close_notify is a warning). A client reports fatal alerts even after
    // its handshake: in TLS 1.3 it finishes before the server has checked
    // the client's certificate, so the server's verdict arrives as an alert
    // on the client's first read.
    if ((ret >> 8) == SSL3_AL_FATAL)
      report(ssl, where, ret & 0xff);
    return;
  }
  if (where & SSL_CB_HANDSHAKE_DONE) {
    if (SSL_is_server(ssl) == 1 && !info.established && !info.reported) {
      info.established = true;
      if (SSL_get_verify_result(ssl) == X509_V_OK && SSL_get0_peer_certificate(ssl)) {
        tls_peer_identity id{peer_cn(ssl), node_patterns_of(ssl)};
        std::string allows;
        for (const auto& p : id.node_patterns)
          allows += (allows.empty() ? "" : ",") + p;
        spdlog::info("TLS connection from {} authenticated as '{}' (node ids: {})", info.peer,
                     id.cn, allows.empty() ? "none" : allows);
        info.host = peer_host(ssl);
        std::lock_guard<std::mutex> guard{peers_mtx};
        peers[{info.host, info.peer_port}] = {ssl, std::move(id)};
      } else {
        spdlog::info("TLS connection from {} authenticated as '{}'", info.peer, peer_cn(ssl));
      }
    }
    return;
  }
  // The end of an SSL_accept/SSL_connect step: ret 1 done, ret < 0 a
  // non-blocking retry unless OpenSSL is in its error state (e.g. "wrong
  // version number": a plaintext peer, which gets no alert).
  if ((where & SSL_CB_EXIT) && ret <= 0 && in_error(ssl))
    report(ssl, where, ret);
}

/// Called by OpenSSL inside SSL_CTX_new for every context.
///
/// SSL_OP_IGNORE_UNEXPECTED_EOF: a peer that exits without close_notify
/// (CAF closes sockets that way) otherwise makes OpenSSL 3 push "unexpected
/// eof while reading" onto the thread's error queue. libcaf_openssl never
/// clears that queue, and SSL_get_error() reports any queued error as
/// SSL_ERROR_SSL, so the next read without data on *another* connection of
/// the multiplexer thread was taken as fatal: one node exiting dropped the
/// head's connections to every other TLS peer (seen in
/// tests/e2e/tls_identity_e2etest.cpp).
void on_new_ctx(void* parent, void*, CRYPTO_EX_DATA*, int, long, void*) {
  if (parent) {
    SSL_CTX_set_info_callback(static_cast<SSL_CTX*>(parent), on_info);
    SSL_CTX_set_options(static_cast<SSL_CTX*>(parent), SSL_OP_IGNORE_UNEXPECTED_EOF);
  }
}

bool installed_ok = false;

} // namespace

bool install_tls_observer() {
  static std::once_flag once;
  std::call_once(once, [] {
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr);
    info_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_info);
    const int ctx_index
      = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, nullptr, on_new_ctx, nullptr, nullptr);
    if (info_index < 0 || ctx_index < 0)
      return;
    SSL_CTX* probe = SSL_CTX_new(TLS_method());
    installed_ok = probe && SSL_CTX_get_info_callback(probe) == on_info
                   && (SSL_CTX_get_options(probe) & SSL_OP_IGNORE_UNEXPECTED_EOF) != 0;
    SSL_CTX_free(probe);
  });
  return installed_ok;
}

std::optional<tls_failure> outgoing_tls_failure(uint16_t port,
                                                std::chrono::steady_clock::time_point since) {
  std::lock_guard<std::mutex> guard{failures_mtx};
  for (auto i = outgoing_failures.rbegin(); i != outgoing_failures.rend(); ++i)
    if (i->peer_port == port && i->at >= since)
      return *i;
  return std::nullopt;
}

uint64_t refused_tls_handshakes() {
  return refused.load();
}

std::optional<tls_peer_identity> incoming_tls_peer(const std::string& addr, uint16_t port) {
  std::lock_guard<std::mutex> guard{peers_mtx};
  auto i = peers.find({addr, port});
  if (i == peers.end())
    return std::nullopt;
  return i->second.second;
}

bool node_id_allowed(const std::vector<std::string>& patterns, const std::string& node_id) {
  for (const auto& p : patterns) {
    if (p == node_id)
      return true;
    if (!p.empty() && p.back() == '*') {
      const auto prefix = p.substr(0, p.size() - 1);
      if (node_id.size() > prefix.size() && node_id.compare(0, prefix.size(), prefix) == 0)
        return true;
    }
  }
  return false;
}

} // namespace taskrt

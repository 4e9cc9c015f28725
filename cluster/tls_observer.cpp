#include "cluster/tls_observer.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace taskrt {

namespace {

/// Index of the per-connection mark (SSL ex_data): established or reported.
int mark_index = -1;

std::mutex failures_mtx;
std::deque<tls_failure> outgoing_failures; ///< the latest few, newest last
std::atomic<uint64_t> refused{0};

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

/// Per-connection marks kept in the SSL's ex_data slot.
void* const established_mark = reinterpret_cast<void*>(1);
void* const reported_mark = reinterpret_cast<void*>(2);

void* mark_of(const SSL* ssl) {
  return SSL_get_ex_data(ssl, mark_index);
}

void set_mark(const SSL* ssl, void* mark) {
  SSL_set_ex_data(const_cast<SSL*>(ssl), mark_index, mark);
}

/// True when OpenSSL put the connection into its error state (a fatal
/// handshake or record error). SSL_want() is no help here: it may still say
/// SSL_READING from the previous step.
bool in_error(const SSL* ssl) {
  return std::strcmp(SSL_state_string(ssl), "SSLERR") == 0;
}

void report(const SSL* ssl, int where, int ret) {
  if (mark_of(ssl) == reported_mark)
    return; // one report per connection: the first cause is the real one
  const bool incoming = SSL_is_server(ssl) == 1;
  // A connection that completed its handshake and fails later was closed,
  // not refused (OpenSSL 3 treats a peer closing without close_notify as a
  // fatal error; CAF closes sockets that way).
  if (incoming && mark_of(ssl) == established_mark)
    return;
  set_mark(ssl, reported_mark);
  tls_failure f;
  f.incoming = incoming;
  f.peer = peer_of(ssl, f.peer_port);
  f.reason = reason_of(ssl, where, ret);
  f.at = std::chrono::steady_clock::now();
  if (f.incoming) {
    ++refused;
    spdlog::warn("refused TLS connection from {}: {}", f.peer.empty() ? "an unknown peer" : f.peer,
                 f.reason);
    return;
  }
  std::lock_guard<std::mutex> guard{failures_mtx};
  outgoing_failures.push_back(std::move(f));
  while (outgoing_failures.size() > 32)
    outgoing_failures.pop_front();
}

void on_info(const SSL* ssl, int where, int ret) {
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
    if (SSL_is_server(ssl) == 1 && mark_of(ssl) == nullptr) {
      set_mark(ssl, established_mark);
      uint16_t port = 0;
      auto peer = peer_of(ssl, port);
      spdlog::info("TLS connection from {} authenticated as '{}'", peer, peer_cn(ssl));
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
void on_new_ctx(void* parent, void*, CRYPTO_EX_DATA*, int, long, void*) {
  if (parent)
    SSL_CTX_set_info_callback(static_cast<SSL_CTX*>(parent), on_info);
}

bool installed_ok = false;

} // namespace

bool install_tls_observer() {
  static std::once_flag once;
  std::call_once(once, [] {
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr);
    mark_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    const int ctx_index
      = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, nullptr, on_new_ctx, nullptr, nullptr);
    if (mark_index < 0 || ctx_index < 0)
      return;
    SSL_CTX* probe = SSL_CTX_new(TLS_method());
    installed_ok = probe && SSL_CTX_get_info_callback(probe) == on_info;
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

} // namespace taskrt

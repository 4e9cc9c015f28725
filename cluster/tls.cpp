#include "taskrt/cluster/tls.hpp"

#include "taskrt/cluster/tcp_probe.hpp"
#include "taskrt/cluster/tls_observer.hpp"

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#include <dirent.h>
#include <sys/stat.h>

namespace taskrt {

namespace {

bool is_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string openssl_reason() {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "unknown OpenSSL error";
  const char* r = ERR_reason_error_string(code);
  return r ? r : "OpenSSL error " + std::to_string(code);
}

/// Identities in `dir`: names with both NAME.pem and NAME.key, except ca.
std::vector<std::string> identities_in(const std::string& dir) {
  std::vector<std::string> out;
  std::unique_ptr<DIR, int (*)(DIR*)> d{::opendir(dir.c_str()), ::closedir};
  if (!d)
    return out;
  while (auto* e = ::readdir(d.get())) {
    std::string f = e->d_name;
    if (f.size() <= 4 || f.compare(f.size() - 4, 4, ".pem") != 0)
      continue;
    auto name = f.substr(0, f.size() - 4);
    if (name != "ca" && is_file(dir + "/" + name + ".key"))
      out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Loads the identity into a scratch context the way CAF's session will,
/// and verifies the certificate against the CA; throws on the first problem.
void check_identity(const tls_files& f) {
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx{SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx)
    throw std::runtime_error("cannot create an OpenSSL context: " + openssl_reason());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), f.cert_file.c_str()) != 1)
    throw std::runtime_error("cannot load the certificate " + f.cert_file + ": "
                             + openssl_reason());
  // Read without a passphrase callback prompting on the terminal: taskrt
  // keys are unencrypted.
  std::unique_ptr<BIO, int (*)(BIO*)> bio{BIO_new_file(f.key_file.c_str(), "r"), BIO_free};
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key{
    bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, [](char*, int, int, void*) { return 0; },
                                  nullptr)
        : nullptr,
    EVP_PKEY_free};
  if (!key)
    throw std::runtime_error("cannot load the key " + f.key_file + " (it must be an "
                             "unencrypted PEM key): " + openssl_reason());
  if (X509_check_private_key(SSL_CTX_get0_certificate(ctx.get()), key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error(f.key_file + " is not the key of " + f.cert_file);
  }
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1)
    throw std::runtime_error("cannot use the key " + f.key_file + ": " + openssl_reason());
  if (SSL_CTX_load_verify_locations(ctx.get(), f.ca_file.c_str(), nullptr) != 1)
    throw std::runtime_error("cannot load the CA certificate " + f.ca_file + ": "
                             + openssl_reason());
  std::unique_ptr<X509_STORE_CTX, void (*)(X509_STORE_CTX*)> vctx{X509_STORE_CTX_new(),
                                                                   X509_STORE_CTX_free};
  X509* cert = SSL_CTX_get0_certificate(ctx.get());
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx.get(), &chain);
  if (!vctx || !cert
      || X509_STORE_CTX_init(vctx.get(), SSL_CTX_get_cert_store(ctx.get()), cert, chain) != 1)
    throw std::runtime_error("cannot check " + f.cert_file + ": " + openssl_reason());
  if (X509_verify_cert(vctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(vctx.get());
    ERR_clear_error();
    throw std::runtime_error(f.cert_file + " does not verify against " + f.ca_file + " ("
                             + X509_verify_cert_error_string(err) + ")");
  }
  struct stat st;
  if (::stat(f.key_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
    spdlog::warn("{} is readable by group or others (mode {:o}); chmod 600 it", f.key_file,
                 st.st_mode & 0777);
}

/// Explains a failed TLS connect from what the observer saw.
std::string explain(const tls_failure& f, const std::string& ca_file) {
  auto r = f.reason;
  if (r.find("certificate verify failed") == 0)
    return r + ": the head's certificate is not valid for this cluster's CA " + ca_file;
  if (r.find("the peer sent alert") == 0)
    return r + ": the head did not accept this process's certificate (is it signed by the "
               "head's CA?)";
  return r;
}

} // namespace

tls_files resolve_tls(const tls_options& opts, const std::vector<std::string>& names) {
  char buf[PATH_MAX];
  if (opts.dir.empty() || !::realpath(opts.dir.c_str(), buf))
    throw std::runtime_error("TLS directory '" + opts.dir + "' does not exist");
  tls_files f;
  f.dir = buf;
  f.ca_file = f.dir + "/ca.pem";
  if (!is_file(f.ca_file))
    throw std::runtime_error("no CA certificate in the TLS directory: " + f.ca_file
                             + " is missing (make one with `taskrt certs generate DIR`)");
  std::vector<std::string> wanted;
  if (!opts.name.empty())
    wanted.push_back(opts.name);
  else
    wanted = names;
  for (const auto& n : wanted)
    if (!n.empty() && is_file(f.dir + "/" + n + ".pem") && is_file(f.dir + "/" + n + ".key")) {
      f.name = n;
      break;
    }
  if (f.name.empty()) {
    auto have = identities_in(f.dir);
    if (opts.name.empty() && have.size() == 1) {
      f.name = have.front();
    } else {
      std::string want, list;
      for (const auto& n : wanted)
        if (!n.empty())
          want += (want.empty() ? "'" : ", '") + n + "'";
      for (const auto& n : have)
        list += (list.empty() ? "" : ", ") + n;
      throw std::runtime_error("no certificate for " + (want.empty() ? "this process" : want)
                               + " in " + f.dir + " (NAME.pem and NAME.key); it has "
                               + (list.empty() ? "none" : list) + "; pick one with --tls-name");
    }
  }
  f.cert_file = f.dir + "/" + f.name + ".pem";
  f.key_file = f.dir + "/" + f.name + ".key";
  check_identity(f);
  return f;
}

void configure_tls(caf::actor_system_config& cfg, const tls_files& files) {
  cfg.openssl_certificate = files.cert_file;
  cfg.openssl_key = files.key_file;
  cfg.openssl_cafile = files.ca_file;
  cfg.load<caf::openssl::manager>();
  if (!install_tls_observer())
    spdlog::warn("this OpenSSL does not let taskrt observe TLS handshakes: refused "
                 "connections will not be logged");
}

caf::expected<uint16_t> publish_head(caf::actor_system& sys, const head_actor& head,
                                     uint16_t port, const std::string& host) {
  if (sys.has_openssl_manager())
    return caf::openssl::publish(head, port, host.c_str(), true);
  return sys.middleman().publish(head, port, host.c_str(), true);
}

caf::expected<head_actor> connect_head(caf::actor_system& sys, const std::string& host,
                                       uint16_t port) {
  const auto where = host + ":" + std::to_string(port);
  // CAF's own connect blocks without a deadline (cluster/tcp_probe.hpp).
  if (auto why = tcp_probe(host, port, std::chrono::milliseconds(500)); !why.empty())
    return make_error(errc::unavailable, "cannot reach the head at " + where + " (" + why + ")");
  if (!sys.has_openssl_manager()) {
    auto h = sys.middleman().remote_actor<head_actor>(host, port);
    if (h)
      return h;
    if (h.error() == caf::sec::disconnect_during_handshake)
      return make_error(errc::unavailable,
                        "cannot reach the head at " + where
                          + " (the connection closed during the handshake; if the head "
                            "uses TLS, pass --tls-dir)");
    return make_error(errc::unavailable,
                      "cannot reach the head at " + where + " (" + sys.render(h.error()) + ")");
  }
  const auto since = std::chrono::steady_clock::now();
  auto h = caf::openssl::remote_actor<head_actor>(sys, host, port);
  if (h)
    return h;
  if (auto f = outgoing_tls_failure(port, since))
    return make_error(errc::unavailable, "TLS handshake with the head at " + where
                                           + " failed: "
                                           + explain(*f, sys.config().openssl_cafile));
  if (h.error() == caf::sec::disconnect_during_handshake)
    return make_error(errc::unavailable,
                      "TLS handshake with the head at " + where
                        + " failed: the head closed the connection (is it running with "
                          "--tls-dir and the same CA?)");
  return make_error(errc::unavailable,
                    "cannot reach the head at " + where + " (" + sys.render(h.error()) + ")");
}

} // namespace taskrt

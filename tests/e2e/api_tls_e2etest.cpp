// `--http-tls`: the head's HTTP port serves HTTPS with the cluster's
// certificates (taskrt certs generate): a client that trusts the cluster's
// ca.pem and checks the address gets /healthz and the API; a plaintext
// request is not answered as HTTP; the session cookie is Secure.

#include "tests/e2e/api_helpers.hpp"
#include "tests/http/loopback_socket.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// A loopback connection whose reads give up after 10 s.
int connect_with_timeout(int port) {
  int fd = connect_to(port);
  if (fd < 0)
    return -1;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/// One HTTPS request (Connection: close) verified against `ca_file` and the
/// address 127.0.0.1: the whole answer, or "TLS: why".
std::string https(int port, const std::string& ca_file, const std::string& request) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    SSL_CTX_free(ctx);
    return "TLS: cannot load " + ca_file;
  }
  int fd = connect_with_timeout(port);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  std::string out;
  if (SSL_connect(ssl) != 1) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    out = std::string{"TLS: "} + buf;
  } else {
    SSL_write(ssl, request.data(), static_cast<int>(request.size()));
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0)
      out.append(buf, static_cast<size_t>(n));
  }
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  return out;
}

} // namespace

TEST_CASE("api: --http-tls serves HTTPS with the cluster's certificates", "[e2e][api][tls]") {
  char tpl[] = "/tmp/taskrt-api-tls.XXXXXX";
  REQUIRE(::mkdtemp(tpl) != nullptr);
  const std::string tmp = tpl;
  const auto certs = tmp + "/certs";
  REQUIRE(run_cli({"certs", "generate", certs, "--nodes", "0"}).exit_code == 0);
  // Without --tls-dir, --http-tls is refused with the reason.
  auto plain = run_cli({"start", "--head", "--http-port", "0", "--http-tls", "--db",
                        fresh_schema_dsn("e2e_api_tls_refused"), "--data-dir", tmp + "/unused"});
  CHECK(plain.exit_code == 1);
  CHECK(plain.err.find("--tls-dir") != std::string::npos);

  api_head h{fresh_schema_dsn("e2e_api_tls"),
             {"--workers", "1", "--tls-dir", certs, "--http-tls"}};
  auto sf = json::parse(slurp(h.head.data_dir() + "/head.json"));
  CHECK(sf["http_url"].get<std::string>().rfind("https://127.0.0.1:", 0) == 0);
  const auto ca = certs + "/ca.pem";
  auto hz = https(h.http_port, ca, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  INFO(hz);
  CHECK(hz.rfind("HTTP/1.1 200", 0) == 0);
  auto st = https(h.http_port, ca,
                  "GET /api/v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + h.op
                    + "\r\nConnection: close\r\n\r\n");
  CHECK(st.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(st.find("\"role\":\"operator\"") != std::string::npos);
  // A client that trusts another CA refuses the server.
  const auto other = tmp + "/other";
  REQUIRE(run_cli({"certs", "generate", other, "--nodes", "0"}).exit_code == 0);
  auto wrong = https(h.http_port, other + "/ca.pem",
                     "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(wrong.rfind("TLS: ", 0) == 0);
  // Plain HTTP on the HTTPS port gets no HTTP answer.
  auto c = h.client();
  c.set_read_timeout(3, 0);
  auto r = c.Get("/healthz");
  CHECK((!r || r->status != 200));
  // The login link is https and its cookie is Secure.
  auto link = run_cli({"dashboard", "--data-dir", h.head.data_dir(), "--db", h.head.dsn()});
  REQUIRE(link.exit_code == 0);
  const auto url = link.out.substr(0, link.out.find('\n'));
  REQUIRE(url.rfind("https://127.0.0.1:", 0) == 0);
  const auto path = url.substr(url.find("/login"));
  auto login = https(h.http_port, ca,
                     "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  CHECK(login.rfind("HTTP/1.1 303", 0) == 0);
  CHECK(login.find("; Secure") != std::string::npos);
  std::system(("rm -rf '" + tmp + "'").c_str());
}

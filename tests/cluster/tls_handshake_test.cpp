// Mutual TLS between actor systems in one process over loopback sockets: a
// "head" with CA1 certificates accepts a client of CA1 and refuses, and logs,
// a client of another CA, a client that trusts CA1 but presents a CA2
// certificate, and a plaintext client. Also the checks resolve_tls makes
// before anything starts.

#include "taskrt/cluster/cert_generator.hpp"
#include "taskrt/cluster/net_config.hpp"
#include "taskrt/cluster/tls.hpp"
#include "taskrt/cluster/tls_observer.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <catch2/catch.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include <unistd.h>

using namespace taskrt;

namespace {

struct temp_dir {
  std::string path;
  temp_dir() {
    char tpl[] = "/tmp/taskrt-tls-test.XXXXXX";
    REQUIRE(::mkdtemp(tpl) != nullptr);
    path = tpl;
  }
  ~temp_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

/// The default logger's last lines, captured by a ring buffer sink.
std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> capture_log() {
  static auto sink = [] {
    auto s = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(512);
    spdlog::default_logger()->sinks().push_back(s);
    return s;
  }();
  return sink;
}

size_t log_count(const std::string& needle) {
  size_t n = 0;
  for (const auto& line : capture_log()->last_formatted())
    if (line.find(needle) != std::string::npos)
      ++n;
  return n;
}

template <class F>
bool eventually(F pred, int timeout_ms = 10'000) {
  for (int t = 0; t < timeout_ms; t += 20) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

/// A client actor system: TLS with `files`, or plaintext when null.
caf::expected<head_actor> try_connect(const tls_files* files, uint16_t port) {
  caf::actor_system_config cfg;
  configure_network(cfg);
  if (files)
    configure_tls(cfg, *files);
  caf::actor_system sys{cfg};
  return connect_head(sys, "127.0.0.1", port);
}

} // namespace

TEST_CASE("tls - the head accepts its CA's certificates and logs every refused handshake",
          "[tls]") {
  capture_log();
  temp_dir ca1, ca2;
  cert_request r;
  r.dir = ca1.path;
  r.names = {"head", "client"};
  generate_certificates(r);
  r.dir = ca2.path;
  r.names = {"client"};
  generate_certificates(r);

  caf::actor_system_config scfg;
  configure_network(scfg);
  configure_tls(scfg, resolve_tls({ca1.path, ""}, {"head"}));
  REQUIRE(install_tls_observer());
  caf::actor_system server{scfg};
  auto dummy = server.spawn([]() -> caf::behavior { return {[](int32_t) {}}; });
  auto port = publish_head(server, caf::actor_cast<head_actor>(dummy), 0, "127.0.0.1");
  REQUIRE(port);

  SECTION("a client of the same CA connects and is logged with its name") {
    auto good = resolve_tls({ca1.path, ""}, {"client"});
    CHECK(good.name == "client");
    auto h = try_connect(&good, *port);
    INFO((h ? std::string{"connected"} : error_message(h.error())));
    CHECK(h);
    CHECK(eventually([] { return log_count("authenticated as 'client'") > 0; }));
  }

  SECTION("a client of another CA is refused on both sides") {
    const auto before = refused_tls_handshakes();
    auto other = resolve_tls({ca2.path, ""}, {"client"});
    auto h = try_connect(&other, *port);
    REQUIRE_FALSE(h);
    const auto msg = error_message(h.error());
    CHECK_THAT(msg, Catch::Contains("TLS handshake with the head at 127.0.0.1:"
                                    + std::to_string(*port) + " failed")
                      && Catch::Contains("certificate verify failed"));
    CHECK(eventually([&] { return refused_tls_handshakes() > before; }));
    CHECK(eventually([] { return log_count("refused TLS connection from 127.0.0.1:") > 0; }));
  }

  SECTION("a client that trusts the CA but presents another CA's certificate is refused "
          "by the head") {
    const auto before_lines = log_count("unable to get local issuer certificate");
    const auto before = refused_tls_handshakes();
    tls_files impostor;
    impostor.ca_file = ca1.path + "/ca.pem";
    impostor.cert_file = ca2.path + "/client.pem";
    impostor.key_file = ca2.path + "/client.key";
    auto h = try_connect(&impostor, *port);
    REQUIRE_FALSE(h);
    CHECK_THAT(error_message(h.error()),
               Catch::Contains("TLS handshake with the head")
                 && Catch::Contains("did not accept this process's certificate"));
    CHECK(eventually([&] { return refused_tls_handshakes() > before; }));
    CHECK(eventually([&] {
      return log_count("unable to get local issuer certificate") > before_lines;
    }));
  }

  SECTION("a plaintext client is refused") {
    const auto before = refused_tls_handshakes();
    auto h = try_connect(nullptr, *port);
    REQUIRE_FALSE(h);
    CHECK_THAT(error_message(h.error()), Catch::Contains("cannot reach the head"));
    CHECK(eventually([&] { return refused_tls_handshakes() > before; }));
  }
  anon_send_exit(dummy, caf::exit_reason::user_shutdown);
}

TEST_CASE("tls - resolve_tls explains unusable TLS directories", "[tls]") {
  temp_dir a, b;
  cert_request r;
  r.dir = a.path;
  r.names = {"head", "node-1", "client"};
  generate_certificates(r);
  r.dir = b.path;
  r.names = {"node-1"};
  generate_certificates(r);

  CHECK_THROWS_WITH(resolve_tls({a.path + "/nope", ""}, {"head"}),
                    Catch::Contains("does not exist"));
  CHECK_THROWS_WITH(resolve_tls({a.path, "gpu-7"}, {"head"}),
                    Catch::Contains("no certificate for 'gpu-7'")
                      && Catch::Contains("client, head, node-1"));
  // Several identities and none named by role: the caller must pick one.
  CHECK_THROWS_WITH(resolve_tls({a.path, ""}, {"n1"}), Catch::Contains("--tls-name"));
  // A directory with one identity: that one.
  CHECK(resolve_tls({b.path, ""}, {"whatever"}).name == "node-1");
  CHECK(resolve_tls({a.path, ""}, {"node-1"}).cert_file == a.path + "/node-1.pem");

  // The certificate of another CA next to this CA's ca.pem.
  temp_dir mixed;
  std::system(("cp '" + a.path + "/ca.pem' '" + b.path + "/node-1.pem' '" + b.path
               + "/node-1.key' '" + mixed.path + "/'")
                .c_str());
  CHECK_THROWS_WITH(resolve_tls({mixed.path, ""}, {"node-1"}),
                    Catch::Contains("does not verify against")
                      && Catch::Contains("unable to get local issuer certificate"));
  // A key that is not the certificate's.
  std::system(("cp '" + a.path + "/node-1.pem' '" + mixed.path + "/node-1.pem'").c_str());
  CHECK_THROWS_WITH(resolve_tls({mixed.path, ""}, {"node-1"}), Catch::Contains("is not the key of"));
  // No CA.
  std::system(("rm '" + mixed.path + "/ca.pem'").c_str());
  CHECK_THROWS_WITH(resolve_tls({mixed.path, ""}, {"node-1"}), Catch::Contains("ca.pem is missing"));
}

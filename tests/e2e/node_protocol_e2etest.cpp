// The typed node protocol as a peer sees it: registration carries the
// node protocol version (another one is refused, both named), and
// `taskrt nodes` shows each node's taskrt version.

#include "taskrt/cluster/net_config.hpp"
#include "taskrt/cluster/tls.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/version.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <caf/all.hpp>

#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;

namespace {

/// Registers a node speaking node protocol `protocol` with the head at
/// `address`; "" when accepted, else the head's message.
std::string register_speaking(const std::string& address, const std::string& id,
                              int32_t protocol) {
  caf::actor_system_config cfg;
  configure_network(cfg);
  caf::actor_system sys{cfg};
  const auto colon = address.rfind(':');
  auto head = connect_head(sys, address.substr(0, colon),
                           static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  REQUIRE(head);
  node_info info;
  info.protocol = protocol;
  info.id = id;
  info.host = "protocol-test";
  info.slots = 1;
  info.pid = static_cast<int32_t>(::getpid());
  info.version = version();
  std::string out = "no answer";
  caf::scoped_actor self{sys};
  self
    ->request(caf::actor_cast<node_head_actor>(*head), std::chrono::seconds(30),
              register_atom::value, info, std::vector<running_attempt>{})
    .receive([&](register_reply&) { out.clear(); },
             [&](caf::error& e) { out = error_message(e); });
  return out;
}

} // namespace

TEST_CASE("node protocol - a node of another protocol version is refused with both versions "
          "named, and taskrt nodes shows each node's taskrt version",
          "[e2e][node_protocol]") {
  const auto dsn = fresh_schema_dsn("node_protocol");
  head_process head{dsn, {"--workers", "0"}};
  CHECK(register_speaking(head.address(), "same-protocol", node_protocol_version) == "");
  const auto next = register_speaking(head.address(), "next-protocol", node_protocol_version + 1);
  INFO(next);
  CHECK(next.find("speaks node protocol " + std::to_string(node_protocol_version + 1))
        != std::string::npos);
  CHECK(next.find("this head speaks node protocol " + std::to_string(node_protocol_version))
        != std::string::npos);
  const auto older = register_speaking(head.address(), "older-protocol", node_protocol_version - 1);
  CHECK(older.find("speaks node protocol " + std::to_string(node_protocol_version - 1))
        != std::string::npos);

  node_process n1{head.address(), "n1", head.data_dir(), {"--workers", "1"}};
  auto& c = head.connect();
  REQUIRE(eventually([&] { return node_state(c, "n1") == "ALIVE"; }, 20'000));
  REQUIRE(eventually([&] {
    const auto r = run_cli({"nodes", "-o", "json", "--db", dsn, "--address", head.address()});
    return r.exit_code == 0 && r.out.find("\"n1\"") != std::string::npos;
  }, 10'000));
  const auto r = run_cli({"nodes", "-o", "json", "--db", dsn, "--address", head.address()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  bool seen = false;
  for (const auto& n : nlohmann::json::parse(r.out))
    if (n.value("id", "") == "n1") {
      seen = true;
      CHECK(n.value("version", "") == version());
    }
  CHECK(seen);
  const auto table = run_cli({"nodes", "--db", dsn, "--address", head.address()});
  CHECK(table.out.find("VERSION") != std::string::npos);
}

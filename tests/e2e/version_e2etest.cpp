// The build's version where a user looks for it: `taskrt --version`,
// `taskrt status`, and a worker node's registration (the head logs it).

#include "taskrt/cluster/net_config.hpp"
#include "taskrt/cluster/tls.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/version.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include <cstdlib>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;

TEST_CASE("taskrt --version prints the version and the commit and exits 0", "[e2e][version]") {
  const auto r = run_cli({"--version"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == std::string{"taskrt "} + version_line() + "\n");
  CHECK(r.out.find(std::string{"(commit "} + build_commit() + ")") != std::string::npos);
}

TEST_CASE("status names the head's version and the CLI's - the head logs a node's version when "
          "it registers", "[e2e][version]") {
  const auto dsn = fresh_schema_dsn("version");
  head_process head{dsn, {"--workers", "0"}};
  const auto r = run_cli({"status", "-o", "json", "--address", head.address(), "--db", dsn});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["head"]["version"] == version_line());
  CHECK(j["cli_version"] == version_line());
  const auto table = run_cli({"status", "--address", head.address(), "--db", dsn});
  CHECK(table.out.find("Version   head " + version_line()) != std::string::npos);

  char tmpl[] = "/tmp/taskrt-version-node.XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  node_process node{head.address(), "vnode", dir, {"--workers", "1"}};
  CHECK(eventually([&] {
    return head.log().find(std::string{"node vnode registered version="} + version())
           != std::string::npos;
  }));
  INFO(head.log());
}

namespace {

/// Registers a node announcing `node_version` with the head at `address`,
/// as a worker node does; "" when accepted, else the head's message.
std::string register_as(const std::string& address, const std::string& id,
                        const std::string& node_version) {
  caf::actor_system_config cfg;
  configure_network(cfg);
  caf::actor_system sys{cfg};
  const auto colon = address.rfind(':');
  auto head = connect_head(sys, address.substr(0, colon),
                           static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  REQUIRE(head);
  node_info info;
  info.id = id;
  info.host = "version-test";
  info.slots = 1;
  info.pid = static_cast<int32_t>(::getpid());
  info.version = node_version;
  std::string out = "no answer";
  caf::scoped_actor self{sys};
  self
    ->request(caf::actor_cast<caf::actor>(*head), std::chrono::seconds(30), register_atom::value,
              info, std::vector<running_attempt>{})
    .receive([&](register_reply&) { out.clear(); },
             [&](caf::error& e) { out = error_message(e); });
  return out;
}

} // namespace

TEST_CASE("a node within the supported skew registers - one outside it is refused with both "
          "versions named", "[e2e][version]") {
  const auto dsn = fresh_schema_dsn("version_skew");
  head_process head{dsn, {"--workers", "0"}};
  const auto [major, minor] = major_minor(version());
  REQUIRE(major >= 0);
  const auto v = [](int a, int b) { return std::to_string(a) + "." + std::to_string(b) + ".0"; };
  CHECK(register_as(head.address(), "same-minor", v(major, minor)) == "");
  CHECK(register_as(head.address(), "next-minor", v(major, minor + 1)) == "");
  const auto too_new = register_as(head.address(), "two-minors-on", v(major, minor + 2));
  INFO(too_new);
  CHECK(too_new.find("runs taskrt " + v(major, minor + 2)) != std::string::npos);
  CHECK(too_new.find(std::string{"this head runs "} + version()) != std::string::npos);
  CHECK(too_new.find("outside the supported version skew") != std::string::npos);
  const auto other_major = register_as(head.address(), "next-major", v(major + 1, minor));
  CHECK(other_major.find("outside the supported version skew") != std::string::npos);
}

// The build's version where a user looks for it: `taskrt --version`,
// `taskrt status`, and a worker node's registration (the head logs it).

#include "runtime/version.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

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

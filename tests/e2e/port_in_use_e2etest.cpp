// A head whose cluster port is taken (the default 7400 makes that the common
// case: a second head on one machine) must say so and exit 1 at once. It used
// to print the error and then hang: its persistence and retry actors were
// never told to stop, so the actor system waited for them forever.

#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;

TEST_CASE("a head on a port another head listens on exits 1 at once, naming the port",
          "[e2e][port]") {
  auto dsn_a = fresh_schema_dsn("e2e_port_a");
  auto dsn_b = fresh_schema_dsn("e2e_port_b"); // its own journal: no leader lock in the way
  head_process a{dsn_a, {"--workers", "0"}};
  const auto port = a.address().substr(a.address().rfind(':') + 1);
  char dir[] = "/tmp/taskrt-e2e-port.XXXXXX";
  REQUIRE(::mkdtemp(dir));
  const std::string d = dir;
  const auto t0 = std::chrono::steady_clock::now();
  // `timeout` bounds the run: without the fix the head never exits.
  const auto cmd = "timeout 60 '" + taskrt_bin() + "' start --head --workers 1 --db '" + dsn_b
                   + "' --data-dir '" + d + "' --port " + port + " >'" + d + "/out' 2>'" + d
                   + "/err'";
  const int st = std::system(cmd.c_str());
  const double took
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto err = slurp(d + "/err");
  INFO("stderr: " << err << " took " << took << " s");
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 1); // 124: timed out, still running
  CHECK(err.find("cannot listen on 127.0.0.1:" + port) != std::string::npos);
  CHECK(err.find("--port") != std::string::npos);
  CHECK(took < 30);
  // The first head still serves.
  auto id = a.connect().submit([] {
    task_spec s;
    s.name = "echo";
    s.args = R"({"still":"serving"})";
    return s;
  }());
  CHECK(id);
  std::system(("rm -rf '" + d + "'").c_str());
}

// `taskrt up` / `taskrt down` without a database: what they do with nothing
// running, a stale record, a cluster that is still up, and a head that
// cannot start. (tests/e2e/up_e2etest.cpp starts a real cluster.)

#include "tests/e2e/head_process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// A fresh data dir under /tmp, removed at the end.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tpl[] = "/tmp/taskrt-up-cli.XXXXXX";
    REQUIRE(::mkdtemp(tpl) != nullptr);
    path = tpl;
  }
  ~temp_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
  bool has(const std::string& name) const { return ::access((path + "/" + name).c_str(), F_OK) == 0; }
};

/// Field 22 of /proc/self/stat: this process's start time in clock ticks.
uint64_t own_start_ticks() {
  std::ifstream f{"/proc/self/stat"};
  std::string line;
  std::getline(f, line);
  std::istringstream rest{line.substr(line.rfind(')') + 1)};
  std::string field;
  for (int i = 0; i < 20 && rest >> field; ++i) {
  }
  return std::stoull(field);
}

void write_record(const temp_dir& d, int pid, uint64_t ticks) {
  json j = {{"address", "127.0.0.1:1"},
            {"started_at", "2026-01-01T00:00:00Z"},
            {"processes", {{{"role", "head"}, {"id", "head"}, {"pid", pid},
                            {"start_ticks", ticks}, {"log", d.path + "/head.log"}}}}};
  std::ofstream{d.path + "/cluster.json"} << j.dump();
}

} // namespace

TEST_CASE("down with nothing running says so and exits 0", "[cli][up]") {
  temp_dir d;
  auto r = run_cli({"down", "--data-dir", d.path});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("no cluster started by `taskrt up` runs in " + d.path) != std::string::npos);
}

TEST_CASE("down with a stale record (its processes are gone) exits 0 and removes it",
          "[cli][up]") {
  temp_dir d;
  const pid_t child = ::fork();
  if (child == 0)
    ::_exit(0);
  ::waitpid(child, nullptr, 0); // reaped: the recorded pid no longer runs
  write_record(d, child, 12345);
  auto r = run_cli({"down", "--data-dir", d.path});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("no cluster") != std::string::npos);
  CHECK_FALSE(d.has("cluster.json"));
}

TEST_CASE("up refuses while the recorded cluster still runs", "[cli][up]") {
  temp_dir d;
  // This test process stands in for a running head.
  write_record(d, static_cast<int>(::getpid()), own_start_ticks());
  auto r = run_cli({"up", "--nodes", "1", "--data-dir", d.path});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("already up") != std::string::npos);
  CHECK(r.err.find("taskrt down --data-dir " + d.path) != std::string::npos);
  CHECK_FALSE(d.has("head.log")); // nothing was started
  // A recycled pid (same pid, other start time) is not the recorded process.
  write_record(d, static_cast<int>(::getpid()), own_start_ticks() + 1);
  auto down = run_cli({"down", "--data-dir", d.path});
  CHECK(down.exit_code == 0);
  CHECK(down.out.find("no cluster") != std::string::npos);
}

TEST_CASE("up with a head that cannot start shows its log, cleans up and exits 1",
          "[cli][up]") {
  temp_dir d;
  auto r = run_cli({"up", "--nodes", "2", "--data-dir", d.path, "--timeout", "30", "--db",
                    "postgresql://nobody@127.0.0.1:1/none"});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("taskrt: up: the head exited during start (exit status 1)")
        != std::string::npos);
  CHECK(r.err.find("last lines of " + d.path + "/head.log") != std::string::npos);
  CHECK(r.err.find("cannot use the database") != std::string::npos);
  CHECK_FALSE(d.has("cluster.json"));
  CHECK_FALSE(d.has("node-1.log")); // no node started after the head failed
}

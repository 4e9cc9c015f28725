// One configuration path (issue 22): a setting comes from its flag, its
// [start] key in --config, or its one TASKRT_ variable, read where the CLI
// starts (cluster/env_config.cpp), and a bad value is refused the same way
// whichever way it came. No database needed: the DSN points at a closed port,
// so a value let through would fail later with exit 1, not 2.

#include "tests/e2e/head_process.hpp"

#include "taskrt/runtime/fault.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace taskrt::test;

namespace {

const std::string closed_db = "TASKRT_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none";

} // namespace

TEST_CASE("start: --heartbeat-ms and --connection-timeout-ms below 1 ms are refused, by flag and by --config",
          "[cli][config]") {
  for (const auto& opt : {"--heartbeat-ms", "--connection-timeout-ms"}) {
    INFO(opt);
    auto r = run_cli({"start", "--head", opt, "0"}, {closed_db});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(opt) != std::string::npos);
    // A valid value gets past the options to the (closed) database.
    auto ok = run_cli({"start", "--head", opt, "250"}, {closed_db});
    INFO("stderr: " << ok.err);
    CHECK(ok.exit_code == 1);
  }
  const std::string path = "/tmp/taskrt-config-path-" + std::to_string(::getpid()) + ".ini";
  std::ofstream{path} << "[start]\nheartbeat-ms = 0\n";
  auto r = run_cli({"--config", path, "start", "--head"}, {closed_db});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("heartbeat-ms") != std::string::npos);
  std::ofstream{path} << "[start]\nheartbeat-ms = 250\nconnection-timeout-ms = 2000\n";
  auto ok = run_cli({"--config", path, "start", "--head"}, {closed_db});
  std::remove(path.c_str());
  INFO("stderr: " << ok.err);
  CHECK(ok.exit_code == 1);
}

TEST_CASE("db: --pg-script overrides TASKRT_PG_SCRIPT, and the variable alone is used",
          "[cli][config]") {
  const std::string dir = "/tmp/taskrt-config-path-db-" + std::to_string(::getpid());
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  REQUIRE(::mkdir((dir + "/postgres").c_str(), 0700) == 0); // an embedded one, stopped
  const std::string missing = "TASKRT_PG_SCRIPT=/nonexistent/taskrt-pg";
  auto by_env = run_cli({"db", "status", "--data-dir", dir}, {missing});
  INFO("env: stderr " << by_env.err);
  CHECK(by_env.exit_code != 0);
  CHECK(by_env.err.find("/nonexistent/taskrt-pg") != std::string::npos);
  auto by_flag = run_cli({"db", "status", "--data-dir", dir, "--pg-script",
                          std::string{TASKRT_SOURCE_DIR} + "/scripts/pg"},
                         {missing});
  INFO("flag: stdout " << by_flag.out << " stderr " << by_flag.err);
  CHECK(by_flag.exit_code == 1); // the real helper: no Postgres there
  CHECK(by_flag.out.find("stopped") != std::string::npos);
  CHECK(by_flag.err.find("/nonexistent") == std::string::npos);
  ::rmdir((dir + "/postgres").c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("start: an unknown TASKRT_FAULT is refused in a build with fault hooks, unread without",
          "[cli][config][fault]") {
  auto r = run_cli({"start", "--head"}, {closed_db, "TASKRT_FAULT=no_such_fault"});
  INFO("stderr: " << r.err);
  if (taskrt::fault_hooks_built()) {
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("TASKRT_FAULT=no_such_fault") != std::string::npos);
  } else { // the variable is not read: the start fails on the database
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("TASKRT_FAULT") == std::string::npos);
  }
}

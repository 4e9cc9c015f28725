/// `taskrt schedules ...` run as a process against a real Postgres (no
/// head): add with every option checked, list, describe, pause, resume,
/// trigger, delete; exit 2 with a message naming the option for bad input,
/// exit 1 for a name that exists or does not.

#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include "taskrt/persistence/journal_store.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

cli_result sched_cli(const std::string& dsn, std::vector<std::string> args) {
  args.insert(args.begin(), "schedules");
  args.insert(args.end(), {"--db", dsn});
  return run_cli(args);
}

} // namespace

TEST_CASE("schedules add, list, describe, pause, resume, trigger, delete", "[pg][cli]") {
  auto dsn = fresh_schema_dsn("cli_schedules");
  journal_store{dsn}.migrate();
  auto add = sched_cli(dsn, {"add", "nightly", "--task", "echo", "--cron", "30 2 * * *", "--tz",
                             "Europe/Berlin", "--missed", "latest", "--args", R"({"a":1})",
                             "-o", "json"});
  INFO(add.out << add.err);
  REQUIRE(add.exit_code == 0);
  auto j = json::parse(add.out);
  CHECK(j["cron"] == "30 2 * * *");
  CHECK(j["tz"] == "Europe/Berlin");
  CHECK(j["missed"] == "latest");
  CHECK(j["args"] == json{{"a", 1}});
  CHECK(j["paused"] == false);
  REQUIRE(j["next_tick"].is_string());
  // The next tick is 02:30 Berlin time: 00:30 or 01:30 UTC.
  const auto next = j["next_tick"].get<std::string>();
  CHECK((next.substr(11) == "00:30:00Z" || next.substr(11) == "01:30:00Z"));
  REQUIRE(sched_cli(dsn, {"add", "hb", "--task", "echo", "--every", "1h30m", "--overlap",
                          "buffer-one", "--missed", "all", "--catchup-window", "2h",
                          "--jitter", "10s"}).exit_code == 0);
  auto dup = sched_cli(dsn, {"add", "hb", "--task", "echo", "--every", "1m"});
  CHECK(dup.exit_code == 1);
  CHECK(dup.err.find("exists") != std::string::npos);

  auto list = json::parse(sched_cli(dsn, {"list", "-o", "json"}).out);
  REQUIRE(list.size() == 2);
  CHECK(list[0]["name"] == "hb");
  CHECK(list[0]["every"] == "1h30m");
  CHECK(list[0]["catchup_window"] == "2h");
  CHECK(list[0]["jitter"] == "10s");
  CHECK(list[0]["overlap"] == "buffer-one");
  CHECK(list[1]["name"] == "nightly");
  CHECK(sched_cli(dsn, {"list"}).out.find("cron 30 2 * * * Europe/Berlin") != std::string::npos);

  REQUIRE(sched_cli(dsn, {"pause", "hb"}).exit_code == 0);
  auto d = json::parse(sched_cli(dsn, {"describe", "hb", "-o", "json"}).out);
  CHECK(d["paused"] == true);
  CHECK(d["ticks"].empty());
  REQUIRE(sched_cli(dsn, {"resume", "hb"}).exit_code == 0);
  REQUIRE(sched_cli(dsn, {"trigger", "hb"}).exit_code == 0);
  d = json::parse(sched_cli(dsn, {"describe", "hb", "-o", "json"}).out);
  CHECK(d["paused"] == false);
  CHECK(d["trigger_pending"] == true);
  auto table = sched_cli(dsn, {"describe", "nightly"});
  CHECK(table.exit_code == 0);
  CHECK(table.out.find("Schedule nightly") != std::string::npos);
  CHECK(table.out.find("missed latest") != std::string::npos);

  REQUIRE(sched_cli(dsn, {"delete", "hb"}).exit_code == 0);
  for (auto verb : {"describe", "pause", "resume", "trigger", "delete"}) {
    auto r = sched_cli(dsn, {verb, "hb"});
    INFO(verb);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("no schedule named hb") != std::string::npos);
  }
}

TEST_CASE("schedules add refuses bad input naming the option", "[pg][cli]") {
  auto dsn = fresh_schema_dsn("cli_schedules_bad");
  journal_store{dsn}.migrate();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
    {{"--cron", "61 * * * *"}, "minute"},
    {{"--cron", "* * * *"}, "4 fields"},
    {{"--cron", "0 0 30 2 *"}, "never fires"},
    {{"--every", "5x"}, "--every"},
    {{"--every", "0s"}, "at least 1s"},
    {{"--every", "1m", "--tz", "Mars/Base"}, "unknown time zone"},
    {{"--every", "1m", "--missed", "some"}, "--missed"},
    {{"--every", "1m", "--overlap", "queue"}, "--overlap"},
    {{"--every", "1m", "--catchup-window", "1h"}, "--missed all only"},
    {{"--every", "1m", "--overlap", "buffer-one", "--lock", "l"}, "buffer-one"},
    {{"--every", "1m", "--args", "{bad"}, "--args"},
    {{"--every", "1m", "--policy", R"({"retry_onn":1})"}, "--policy"},
    {{}, "--cron SPEC or --every"},
  };
  for (const auto& [opts, what] : cases) {
    std::vector<std::string> args{"add", "s", "--task", "echo"};
    args.insert(args.end(), opts.begin(), opts.end());
    auto r = sched_cli(dsn, args);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(what) != std::string::npos);
  }
  auto name = sched_cli(dsn, {"add", "a:b", "--task", "echo", "--every", "1m"});
  CHECK(name.exit_code == 2);
  CHECK(name.err.find("name") != std::string::npos);
  CHECK(json::parse(sched_cli(dsn, {"list", "-o", "json"}).out).empty());
}

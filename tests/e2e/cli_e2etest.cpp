// The mutating CLI commands (tasks retry/cancel by ids and by filter), status
// and watch against a real head process.

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/runtime/time.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

json parse_ok(const cli_result& r, int expected_exit = 0) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == expected_exit);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE(!j.is_discarded());
  return j;
}

std::vector<int64_t> ok_ids(const json& summary) {
  std::vector<int64_t> out;
  for (const auto& r : summary["ok"])
    out.push_back(r["id"].get<int64_t>());
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_CASE("cli: retry FAILED tasks by filter, journaled with the CLI origin", "[e2e][cli]") {
  auto dsn = fresh_schema_dsn("e2e_cli_retry");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto id = c.submit(spec("fail", {{"kind", "payments.PermanentError"}}, R"({"retries":0})"));
    REQUIRE(id);
    ids.push_back(*id);
  }
  for (auto id : ids) {
    auto out = c.await(id, std::chrono::seconds(60));
    REQUIRE(out);
    CHECK(out->state == task_state::failed);
  }
  auto r = run_cli({"tasks", "retry", "--state", "FAILED", "--name", "fail", "--yes", "-o", "json",
                    "--address", head.address(), "--db", dsn});
  auto j = parse_ok(r);
  CHECK(j["action"] == "retry");
  CHECK(j["requested"] == 3);
  CHECK(ok_ids(j) == ids);
  CHECK(j["failed"].empty());
  journal_store store{dsn};
  for (auto id : ids) {
    auto evs = store.events(id);
    auto it = std::find_if(evs.begin(), evs.end(),
                           [](const event_row& e) { return e.kind == transition_kind::manual_retry; });
    REQUIRE(it != evs.end());
    CHECK(it->detail.find("cli ") != std::string::npos);
  }
  // They fail again (permanent error, no retries); retrying by id works too,
  // and a task that is not retryable is reported, exit 1.
  for (auto id : ids)
    REQUIRE(c.await(id, std::chrono::seconds(60)));
  auto one = run_cli({"tasks", "retry", std::to_string(ids[0]), "-o", "json", "--address",
                      head.address()});
  CHECK(ok_ids(parse_ok(one)) == std::vector<int64_t>{ids[0]});
  auto bad = run_cli({"tasks", "retry", "999999", "-o", "json", "--address", head.address()});
  auto bj = parse_ok(bad, 1);
  CHECK(bj["failed"].size() == 1);
  CHECK(bj["failed"][0]["id"] == 999999);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
}

TEST_CASE("cli: cancel QUEUED tasks by ids - status and watch of a live head", "[e2e][cli]") {
  auto dsn = fresh_schema_dsn("e2e_cli_cancel");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  std::vector<int64_t> later;
  for (int i = 0; i < 2; ++i) {
    auto s = spec("echo", {{"i", i}});
    s.run_at_us = to_micros(add_seconds_clamped(now(), 3600));
    auto id = c.submit(s);
    REQUIRE(id);
    later.push_back(*id);
  }
  auto st = parse_ok(run_cli({"status", "-o", "json", "--address", head.address(), "--db", dsn}));
  CHECK(st["head"]["reachable"] == true);
  CHECK(st["head"]["workers"] == 1);
  CHECK(st["head"]["uptime_s"].get<double>() >= 0);
  CHECK(st["postgres"]["reachable"] == true);
  CHECK(st["tasks"]["QUEUED"] == 2);
  // Both wait for their run_at: scheduled, not counted in the queue age.
  CHECK(st["oldest_queued_age_s"].is_null());
  CHECK(st["queued_scheduled"] == 2);

  auto r = run_cli({"tasks", "cancel", std::to_string(later[0]), std::to_string(later[1]),
                    "-o", "json", "--address", head.address()});
  auto j = parse_ok(r);
  CHECK(ok_ids(j) == later);
  for (const auto& e : j["ok"]) {
    CHECK(e["state"] == "CANCELLED");
    CHECK(e["cancel_requested"] == false);
  }
  auto again = run_cli({"tasks", "cancel", std::to_string(later[0]), "-o", "json", "--address",
                        head.address()});
  CHECK(parse_ok(again, 1)["failed"].size() == 1);
  // The head's message names the task: the line names it once, not
  // "task N: task N is already CANCELLED".
  auto again_text = run_cli({"tasks", "cancel", std::to_string(later[0]), "--address",
                             head.address()});
  const auto task = "task " + std::to_string(later[0]);
  INFO(again_text.err);
  CHECK(again_text.exit_code == 1);
  CHECK(again_text.err.rfind("taskrt: " + task + " ", 0) == 0);
  CHECK(again_text.err.find(task, again_text.err.find(task) + 1) == std::string::npos);
  CHECK(again_text.err.find("CANCELLED") != std::string::npos);
  // By filter: nothing QUEUED/RUNNING is left, so nothing is selected.
  auto none = run_cli({"tasks", "cancel", "--name", "echo", "--yes", "-o", "json", "--address",
                       head.address(), "--db", dsn});
  CHECK(parse_ok(none)["requested"] == 0);

  auto id = c.submit(spec("echo", {{"hello", 1}}));
  REQUIRE(id);
  auto w = run_cli({"tasks", "watch", std::to_string(*id), "--timeout", "60", "--db", dsn});
  INFO(w.out << w.err);
  CHECK(w.exit_code == 0);
  CHECK(w.out.find("succeed") != std::string::npos);
}

TEST_CASE("cli: status counts used slots as the head sees them - none once the task ended",
          "[e2e][cli]") {
  auto dsn = fresh_schema_dsn("e2e_cli_slots");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  auto status = [&] {
    return parse_ok(run_cli({"status", "-o", "json", "--address", head.address(), "--db", dsn}));
  };
  // 2.5 s: the head rewrites its node rows every 2 s, so a row says
  // "running 1" while it runs and keeps saying so for up to 2 s after.
  auto id = c.submit(spec("sleep", {{"ms", 2500}}));
  REQUIRE(id);
  REQUIRE(eventually([&] { return status()["node_slots"]["used"] == 1; }, 10'000));
  auto out = c.await(*id, std::chrono::seconds(30));
  REQUIRE(out);
  REQUIRE(out->state == task_state::succeeded);
  auto st = status();
  INFO(st.dump());
  CHECK(st["node_slots"]["used"] == 0);
  CHECK(st["node_slots"]["total"] == 1);
  CHECK(st["node_slots"]["source"] == "head");
  CHECK(st["nodes"]["ALIVE"] == 1);
  // With the head down the rows are all there is, and the output says so.
  head.kill9();
  auto down = run_cli({"status", "--address", head.address(), "--db", dsn});
  CHECK(down.out.find("(as the head last wrote them)") != std::string::npos);
}

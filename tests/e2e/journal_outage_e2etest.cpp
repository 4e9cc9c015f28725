// End-to-end tests of the journal side of issue 10 with real head processes:
// Postgres crash-stopped for 30 s under work and brought back on the same
// port (item 5), and idempotency keys across a head kill -9 (item 4).

#include "taskrt/persistence/journal_store.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <set>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// `taskrt status -o json` of the head at `addr` (null when it printed none).
json status_of(const std::string& addr) {
  auto r = run_cli({"status", "--address", addr, "-o", "json"});
  try {
    return json::parse(r.out);
  } catch (const std::exception&) {
    return nullptr;
  }
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

} // namespace

TEST_CASE("Postgres crash-stopped for 30 s under work: the head stays up, refuses"
          " submits, resumes by itself, loses nothing acknowledged",
          "[e2e][outage]") {
  private_postgres pg;
  head_process head{pg.dsn(), {"--workers", "2"}};
  const auto addr = head.address();
  std::vector<int64_t> acked;
  {
    auto& c = head.connect();
    // Enough work to be running, queued and finishing across the outage.
    for (int i = 0; i < 24; ++i) {
      auto id = c.submit(spec("sleep", {{"ms", 400}}, R"({"retries":3})"));
      REQUIRE(id);
      acked.push_back(*id);
    }
  }
  {
    journal_store store{pg.dsn()};
    REQUIRE(eventually([&] {
      for (auto& t : store.list_tasks({}))
        if (t.state == task_state::running || t.state == task_state::succeeded)
          return true;
      return false;
    }));
  }

  // The window: Postgres dies (no shutdown checkpoint, connections cut) while
  // attempts run, results come in and tasks wait in the queue.
  pg.crash_stop();
  const auto down_at = std::chrono::steady_clock::now();
  int refused = 0, accepted_during = 0, other = 0;
  bool status_showed_outage = false;
  bool head_reachable_throughout = true;
  std::string refusal;
  // Bounded: one submit about every 2 s for 30 s.
  while (seconds_since(down_at) < 30) {
    const auto t = std::chrono::steady_clock::now();
    auto r = run_cli({"submit", "sleep", "--args", R"({"ms":50})", "--address", addr});
    const auto took = seconds_since(t);
    if (r.exit_code == 1 && r.err.find("journal unavailable") != std::string::npos) {
      ++refused;
      refusal = r.err;
      std::printf("outage +%.1f s: submit refused after %.2f s: %s", seconds_since(down_at),
                  took, r.err.c_str());
    } else if (r.exit_code == 0) {
      // Accepted before the head noticed the outage: acknowledged, so it must
      // be journaled and end SUCCEEDED like any other.
      ++accepted_during;
      acked.push_back(std::stoll(r.out));
      std::printf("outage +%.1f s: submit accepted after %.2f s (id %s)\n",
                  seconds_since(down_at), took, r.out.substr(0, r.out.find('\n')).c_str());
    } else {
      ++other;
      std::printf("outage +%.1f s: submit exit %d after %.2f s: %s%s\n", seconds_since(down_at),
                  r.exit_code, took, r.out.c_str(), r.err.c_str());
    }
    auto st = status_of(addr);
    if (st.is_null() || !st["head"].value("reachable", false)) {
      head_reachable_throughout = false;
    } else if (st["head"].contains("journal_up") && !st["head"]["journal_up"].get<bool>()) {
      status_showed_outage = true;
    }
    std::this_thread::sleep_for(2s);
  }
  const auto table = run_cli({"status", "--address", addr});
  std::printf("taskrt status during the outage (exit %d):\n%s%s\n", table.exit_code,
              table.out.c_str(), table.err.c_str());
  CHECK(head_reachable_throughout);
  CHECK(other == 0);
  CHECK(refused >= 10); // all but those the head took before it noticed
  CHECK(refusal.find("journal unavailable") != std::string::npos);
  CHECK(status_showed_outage);
  CHECK(table.out.find("Journal   UNAVAILABLE") != std::string::npos);
  CHECK(table.exit_code == 1);

  pg.start_again();
  const auto back_at = std::chrono::steady_clock::now();
  // Work resumes by itself: every acknowledged task ends SUCCEEDED.
  auto& c = head.connect();
  for (auto id : acked) {
    // Until the head has noticed that Postgres is back (its next retry, at
    // most a few seconds), reads of finished tasks answer "unavailable: try
    // again".
    auto out = c.await(id, std::chrono::seconds(180));
    for (int i = 0; i < 30 && !out
                    && taskrt_code(out.error()) == static_cast<uint8_t>(errc::unavailable);
         ++i) {
      std::this_thread::sleep_for(1s);
      out = c.await(id, std::chrono::seconds(180));
    }
    INFO("task " << id << ": " << (out ? std::string{"ok"} : error_message(out.error()))
                 << "\nhead log:\n" << head.log().substr(head.log().size() > 3000 ? head.log().size() - 3000 : 0));
    REQUIRE(out);
    CHECK(out->state == task_state::succeeded);
  }
  std::printf("outage: %d refused, %d accepted before the head noticed; all %zu"
              " acknowledged tasks SUCCEEDED %.1f s after Postgres came back\n",
              refused, accepted_during, acked.size(), seconds_since(back_at));
  // New submits work again.
  auto after = run_cli({"submit", "sleep", "--args", R"({"ms":10})", "--address", addr});
  CHECK(after.exit_code == 0);
  if (after.exit_code == 0)
    acked.push_back(std::stoll(after.out));
  for (auto id : {acked.back()})
    CHECK(c.await(id, std::chrono::seconds(60))->state == task_state::succeeded);

  // Proof from the journal: exactly the acknowledged tasks exist (nothing
  // refused was written), each SUCCEEDED with one submit event and a journal
  // that never has two attempts RUNNING at once.
  journal_store store{pg.dsn()};
  std::set<int64_t> want(acked.begin(), acked.end());
  std::set<int64_t> have;
  for (auto& t : store.list_tasks({})) {
    have.insert(t.id);
    CHECK(t.state == task_state::succeeded);
  }
  CHECK(have == want);
  for (auto id : acked) {
    int submits = 0, running = 0;
    for (auto& e : store.events(id)) {
      submits += e.kind == transition_kind::submit ? 1 : 0;
      if (e.kind == transition_kind::start)
        ++running;
      else if (e.from_state == task_state::running)
        --running;
      CHECK(running <= 1);
    }
    CHECK(submits == 1);
  }
  const auto log = head.log();
  CHECK(log.find("journal unavailable") != std::string::npos);
  CHECK(log.find("journal available again") != std::string::npos);
  CHECK(log.find("exiting") == std::string::npos);
}

TEST_CASE("the same key twice across a head kill -9 returns the same task id",
          "[e2e][keys]") {
  auto dsn = fresh_schema_dsn("e2e_keys");
  head_process head{dsn, {"--workers", "1"}};
  // A lost attempt (the kill) is retried at once.
  const std::string policy = R"({"retries":3,"wait":0.2,"backoff":0})";
  auto first = [&] {
    auto s = spec("sleep", {{"ms", 100}}, policy);
    s.key = "invoice-2026-11-30";
    auto id = head.connect().submit(s);
    REQUIRE(id);
    return *id;
  }();
  auto again = spec("sleep", {{"ms", 100}}, policy);
  again.key = "invoice-2026-11-30";
  auto same = head.connect().submit(again);
  REQUIRE(same);
  CHECK(*same == first);
  head.kill9();
  head.restart();
  auto after = head.connect().submit(again);
  REQUIRE(after);
  CHECK(*after == first);
  auto other = spec("sleep", {{"ms", 10}}, policy);
  other.key = "invoice-2026-12-01";
  auto second = head.connect().submit(other);
  REQUIRE(second);
  CHECK(*second != first);
  auto done = head.connect().await(first, std::chrono::seconds(60));
  INFO((done ? std::string{"ok"} : error_message(done.error())));
  {
    journal_store st{dsn};
    for (auto& e : st.events(first))
      UNSCOPED_INFO(e.kind << "@" << e.attempt << " " << e.detail);
  }
  REQUIRE(done);
  CHECK(done->state == task_state::succeeded);
  // From the journal: one task and one submit event for the key.
  journal_store store{dsn};
  int with_key = 0;
  for (auto& t : store.list_tasks({}))
    with_key += t.key == "invoice-2026-11-30" ? 1 : 0;
  CHECK(with_key == 1);
  int submits = 0;
  for (auto& e : store.events(first))
    submits += e.kind == transition_kind::submit ? 1 : 0;
  CHECK(submits == 1);
}

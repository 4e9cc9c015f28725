// Bounded queue windows with a real head: 1,000 tasks queued behind a window
// of 100 (the head holds the best 100, Postgres the rest). Tasks only in the
// journal are cancelled, retried and awaited; the head is killed with
// SIGKILL and recovers reading one window back; then a node runs them all.
// The journal must show every task run once, the cancelled one never, and
// the starts in queue order (priority desc, run_at, id), across refills.

#include "taskrt/persistence/journal_store.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// True when every task of `ids` is in a final state in the journal.
bool all_final(journal_store& store, const std::vector<int64_t>& ids) {
  for (auto id : ids)
    if (!is_terminal(store.get_task(id)->state))
      return false;
  return true;
}

} // namespace

TEST_CASE("queue window - 1000 tasks behind a window of 100 - cancel, retry and await in the "
          "journal only, kill -9, every task runs once in order",
          "[e2e][window]") {
  auto dsn = fresh_schema_dsn("e2e_window");
  head_process head{dsn, {"--workers", "0", "--queue-window", "100"}};
  auto& c = head.connect();
  std::vector<int64_t> ids;
  std::map<int64_t, int32_t> priority;
  for (int batch = 0; batch < 4; ++batch) {
    std::vector<task_spec> specs;
    for (int i = 0; i < 250; ++i) {
      task_spec s;
      s.name = "echo";
      s.args = json{{"i", batch * 250 + i}}.dump();
      s.priority = (batch * 250 + i) % 4;
      specs.push_back(s);
    }
    auto got = c.submit_many(specs);
    REQUIRE(got);
    for (size_t i = 0; i < got->size(); ++i) {
      ids.push_back((*got)[i]);
      priority[(*got)[i]] = specs[i].priority;
    }
  }
  auto s = c.status();
  REQUIRE(s);
  CHECK(s->queued == 1000); // 100 held, 900 counted in the journal

  // The last tasks of priority 0 rank last: only in the journal.
  std::vector<int64_t> last_p0;
  for (auto i = ids.rbegin(); i != ids.rend() && last_p0.size() < 3; ++i)
    if (priority[*i] == 0)
      last_p0.push_back(*i);
  const auto cancelled = last_p0[0], promoted = last_p0[1], awaited = last_p0[2];
  auto st = c.cancel(cancelled);
  REQUIRE(st);
  CHECK(*st == task_state::cancelled);
  manual_retry_msg m;
  m.id = promoted;
  m.set_priority = true;
  m.priority = 10; // runs first now
  m.origin = "e2e";
  REQUIRE(c.retry(m));
  priority[promoted] = 10;

  // kill -9 with 999 QUEUED: the restarted head reads a window of each queue.
  head.kill9();
  head.restart();
  auto& c2 = head.connect();
  REQUIRE(eventually([&] {
    auto s = c2.status();
    return s && s->recovered && s->queued == 999;
  }, 30'000));

  node_process n1{head.address(), "n1", head.data_dir(), {"--workers", "2"}};
  // Awaited while it is still in the journal only (priority 0 runs last).
  auto out = c2.await(awaited, std::chrono::seconds(120));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);

  journal_store store{dsn};
  REQUIRE(eventually([&] { return all_final(store, ids); }, 120'000));
  std::vector<std::pair<int64_t, int64_t>> starts; // (start event id, task)
  for (auto id : ids) {
    INFO("task " << id);
    int started = 0, succeeded = 0;
    for (const auto& e : store.events(id)) {
      if (e.kind == transition_kind::start) {
        ++started;
        starts.emplace_back(e.id, id);
      }
      succeeded += e.kind == transition_kind::succeed ? 1 : 0;
    }
    if (id == cancelled) {
      CHECK(store.get_task(id)->state == task_state::cancelled);
      CHECK(started == 0);
    } else {
      CHECK(store.get_task(id)->state == task_state::succeeded);
      CHECK(started == 1);
      CHECK(succeeded == 1);
    }
  }
  // Every task was queued before the node came: the starts follow the
  // queue's order exactly, across the windows read back from the journal.
  std::sort(starts.begin(), starts.end());
  REQUIRE(starts.size() == 999);
  CHECK(starts.front().second == promoted);
  int64_t out_of_order = 0;
  for (size_t i = 1; i < starts.size(); ++i) {
    const auto a = starts[i - 1].second, b = starts[i].second;
    if (priority[a] < priority[b] || (priority[a] == priority[b] && a > b))
      ++out_of_order;
  }
  CHECK(out_of_order == 0);
}

TEST_CASE("schedule horizon - tasks scheduled past it stay in the journal - cancel, retry and "
          "await there, kill -9, each runs once at its time",
          "[e2e][window]") {
  using namespace std::chrono;
  auto dsn = fresh_schema_dsn("e2e_horizon");
  head_process head{dsn, {"--workers", "0", "--schedule-horizon", "2"}};
  auto& c = head.connect();
  const auto t0 = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
  std::vector<task_spec> specs;
  for (int i = 0; i < 200; ++i) {
    task_spec s;
    s.name = "echo";
    s.args = json{{"i", i}}.dump();
    s.priority = i % 3;
    s.run_at_us = t0 + 6'000'000 + i * 10'000; // 6 to 8 s ahead: past the horizon
    specs.push_back(s);
  }
  auto got = c.submit_many(specs);
  REQUIRE(got);
  const auto ids = *got;
  auto s = c.status();
  REQUIRE(s);
  CHECK(s->queued == 200); // none held: counted in the journal

  const auto cancelled = ids[10], promoted = ids[20], awaited = ids[30];
  auto st = c.cancel(cancelled);
  REQUIRE(st);
  CHECK(*st == task_state::cancelled);
  manual_retry_msg m;
  m.id = promoted; // run now: moves into memory
  m.origin = "e2e";
  REQUIRE(c.retry(m));

  // kill -9 before any is due: the new head reads only those within its horizon.
  head.kill9();
  head.restart();
  auto& c2 = head.connect();
  REQUIRE(eventually([&] {
    auto s = c2.status();
    return s && s->recovered && s->queued == 199;
  }, 30'000));
  node_process n1{head.address(), "n1", head.data_dir(), {"--workers", "2"}};
  auto out = c2.await(awaited, std::chrono::seconds(120)); // awaited while in the journal only
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);

  journal_store store{dsn};
  REQUIRE(eventually([&] { return all_final(store, ids); }, 120'000));
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto id = ids[i];
    INFO("task " << id);
    int starts = 0;
    int64_t started_at = 0;
    for (const auto& e : store.events(id))
      if (e.kind == transition_kind::start) {
        ++starts;
        started_at = e.at_us;
      }
    if (id == cancelled) {
      CHECK(store.get_task(id)->state == task_state::cancelled);
      CHECK(starts == 0);
      continue;
    }
    CHECK(store.get_task(id)->state == task_state::succeeded);
    CHECK(starts == 1);
    if (id == promoted)
      continue; // retried to run at once
    // Never before its time, and not long after it (the horizon read it in time).
    CHECK(started_at >= specs[i].run_at_us);
    CHECK(started_at - specs[i].run_at_us < 5'000'000);
  }
}

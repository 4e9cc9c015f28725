/// The reads behind bounded queue windows: load_windowed (recovery) and
/// queued_after (refills), on a real Postgres.

#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;
using namespace taskrt::test;

namespace {

constexpr int64_t t0 = 1'700'000'000'000'000;

std::vector<int64_t> ids_of(const std::vector<task_record>& ts) {
  std::vector<int64_t> out;
  for (const auto& t : ts)
    out.push_back(t.id);
  return out;
}

/// Submits into `queue` with `priority`, due at `run_at`; returns the id.
int64_t put(journal_store& s, const std::string& queue, int32_t priority, int64_t run_at) {
  journal_store::batch b;
  auto it = submit_of("echo", t0);
  it.queue = queue;
  it.spec.priority = priority;
  it.spec.run_at_us = run_at;
  b.submits.push_back(it);
  return s.commit(b).submitted_ids.at(0);
}

} // namespace

TEST_CASE("queued_after reads a queue in order after a position, due tasks only",
          "[pg][journal][window]") {
  auto s = make_store("queued_after");
  // Queue "q": priorities 2, 1, 1, 0 (two of priority 1 in run_at order),
  // one scheduled after now, one with a cancel requested, one in "other".
  const auto a = put(s, "q", 2, t0 + 3);
  const auto b = put(s, "q", 1, t0 + 1);
  const auto c = put(s, "q", 1, t0 + 2);
  const auto d = put(s, "q", 0, t0);
  put(s, "q", 5, t0 + 1'000'000'000); // not due at t0 + 10
  const auto x = put(s, "q", 3, t0);
  journal_store::batch n;
  n.notes.push_back({x, 0, note_kind::cancel_requested, nlohmann::json::object(), t0, "head"});
  s.commit(n);
  put(s, "other", 9, t0);
  const auto now = t0 + 10;

  CHECK(ids_of(s.queued_after("q", std::nullopt, now, 10)) == std::vector<int64_t>{a, b, c, d});
  CHECK(ids_of(s.queued_after("q", std::nullopt, now, 2)) == std::vector<int64_t>{a, b});
  // After b: the rest of priority 1, then the lower priorities.
  journal_store::queue_position after_b{1, t0 + 1, b};
  CHECK(ids_of(s.queued_after("q", after_b, now, 10)) == std::vector<int64_t>{c, d});
  CHECK(ids_of(s.queued_after("q", after_b, now, 1)) == std::vector<int64_t>{c});
  // After a (priority 2, nothing more of it): straight to priority 1.
  journal_store::queue_position after_a{2, t0 + 3, a};
  CHECK(ids_of(s.queued_after("q", after_a, now, 10)) == std::vector<int64_t>{b, c, d});
  // A started task is no longer read.
  journal_store::batch st;
  st.transitions.push_back(start_of(c));
  s.commit(st);
  CHECK(ids_of(s.queued_after("q", after_b, now, 10)) == std::vector<int64_t>{d});
  CHECK(s.queued_after("missing", std::nullopt, now, 10).empty());
}

TEST_CASE("load_windowed holds a window per queue and everything else live",
          "[pg][journal][window]") {
  auto s = make_store("load_windowed");
  std::vector<int64_t> q1, q2;
  for (int i = 0; i < 5; ++i)
    q1.push_back(put(s, "q1", 0, t0 + i));
  for (int i = 0; i < 2; ++i)
    q2.push_back(put(s, "q2", 0, t0 + i));
  const auto later = put(s, "q1", 0, t0 + 1'000'000'000);
  const auto running = put(s, "q1", 0, t0);
  journal_store::batch st;
  st.transitions.push_back(start_of(running));
  s.commit(st);
  const auto soon = put(s, "q2", 0, t0 + 50);
  const auto w = s.load_windowed(t0 + 10, 3, t0 + 100);
  // q1: its first 3 due; q2: both; the one scheduled within the horizon and
  // the running one; not the one scheduled after the horizon.
  auto got = ids_of(w.tasks);
  std::sort(got.begin(), got.end());
  std::vector<int64_t> want{q1[0], q1[1], q1[2], q2[0], q2[1], soon, running};
  std::sort(want.begin(), want.end());
  CHECK(got == want);
  CHECK(w.due.at("q1") == 5);
  CHECK(w.due.at("q2") == 2);
  CHECK(w.max_id == soon);
  CHECK(w.later == 1);
  // Without windows, load_unfinished still has every live task.
  CHECK(s.load_unfinished().size() == 10);
  // The horizon moves: the later one is read by time.
  CHECK(ids_of(s.queued_between(t0 + 100, t0 + 2'000'000'000)) == std::vector<int64_t>{later});
  CHECK(ids_of(s.queued_between(t0 + 10, t0 + 100)) == std::vector<int64_t>{soon});
  CHECK(s.queued_between(t0 + 2'000'000'000, t0 + 3'000'000'000).empty());
}

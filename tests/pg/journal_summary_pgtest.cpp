// The aggregate reads behind `taskrt summary` and `taskrt status`, the extra
// list orders, events_after, and purge by last change.

#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;
using namespace taskrt::test;

namespace {

constexpr int64_t t0 = 1'700'000'000'000'000;

void apply(journal_store& s, journal_store::transition_item t) {
  journal_store::batch b;
  b.transitions.push_back(std::move(t));
  REQUIRE(s.commit(b).applied.at(0));
}

void fail_with(journal_store& s, int64_t id, const std::string& kind, int64_t at_us) {
  apply(s, start_of(id));
  auto f = transition_of(id, transition_kind::fail, task_state::running, 1, 1, at_us);
  f.error = R"({"kind":")" + kind + R"("})";
  f.detail = {{"error", {{"kind", kind}}}};
  apply(s, f);
}

} // namespace

TEST_CASE("journal_store: counts by name and state, failures and losses", "[pg]") {
  auto s = make_store("summary_reads");
  auto ids = submit_all(s, {"a", "a", "b", "c"});
  fail_with(s, ids[0], "std::runtime_error", t0 + 1'000'000);
  fail_with(s, ids[2], "payments.PermanentError", t0 + 2'000'000);
  apply(s, start_of(ids[1]));
  auto lose = transition_of(ids[1], transition_kind::lose, task_state::running, 1, 1, t0 + 3'000'000);
  lose.detail = {{"signal", "SIGABRT"}, {"reason", "worker process died"}};
  apply(s, lose);

  auto counts = s.count_by_name_state(task_filter{});
  REQUIRE(counts.size() == 4);
  CHECK(counts[0].name == "a");
  CHECK(counts[0].state == task_state::failed);
  CHECK(counts[1].state == task_state::lost);
  CHECK(counts[3].name == "c");
  CHECK(counts[3].tasks == 1);
  task_filter only_a;
  only_a.name = "a";
  CHECK(s.count_by_name_state(only_a).size() == 2);

  auto f = s.failures_by_kind(task_filter{});
  REQUIRE(f.size() == 2);
  CHECK(f[0].attempts == 1);
  CHECK(s.failures_by_kind(only_a).size() == 1);
  CHECK(s.failures_by_kind(only_a)[0].kind == "std::runtime_error");
  task_filter late;
  late.since_us = t0 + 1'500'000;
  // since also bounds task creation (all created at the default submit time,
  // 1'700'000'000'000'000), so nothing is selected.
  CHECK(s.failures_by_kind(late).empty());

  auto l = s.lost_by_cause(task_filter{});
  REQUIRE(l.size() == 1);
  CHECK(l[0].reason == "worker process died");
  CHECK(l[0].signal == "SIGABRT");
  CHECK(l[0].tasks == 1);

  int64_t fails = 0, submits = 0;
  for (const auto& c : s.event_counts_since(t0)) {
    if (c.kind == transition_kind::fail)
      fails = c.events;
    if (c.kind == transition_kind::submit)
      submits = c.events;
  }
  CHECK(fails == 2);
  CHECK(submits == 4);
  for (const auto& c : s.event_counts_since(t0 + 2'500'000))
    CHECK(c.kind != transition_kind::fail);

  // ids[3] is QUEUED since t0 with run_at t0: ready, waiting since t0.
  auto q = s.queued_age(t0 + 10'000'000);
  CHECK(q.ready == 1);
  CHECK(q.scheduled == 0);
  REQUIRE(q.oldest_ready_since_us);
  CHECK(*q.oldest_ready_since_us == t0);

  auto all = s.events(ids[1]);
  auto after = s.events_after(ids[1], all[0].id);
  CHECK(after.size() == all.size() - 1);
  CHECK(s.events_after(ids[1], all.back().id).empty());
}

TEST_CASE("journal_store: list orders and purge by last change", "[pg]") {
  auto s = make_store("orders_purge");
  auto ids = submit_all(s, {"b", "a", "c"});
  task_filter f;
  f.order = task_order::name_asc;
  auto rows = s.list_tasks(f);
  CHECK(rows[0].name == "a");
  f.order = task_order::name_desc;
  CHECK(s.list_tasks(f)[0].name == "c");
  fail_with(s, ids[0], "x", t0 + 10'000'000);
  fail_with(s, ids[1], "x", t0 + 20'000'000);
  f.order = task_order::updated_asc;
  CHECK(s.list_tasks(f).back().id == ids[1]);
  f.order = task_order::priority_desc;
  CHECK(s.list_tasks(f).size() == 3);

  task_filter old;
  old.updated_until_us = t0 + 15'000'000;
  CHECK(s.purge(old) == 1); // ids[0]; ids[1] changed later; ids[2] is QUEUED
  CHECK(!s.get_task(ids[0]));
  CHECK(s.get_task(ids[1]));
}

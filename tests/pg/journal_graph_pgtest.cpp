// Issue 25 against a real Postgres: submits with parents are WAITING with
// their edges; the transaction that ends a parent releases or cancels its
// children (cascading), a manual retry of a failed parent makes the
// children it cancelled wait again, and a cancel of a WAITING task settles
// its own children. Every move is a journaled transition.

#include "taskrt/persistence/detail/pqxx.hpp"
#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;

namespace {

/// A submit of `name` after `parents` under `rule`.
journal_store::submit_item child_of(const std::string& name, std::vector<int64_t> parents,
                                    trigger_rule rule = trigger_rule::all_success) {
  auto it = submit_of(name);
  it.spec.after = std::move(parents);
  it.spec.trigger = rule;
  return it;
}

int64_t submit_one(journal_store& s, journal_store::submit_item it) {
  journal_store::batch b;
  b.submits.push_back(std::move(it));
  return s.commit(b).submitted_ids.at(0);
}

task_state state_of(journal_store& s, int64_t id) {
  return s.get_task(id).value().state;
}

/// Runs `id` from QUEUED to `end` (succeed, fail or cancel-while-queued);
/// returns the commit's result.
journal_store::batch_result finish(journal_store& s, int64_t id, transition_kind end) {
  journal_store::batch b;
  if (end == transition_kind::cancel) {
    b.transitions.push_back(transition_of(id, end, task_state::queued, 0, 0));
  } else {
    b.transitions.push_back(start_of(id));
    auto t = transition_of(id, end, task_state::running, 1, 1);
    if (end == transition_kind::succeed)
      t.result = R"({"v":)" + std::to_string(id) + "}";
    else
      t.error = R"({"kind":"boom","message":"x"})";
    b.transitions.push_back(t);
  }
  return s.commit(b);
}

/// Adds `id`'s start and success (QUEUED → RUNNING → SUCCEEDED) to `b`.
void add_success(journal_store::batch& b, int64_t id) {
  b.transitions.push_back(start_of(id));
  b.transitions.push_back(transition_of(id, transition_kind::succeed, task_state::running, 1, 1));
}

/// A graph of `n` parents and a sink after all of them (local references),
/// in one batch: the sink is its last submit.
journal_store::batch fan_in(int n) {
  journal_store::batch g;
  std::vector<int64_t> parents;
  for (int i = 0; i < n; ++i) {
    g.submits.push_back(submit_of("p"));
    parents.push_back(-(i + 1));
  }
  g.submits.push_back(child_of("sink", parents));
  return g;
}

std::vector<int64_t> ids_of(const std::vector<task_record>& v) {
  std::vector<int64_t> out;
  for (const auto& t : v)
    out.push_back(t.id);
  std::sort(out.begin(), out.end());
  return out;
}

size_t count_kind(journal_store& s, int64_t id, const std::string& kind) {
  size_t n = 0;
  for (const auto& e : s.events(id))
    n += to_string(e.kind) == kind ? 1 : 0;
  return n;
}

} // namespace

TEST_CASE("a chain: the child WAITS, is released in the commit that ends its parent",
          "[pg][journal][graph]") {
  auto s = make_store("graph_chain");
  const auto a = submit_one(s, submit_of("a"));
  const auto b = submit_one(s, child_of("b", {a}));
  const auto c = submit_one(s, child_of("c", {b}));
  CHECK(state_of(s, b) == task_state::waiting);
  CHECK(state_of(s, c) == task_state::waiting);
  // WAITING is not live: no head loads it.
  for (const auto& t : s.load_unfinished())
    CHECK(t.state != task_state::waiting);
  task_filter f;
  f.states = {task_state::waiting};
  CHECK(s.list_tasks(f).size() == 2);
  CHECK(s.count_by_state().waiting == 2);
  // A head's load counts them (its WAITING gauge starts there).
  const int64_t later = 1'800'000'000'000'000; // after every submit of this test
  CHECK(s.load_windowed(later, 100, later).waiting == 2);

  const auto r = finish(s, a, transition_kind::succeed);
  CHECK(ids_of(r.released) == std::vector<int64_t>{b});
  CHECK(r.released.at(0).state == task_state::queued);
  CHECK(state_of(s, b) == task_state::queued);
  CHECK(state_of(s, c) == task_state::waiting);
  CHECK(count_kind(s, b, "release") == 1);
  CHECK(s.load_windowed(later, 100, later).waiting == 1);
  const auto r2 = finish(s, b, transition_kind::succeed);
  CHECK(ids_of(r2.released) == std::vector<int64_t>{c});
  CHECK(s.load_windowed(later, 100, later).waiting == 0);
}

TEST_CASE("a diamond in one commit: local references, released after both middles",
          "[pg][journal][graph]") {
  auto s = make_store("graph_diamond");
  journal_store::batch g;
  g.submits = {submit_of("top"), child_of("left", {-1}), child_of("right", {-1}),
               child_of("bottom", {-2, -3})};
  const auto res = s.commit(g);
  const auto& id = res.submitted_ids;
  CHECK(res.released.empty());
  CHECK(state_of(s, id[0]) == task_state::queued);
  // Each submit event names its parents as given (local references) and the rule.
  const auto bottom = s.events(id[3]);
  REQUIRE_FALSE(bottom.empty());
  CHECK(nlohmann::json::parse(bottom[0].detail)
        == (nlohmann::json{{"after", {-2, -3}}, {"trigger", "all_success"}}));
  CHECK(ids_of(finish(s, id[0], transition_kind::succeed).released)
        == std::vector<int64_t>{id[1], id[2]});
  CHECK(finish(s, id[1], transition_kind::succeed).released.empty());
  CHECK(state_of(s, id[3]) == task_state::waiting);
  CHECK(ids_of(finish(s, id[2], transition_kind::succeed).released)
        == std::vector<int64_t>{id[3]});
}

TEST_CASE("a failed parent cancels its all_success children, cascading, naming the parent",
          "[pg][journal][graph]") {
  auto s = make_store("graph_cascade");
  const auto a = submit_one(s, submit_of("a"));
  const auto b = submit_one(s, child_of("b", {a}));
  const auto c = submit_one(s, child_of("c", {b}));
  const auto d = submit_one(s, child_of("d", {b}, trigger_rule::all_done));
  const auto r = finish(s, a, transition_kind::fail);
  // b cancelled by a; c cancelled by b; d (all_done) released by b's end.
  CHECK(ids_of(r.settled) == std::vector<int64_t>{b, c});
  CHECK(ids_of(r.released) == std::vector<int64_t>{d});
  const auto tb = s.get_task(b).value();
  CHECK(tb.state == task_state::cancelled);
  CHECK(tb.last_error.find("upstream_failed") != std::string::npos);
  const auto ev = s.events(c);
  REQUIRE(!ev.empty());
  CHECK(ev.back().kind == transition_kind::cancel);
  const auto detail = nlohmann::json::parse(ev.back().detail);
  CHECK(detail.value("reason", "") == "upstream_failed");
  CHECK(detail.value("parent", int64_t{0}) == b);
  CHECK(detail.value("parent_state", "") == "CANCELLED");
}

TEST_CASE("each trigger rule against each parent outcome, through the journal",
          "[pg][journal][graph]") {
  auto s = make_store("graph_rules");
  struct row {
    transition_kind end;
    task_state all_success, all_done, any_success;
  };
  const row rows[] = {
    {transition_kind::succeed, task_state::queued, task_state::queued, task_state::queued},
    {transition_kind::fail, task_state::cancelled, task_state::queued, task_state::cancelled},
    {transition_kind::cancel, task_state::cancelled, task_state::queued, task_state::cancelled},
    {transition_kind::lose, task_state::cancelled, task_state::queued, task_state::cancelled},
  };
  for (const auto& x : rows) {
    INFO(to_string(x.end));
    const auto p = submit_one(s, submit_of("p"));
    const auto k1 = submit_one(s, child_of("k", {p}, trigger_rule::all_success));
    const auto k2 = submit_one(s, child_of("k", {p}, trigger_rule::all_done));
    const auto k3 = submit_one(s, child_of("k", {p}, trigger_rule::any_success));
    finish(s, p, x.end);
    CHECK(state_of(s, k1) == x.all_success);
    CHECK(state_of(s, k2) == x.all_done);
    CHECK(state_of(s, k3) == x.any_success);
  }
}

TEST_CASE("a parent LOST and retried in the same commit keeps its children WAITING",
          "[pg][journal][graph]") {
  auto s = make_store("graph_lost_retry");
  const auto p = submit_one(s, submit_of("p"));
  const auto k = submit_one(s, child_of("k", {p}));
  journal_store::batch b;
  b.transitions.push_back(start_of(p));
  b.transitions.push_back(transition_of(p, transition_kind::lose, task_state::running, 1, 1));
  b.transitions.push_back(transition_of(p, transition_kind::retry, task_state::lost, 1, 1));
  const auto r = s.commit(b);
  CHECK(r.released.empty());
  CHECK(r.settled.empty());
  CHECK(state_of(s, k) == task_state::waiting);
  journal_store::batch b2;
  b2.transitions.push_back(transition_of(p, transition_kind::start, task_state::queued, 1, 2));
  b2.transitions.push_back(transition_of(p, transition_kind::succeed, task_state::running, 2, 2));
  CHECK(ids_of(s.commit(b2).released) == std::vector<int64_t>{k});
}

TEST_CASE("any_success is released by the first success, and a submit after final parents is settled at once",
          "[pg][journal][graph]") {
  auto s = make_store("graph_any");
  const auto p1 = submit_one(s, submit_of("p"));
  const auto p2 = submit_one(s, submit_of("p"));
  const auto k = submit_one(s, child_of("k", {p1, p2}, trigger_rule::any_success));
  CHECK(finish(s, p1, transition_kind::fail).released.empty());
  CHECK(state_of(s, k) == task_state::waiting);
  CHECK(ids_of(finish(s, p2, transition_kind::succeed).released) == std::vector<int64_t>{k});
  // Parents final already: the submit's own commit decides.
  journal_store::batch late;
  late.submits = {child_of("late_ok", {p2}), child_of("late_bad", {p1})};
  const auto r = s.commit(late);
  CHECK(ids_of(r.released) == std::vector<int64_t>{r.submitted_ids[0]});
  CHECK(ids_of(r.settled) == std::vector<int64_t>{r.submitted_ids[1]});
}

TEST_CASE("a manual retry of a failed parent makes the children it cancelled wait again",
          "[pg][journal][graph]") {
  auto s = make_store("graph_rewait");
  const auto a = submit_one(s, submit_of("a"));
  const auto b = submit_one(s, child_of("b", {a}));
  const auto c = submit_one(s, child_of("c", {b}));
  finish(s, a, transition_kind::fail);
  REQUIRE(state_of(s, c) == task_state::cancelled);
  journal_store::batch retry;
  retry.transitions.push_back(
    transition_of(a, transition_kind::manual_retry, task_state::failed, 1, 1));
  const auto r = s.commit(retry);
  auto rewaited = r.rewaited;
  std::sort(rewaited.begin(), rewaited.end());
  CHECK(rewaited == std::vector<int64_t>{b, c});
  CHECK(state_of(s, b) == task_state::waiting);
  CHECK(state_of(s, c) == task_state::waiting);
  CHECK(s.get_task(b)->last_error.empty());
  CHECK(count_kind(s, b, "rewait") == 1);
  // The retry succeeds: the chain runs on.
  journal_store::batch b2;
  b2.transitions.push_back(transition_of(a, transition_kind::start, task_state::queued, 1, 2));
  b2.transitions.push_back(transition_of(a, transition_kind::succeed, task_state::running, 2, 2));
  CHECK(ids_of(s.commit(b2).released) == std::vector<int64_t>{b});
}

TEST_CASE("a cancel of a WAITING task follows the trigger rules of its children",
          "[pg][journal][graph]") {
  auto s = make_store("graph_cancel_waiting");
  const auto a = submit_one(s, submit_of("a"));
  const auto b = submit_one(s, child_of("b", {a}));
  const auto c = submit_one(s, child_of("c", {b}));
  const auto d = submit_one(s, child_of("d", {b}, trigger_rule::all_done));
  journal_store::batch x;
  x.transitions.push_back(transition_of(b, transition_kind::cancel, task_state::waiting, 0, 0));
  const auto r = s.commit(x);
  REQUIRE(r.applied.at(0));
  CHECK(ids_of(r.settled) == std::vector<int64_t>{c});
  CHECK(ids_of(r.released) == std::vector<int64_t>{d});
  CHECK(state_of(s, a) == task_state::queued);
}

TEST_CASE("a parent that does not exist refuses the submit with a data error naming it",
          "[pg][journal][graph]") {
  auto s = make_store("graph_missing");
  try {
    submit_one(s, child_of("k", {987654}));
    FAIL("accepted");
  } catch (const store_error& e) {
    CHECK(e.data_error());
    CHECK(std::string{e.what()}.find("987654") != std::string::npos);
  }
}

TEST_CASE("fan-out 1 -> 2000 and fan-in 2000 -> 1 settle in one commit each",
          "[pg][journal][graph]") {
  auto s = make_store("graph_fan");
  journal_store::batch g;
  g.submits.push_back(submit_of("root"));
  std::vector<int64_t> mids;
  for (int i = 0; i < 2000; ++i)
    g.submits.push_back(child_of("mid", {-1}));
  std::vector<int64_t> all;
  for (int i = 0; i < 2000; ++i)
    all.push_back(-(i + 2));
  g.submits.push_back(child_of("sink", all));
  const auto res = s.commit(g);
  const auto root = res.submitted_ids.front();
  const auto sink = res.submitted_ids.back();
  CHECK(finish(s, root, transition_kind::succeed).released.size() == 2000);
  journal_store::batch b;
  for (size_t i = 1; i <= 2000; ++i) {
    add_success(b, res.submitted_ids[i]);
    if (i == 1000) { // half of them: the sink still waits
      CHECK(s.commit(b).released.empty());
      b = {};
    }
  }
  CHECK(ids_of(s.commit(b).released) == std::vector<int64_t>{sink});
}

TEST_CASE("a release's parents are stored lz4-compressed (schema 17)", "[pg][journal][graph]") {
  // 200 parents: about 14 kB of ctx.parents(), past the size Postgres
  // compresses at.
  const auto dsn = fresh_schema_dsn("graph_lz4");
  journal_store s{dsn};
  s.migrate();
  const auto ids = s.commit(fan_in(200)).submitted_ids;
  journal_store::batch b;
  for (size_t i = 0; i < 200; ++i)
    add_success(b, ids[i]);
  CHECK(ids_of(s.commit(b).released) == std::vector<int64_t>{ids.back()});
  pqxx::connection c{dsn};
  pqxx::read_transaction tx{c};
  CHECK(tx.exec_params1("SELECT coalesce(pg_column_compression(parents), 'none') FROM tasks"
                        " WHERE id = $1",
                        ids.back())[0]
          .as<std::string>()
        == "lz4");
}

TEST_CASE("a child whose newest parents all ended still waits for an older pending one",
          "[pg][journal][graph]") {
  // The probe for a pending parent looks at the newest 256; past it the
  // child is decided from all its parents. Here the oldest of 300 is the
  // one still running when the other 299 end.
  auto s = make_store("graph_deep_pending");
  const auto ids = s.commit(fan_in(300)).submitted_ids;
  const auto sink = ids.back();
  journal_store::batch b;
  b.transitions.push_back(start_of(ids[0])); // the oldest runs on
  for (size_t i = 1; i < 300; ++i)
    add_success(b, ids[i]);
  const auto r = s.commit(b);
  CHECK(r.released.empty());
  CHECK(r.settled.empty());
  CHECK(state_of(s, sink) == task_state::waiting);
  journal_store::batch last;
  last.transitions.push_back(
    transition_of(ids[0], transition_kind::succeed, task_state::running, 1, 1));
  CHECK(ids_of(s.commit(last).released) == std::vector<int64_t>{sink});
}

TEST_CASE("a commit is given 1 ms more per edge it settles, found as it reads them",
          "[pg][journal][graph][deadline]") {
  // The window: a parent's end whose children are many. The commit learns
  // how many only when the settling reads the edges (no count before it);
  // from then its client-side deadline is the call deadline plus 1 ms per
  // edge. A lock the test holds on one child makes the release wait 1.2 s:
  // past the 0.4 s call deadline, within 0.4 + 2 s.
  const auto dsn = fresh_schema_dsn("graph_deadline");
  journal_store setup{dsn};
  setup.migrate();
  journal_store::batch g;
  g.submits.push_back(submit_of("root"));
  for (int i = 0; i < 2000; ++i)
    g.submits.push_back(child_of("mid", {-1}));
  const auto ids = setup.commit(g).submitted_ids;
  journal_options o;
  o.call_deadline_ms = 400;
  o.statement_timeout_ms = 0;
  journal_store store{dsn, o};

  pqxx::connection c{dsn};
  pqxx::work hold{c};
  hold.exec_params("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", ids.back());
  std::thread release{[&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    hold.commit();
  }};
  const auto t0 = std::chrono::steady_clock::now();
  journal_store::batch_result r;
  try {
    r = finish(store, ids.front(), transition_kind::succeed);
  } catch (const store_error& e) {
    release.join();
    FAIL("the commit was cut: " << e.what());
  }
  release.join();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("commit of a 2000-edge release behind a 1.2 s row lock: %.3f s\n", took);
  CHECK(took >= 1.1);
  CHECK(r.released.size() == 2000);
}

TEST_CASE("a child with parents still pending is decided from the parents that just ended",
          "[pg][journal][graph]") {
  auto s = make_store("graph_delta");
  const auto p1 = submit_one(s, submit_of("p"));
  const auto p2 = submit_one(s, submit_of("p"));
  const auto p3 = submit_one(s, submit_of("p"));
  const auto all = submit_one(s, child_of("all", {p1, p2, p3}));
  const auto done = submit_one(s, child_of("done", {p1, p2, p3}, trigger_rule::all_done));
  const auto any = submit_one(s, child_of("any", {p1, p2, p3}, trigger_rule::any_success));
  // p1 fails while p2 and p3 are pending: all_success can no longer be met.
  const auto r1 = finish(s, p1, transition_kind::fail);
  CHECK(ids_of(r1.settled) == std::vector<int64_t>{all});
  CHECK(r1.released.empty());
  CHECK(s.get_task(all)->last_error.find("parent " + std::to_string(p1)) != std::string::npos);
  CHECK(state_of(s, done) == task_state::waiting);
  CHECK(state_of(s, any) == task_state::waiting);
  // p3 succeeds while p2 is pending: any_success is met, all_done waits.
  const auto r2 = finish(s, p3, transition_kind::succeed);
  CHECK(ids_of(r2.released) == std::vector<int64_t>{any});
  CHECK(state_of(s, done) == task_state::waiting);
  // p2 ends: all_done is met (decided from every parent).
  CHECK(ids_of(finish(s, p2, transition_kind::cancel).released) == std::vector<int64_t>{done});
}

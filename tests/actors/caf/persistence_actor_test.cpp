// The persistence actor on CAF's test coordinator over memory_journal: its
// outage state machine edge by edge (persistence_actor.hpp draws it), the
// data-error split, commits in doubt, conflicts, fencing, loads, node rows
// and the submit lane. Deterministic: the retry backoff and the health
// interval pass by sched.advance_time(), faults are scripted in the journal.
#define CAF_SUITE persistence_actor
#include "tests/actors/caf/caf_fixture.hpp"

#include "taskrt/actors/persistence_actor.hpp"
#include "taskrt/persistence/memory_journal.hpp"

using namespace taskrt;
using namespace taskrt::test;
using namespace std::chrono_literals;

namespace {

using batch = journal_store::batch;
using batch_result = journal_store::batch_result;

constexpr int64_t t0 = 1'900'000'000'000'000;

store_error outage(bool in_doubt = false) {
  return store_error{"server closed the connection unexpectedly", true, in_doubt};
}

batch submits(std::initializer_list<const char*> names) {
  batch b;
  for (auto n : names) {
    journal_store::submit_item it;
    it.spec.name = n;
    it.now_us = t0;
    b.submits.push_back(it);
  }
  return b;
}

batch start_of(int64_t id) {
  batch b;
  journal_store::transition_item t;
  t.task_id = id;
  t.kind = transition_kind::start;
  t.expected_state = task_state::queued;
  t.new_attempt = 1;
  t.lease_epoch = 1;
  t.at_us = t0 + 1;
  b.transitions.push_back(t);
  return b;
}

struct fixture : caf_fixture {
  std::shared_ptr<memory_journal> journal = std::make_shared<memory_journal>();
  caf::actor p;

  /// This suite's options: commits at once, as its tests count commits, not
  /// time (the linger has tests of its own).
  static persistence_options at_once() {
    persistence_options o;
    o.linger = {};
    return o;
  }

  /// A persistence actor on the journal (scheduled, not detached), with the
  /// test actor subscribed to its state.
  void start(persistence_options o = at_once()) {
    o.detached = false;
    p = spawn_persistence(sys, journal_ports::of(journal), o);
    ask(p, journal_atom::value, caf::actor_cast<caf::actor>(self));
    auto s = next_journal_state();
    CAF_REQUIRE(s && s->first);
  }

  ~fixture() override {
    if (p)
      caf::anon_send_exit(p, caf::exit_reason::kill);
    run();
  }

  /// The submit lane's connection and how often it was opened.
  std::shared_ptr<memory_journal> lane = journal->connect();
  int opened = 0;

  /// start() with a submit lane on `lane` (it opens after the first load).
  void start_with_lane(persistence_options o = at_once()) {
    o.open_submit_lane = [this] {
      ++opened;
      return lane;
    };
    start(o);
  }

  /// The ids of a committed submit batch answered to the test actor.
  std::vector<int64_t> ids() {
    auto r = next<batch_result>();
    CAF_REQUIRE(r.has_value());
    return r->submitted_ids;
  }

  /// Submits one task and returns its id (journal up).
  int64_t submit_one(const char* name) {
    ask(p, submits({name}));
    auto v = ids();
    CAF_REQUIRE_EQUAL(v.size(), 1u);
    return v[0];
  }

  /// Makes the journal go DOWN by a failed commit of a transition batch of
  /// task `id` (kept: it commits when the journal is back).
  void go_down(int64_t id) {
    journal->fail_next({outage()});
    ask(p, start_of(id));
    auto s = next_journal_state();
    CAF_REQUIRE(s && !s->first);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(persistence_actor_tests, fixture)

CAF_TEST(a batch is answered after its commit and requests waiting together share one) {
  start();
  self->send(p, submits({"a"}));
  self->send(p, submits({"b", "c"}));
  run();
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{1}));
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{2, 3}));
  CAF_CHECK_EQUAL(journal->commits(), 1); // one group commit
  CAF_CHECK(journal->get_task(3).has_value());
}

CAF_TEST(a busy writer lingers: the next commit waits until linger after the last one) {
  persistence_options o;
  o.linger = 3ms;
  start(o);
  submit_one("a"); // an idle writer commits at once
  CAF_CHECK_EQUAL(journal->commits(), 1);
  self->send(p, submits({"b"}));
  pass(1ms);
  self->send(p, submits({"c"}));
  run();
  CAF_CHECK(!next<batch_result>()); // nothing answered before its commit
  CAF_CHECK_EQUAL(journal->commits(), 1);
  pass(2ms); // 3 ms after the first commit: both in one
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{2}));
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{3}));
  CAF_CHECK_EQUAL(journal->commits(), 2);
  pass(10ms); // idle again: at once
  self->send(p, submits({"d"}));
  run();
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{4}));
  CAF_CHECK_EQUAL(journal->commits(), 3);
}

CAF_TEST(a busy writer does not linger once linger_items items wait) {
  persistence_options o;
  o.linger = 3ms;
  o.linger_items = 2;
  start(o);
  submit_one("a");
  self->send(p, submits({"b", "c"}));
  run();
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{2, 3}));
  CAF_CHECK_EQUAL(journal->commits(), 2);
  // Lingering with one item, the second ends the wait.
  self->send(p, submits({"d"}));
  run();
  CAF_CHECK_EQUAL(journal->commits(), 2);
  self->send(p, submits({"e"}));
  run();
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{4}));
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{5}));
  CAF_CHECK_EQUAL(journal->commits(), 3);
}

CAF_TEST(UP to DOWN: submits only are refused at once and the rest waits in order) {
  start();
  const auto id = submit_one("a");
  go_down(id); // the start waits
  CAF_CHECK(!next<batch_result>());
  ask(p, submits({"refused"}));
  CAF_CHECK_EQUAL(next_error_code(), static_cast<uint8_t>(errc::unavailable));
  ask(p, caf::get_atom::value, id);
  CAF_CHECK_EQUAL(next_error_code(), static_cast<uint8_t>(errc::unavailable));
  const auto queued = journal->get_task(id);
  CAF_REQUIRE(queued.has_value());
  CAF_CHECK_EQUAL(queued->state, task_state::queued);
  CAF_CHECK_EQUAL(journal->list_tasks({}).size(), 1u);
}

CAF_TEST(DOWN to UP: the retry after the backoff commits the kept unit and tells subscribers) {
  start();
  const auto id = submit_one("a");
  go_down(id);
  CAF_CHECK_EQUAL(pass(99ms), 0u); // the first retry is 100 ms after the outage
  CAF_CHECK(!next<batch_result>());
  CAF_CHECK_EQUAL(pass(1ms), 1u);
  auto s = next_journal_state();
  CAF_REQUIRE(s.has_value());
  CAF_CHECK(s->first);
  auto r = next<batch_result>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK_EQUAL(r->applied, std::vector<bool>{true});
  const auto running = journal->get_task(id);
  CAF_REQUIRE(running.has_value());
  CAF_CHECK_EQUAL(running->state, task_state::running);
}

CAF_TEST(DOWN stays DOWN while retries fail and the backoff doubles) {
  start();
  const auto id = submit_one("a");
  go_down(id);
  journal->fail_next({outage()});
  journal->fail_next({outage()});
  CAF_CHECK_EQUAL(pass(100ms), 1u); // retry 1 fails: next in 200 ms
  CAF_CHECK(!next_journal_state());  // still down: nobody is told again
  CAF_CHECK_EQUAL(pass(199ms), 0u);
  CAF_CHECK_EQUAL(pass(1ms), 1u); // retry 2 fails: next in 400 ms
  CAF_CHECK_EQUAL(pass(399ms), 0u);
  CAF_CHECK_EQUAL(pass(1ms), 1u); // retry 3 commits
  auto s = next_journal_state();
  CAF_REQUIRE(s.has_value());
  CAF_CHECK(s->first);
  CAF_CHECK(next<batch_result>().has_value());
}

CAF_TEST(UP to DOWN by the health ping of an idle journal and back by the retry ping) {
  persistence_options o;
  o.health_interval = 3s;
  start(o);
  journal->fail_next({outage()});
  pass(3s); // idle for the health interval: a ping, which fails
  auto s = next_journal_state();
  CAF_REQUIRE(s.has_value());
  CAF_CHECK(!s->first);
  CAF_CHECK_EQUAL(journal->faults_left(), 0u);
  pass(100ms); // the retry pings (nothing waits), which succeeds
  s = next_journal_state();
  CAF_REQUIRE(s.has_value());
  CAF_CHECK(s->first);
}

CAF_TEST(a data error splits the group: only the refused request fails and the journal stays UP) {
  start();
  journal->reject_if([](const batch& b) {
    for (const auto& s : b.submits)
      if (s.spec.name == "bad")
        return true;
    return false;
  });
  self->send(p, submits({"good"}));
  self->send(p, submits({"bad"}));
  self->send(p, submits({"fine"}));
  run();
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{1}));
  CAF_CHECK_EQUAL(next_error_code(), static_cast<uint8_t>(errc::bad_request));
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{2}));
  CAF_CHECK(!next_journal_state()); // never down
  CAF_CHECK_EQUAL(journal->list_tasks({}).size(), 2u);
  CAF_CHECK_EQUAL(journal->commits(), 4); // the group, then each alone
}

CAF_TEST(a commit in doubt that went through is answered once from the commit log) {
  start();
  journal->fail_next({outage(true), true}); // written, then the connection broke
  ask(p, submits({"a"}));
  auto s = next_journal_state();
  CAF_REQUIRE(s && !s->first);
  // Even a submit-only request waits: its unit may have committed.
  CAF_CHECK(!next<caf::error>());
  pass(100ms);
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{1}));
  CAF_CHECK_EQUAL(journal->list_tasks({}).size(), 1u); // never twice
}

CAF_TEST(a commit in doubt that did not go through is written by the retry) {
  start();
  journal->fail_next({outage(true)});
  ask(p, submits({"a"}));
  CAF_CHECK(!next<caf::error>());
  CAF_CHECK_EQUAL(journal->list_tasks({}).size(), 0u);
  pass(100ms);
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{1}));
  CAF_CHECK_EQUAL(journal->list_tasks({}).size(), 1u);
}

CAF_TEST(serialization failures are retried at once and the fifth counts as an outage) {
  start();
  auto conflict = [] { return store_error{"could not serialize access", true, false, "40001"}; };
  for (int i = 0; i < 4; ++i)
    journal->fail_next({conflict()});
  ask(p, submits({"a"}));
  CAF_CHECK_EQUAL(ids(), (std::vector<int64_t>{1}));
  CAF_CHECK(!next_journal_state());
  for (int i = 0; i < 5; ++i)
    journal->fail_next({conflict()});
  ask(p, start_of(1));
  auto s = next_journal_state();
  CAF_REQUIRE(s.has_value());
  CAF_CHECK(!s->first);
}

CAF_TEST(a fenced commit stops the actor with stepped_down) {
  start();
  self->monitor(p);
  journal->fail_next({store_error::fenced("another head took over")});
  ask(p, submits({"a"}));
  caf::error reason;
  self->receive([&](caf::down_msg& d) { reason = d.reason; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK_EQUAL(taskrt_code(reason), static_cast<uint8_t>(errc::stepped_down));
  p = nullptr;
}

CAF_TEST(a load waits while DOWN and is served once the journal is back) {
  start();
  const auto a = submit_one("a");
  submit_one("b");
  node_row n;
  n.id = "n1";
  ask(p, n); // journaled with the next flush
  CAF_CHECK_EQUAL(journal->nodes().size(), 1u);
  go_down(a);
  ask(p, load_atom::value);
  CAF_CHECK(!next<recovery_data>());
  pass(100ms);
  auto d = next<recovery_data>();
  CAF_REQUIRE(d.has_value());
  CAF_CHECK_EQUAL(d->tasks.size(), 2u);
  CAF_CHECK_EQUAL(d->nodes.size(), 1u);
  CAF_CHECK_EQUAL(d->max_id, 2);
  CAF_CHECK_EQUAL(d->generation, 1);
  CAF_CHECK_EQUAL(journal->fence_generation(), 1); // its writes are fenced from now on
}

CAF_TEST(window and horizon reads see every write sent before them) {
  start();
  self->send(p, submits({"a", "b"}));
  window_query q;
  q.queue = "default";
  q.now_us = t0;
  q.limit = 10;
  self->send(p, window_atom::value, q);
  run();
  CAF_CHECK(next<batch_result>().has_value());
  auto w = next<window_rows>();
  CAF_REQUIRE(w.has_value());
  CAF_CHECK_EQUAL(w->tasks.size(), 2u);
  ask(p, later_atom::value, t0 - 1, t0);
  auto l = next<window_rows>();
  CAF_REQUIRE(l.has_value());
  CAF_CHECK_EQUAL(l->tasks.size(), 2u);
}

CAF_TEST(node rows are written with the next flush and old dead ones pruned) {
  start();
  node_row a{"a", "127.0.0.1:1", 1, 0, "ALIVE", t0, t0};
  node_row b{"b", "127.0.0.1:2", 1, 0, "DEAD", t0, t0};
  ask(p, std::vector<node_row>{a, b});
  CAF_CHECK_EQUAL(journal->nodes().size(), 2u);
  ask(p, prune_atom::value, t0 + 1);
  auto n = next<int64_t>();
  CAF_REQUIRE(n.has_value());
  CAF_CHECK_EQUAL(*n, 1);
}

CAF_TEST(the submit lane opens after the first load and its outage is an outage of the journal) {
  start_with_lane();
  ask(p, load_atom::value);
  CAF_REQUIRE(next<recovery_data>().has_value());
  CAF_CHECK_EQUAL(opened, 1);
  CAF_CHECK_EQUAL(lane->fence_generation(), 1); // fenced like the main writer
  const auto id = submit_one("a"); // through the lane
  // The lane's connection fails: subscribers see the journal down ...
  journal->fail_next({outage()});
  ask(p, submits({"b"}));
  CAF_CHECK_EQUAL(next_error_code(), static_cast<uint8_t>(errc::unavailable));
  auto s = next_journal_state();
  CAF_REQUIRE(s.has_value());
  CAF_CHECK(!s->first);
  // ... while the main writer commits transitions beside it.
  ask(p, start_of(id));
  auto r = next<batch_result>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK_EQUAL(r->applied, std::vector<bool>{true});
  pass(100ms); // the lane's retry ping: up again
  s = next_journal_state();
  CAF_REQUIRE(s.has_value());
  CAF_CHECK(s->first);
}

CAF_TEST(the submit lane never lingers: the commit of a submit is on the path to its start) {
  persistence_options o;
  o.linger = 3ms;
  start_with_lane(o);
  ask(p, load_atom::value);
  CAF_REQUIRE(next<recovery_data>().has_value());
  submit_one("a");
  const auto before = lane->commits();
  submit_one("b"); // right after: committed at once all the same
  CAF_CHECK_EQUAL(lane->commits(), before + 1);
}

CAF_TEST(a submit sent after the lane opened commits after one the main writer still held) {
  // The window: a submit reaches the router before the first load is
  // served, so it goes to the main writer, behind the load; the lane opens
  // with the load; a submit sent next goes to the lane. The main writer's
  // commit of the first is in doubt and retried after the backoff: the
  // second must not commit meanwhile (ids are handed out in commit order).
  start_with_lane();
  self->send(p, load_atom::value);
  self->send(p, submits({"early"}));
  while (opened == 0)
    sched.run_once();
  journal->fail_next({outage(true)}); // the main writer's commit of "early"
  run();
  self->send(p, submits({"late"}));
  run();
  pass(1s); // the main writer's retry
  pass(1s);
  std::map<std::string, int64_t> id_of;
  for (const auto& t : journal->list_tasks({}))
    id_of[t.name] = t.id;
  CAF_REQUIRE_EQUAL(id_of.size(), 2u);
  CAF_CHECK_LESS(id_of.at("early"), id_of.at("late"));
  CAF_CHECK_EQUAL(journal->faults_left(), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()

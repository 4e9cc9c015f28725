// The scheduler's handlers on CAF's test coordinator: the real scheduler,
// persistence and retry actors over memory_journal (no Postgres), the test
// playing the head's worker (through a puppet actor) and worker nodes.
// Dispatch, leases and fencing, the retry decision, hand-backs, cancel,
// drain, recovery and adoption after a restart, and journal outages: each
// checked in the journal the scheduler wrote, not in the batches it sent.
#define CAF_SUITE scheduler
#include "tests/actors/caf/caf_fixture.hpp"

#include "taskrt/actors/persistence_actor.hpp"
#include "taskrt/actors/retry_actor.hpp"
#include "taskrt/actors/scheduler.hpp"
#include "taskrt/persistence/memory_journal.hpp"
#include "taskrt/runtime/time.hpp"
#include "taskrt/runtime/version.hpp"

#include <nlohmann/json.hpp>

using namespace taskrt;
using namespace taskrt::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::string boom = R"({"kind":"ValueError","ancestors":["Exception"],"message":"boom"})";

struct fixture : caf_fixture {
  std::shared_ptr<memory_journal> journal = std::make_shared<memory_journal>();
  task_registry registry;
  strategy_registry strategies;
  scheduler_config sc;
  caf::actor persistence, retry, sched, worker;
  std::vector<caf::actor> puppets; ///< more workers than `worker`

  fixture() {
    registry.add("work", [](task_context&, const json&) { return json{}; });
    sc.node_id = "head";
    sc.local_slots = 1;
    sc.registry = &registry;
  }

  ~fixture() override {
    for (auto& p : puppets)
      caf::anon_send_exit(p, caf::exit_reason::kill);
    for (auto* a : {&worker, &sched, &retry, &persistence})
      if (*a)
        caf::anon_send_exit(*a, caf::exit_reason::kill);
    run();
  }

  /// Spawns persistence (scheduled) and the scheduler, which recovers from
  /// the journal; `worker` is a puppet: what the test sends it goes to the
  /// scheduler as if the worker sent it, what the scheduler sends it comes
  /// to the test.
  void start() {
    spawn_all();
    run();
  }

  /// start() without running: the test may send before recovery.
  void spawn_all() {
    persistence_options o;
    o.detached = false;
    o.linger = {}; // commits at once: this suite counts commits, not time
    persistence = spawn_persistence(sys, journal_ports::of(journal), o);
    retry = spawn_retry_actor(sys, &strategies);
    sc.persistence = persistence;
    sc.retry = retry;
    sched = spawn_scheduler(sys, sc);
    worker = puppet();
  }

  /// A worker puppet of the scheduler (see start()).
  caf::actor puppet() {
    auto me = caf::actor_cast<caf::strong_actor_ptr>(self);
    auto me_actor = caf::actor_cast<caf::actor>(self);
    return sys.spawn([me, me_actor, to = sched](caf::event_based_actor* a) -> caf::behavior {
      a->set_default_handler(
        [me, me_actor, to](caf::scheduled_actor* p, caf::message_view& x) -> caf::result<caf::message> {
          auto msg = x.move_content_to_message();
          auto* self = static_cast<caf::event_based_actor*>(p);
          if (self->current_sender() == me)
            self->send(to, std::move(msg));
          else
            self->send(me_actor, std::move(msg));
          return caf::delegated<caf::message>{};
        });
      // Told to stop (the drain): the test hears it as (stop_atom); the
      // puppet stays, as a worker stays to hand its attempt back.
      a->set_exit_handler([me_actor](caf::scheduled_actor* p, caf::exit_msg&) {
        static_cast<caf::event_based_actor*>(p)->send(me_actor, stop_atom::value);
      });
      return {[](caf::unit_t) {}};
    });
  }

  void worker_ready() {
    send_ready(worker, 1);
    run();
  }

  /// Puppet `w` (pid `pid`) tells the scheduler it is ready.
  void send_ready(const caf::actor& w, int32_t pid) {
    worker_info info;
    info.node = "head";
    info.pid = pid;
    self->send(w, ready_atom::value, info, w);
  }

  /// Three tasks journaled before a start, three workers ready at
  /// recovery: one round dispatches them. Returns the commits their starts
  /// took.
  int64_t start_commits_of_one_round() {
    for (int i = 0; i < 3; ++i)
      journaled();
    spawn_all();
    send_ready(worker, 1);
    puppets = {puppet(), puppet()};
    send_ready(puppets[0], 2);
    send_ready(puppets[1], 3);
    const auto before = journal->commits();
    run();
    int dispatched = 0;
    while (next<dispatch_msg>())
      ++dispatched;
    CAF_CHECK_EQUAL(dispatched, 3);
    return journal->commits() - before;
  }

  static task_spec spec_of(const std::string& name) {
    task_spec spec;
    spec.name = name;
    return spec;
  }

  int64_t submit_ok(const std::string& policy, int64_t run_at_us = 0) {
    task_spec spec;
    spec.name = "work";
    spec.policy = policy;
    spec.run_at_us = run_at_us;
    ask(sched, submit_atom::value, spec);
    auto id = next<int64_t>();
    CAF_REQUIRE(id.has_value());
    return *id;
  }

  void done(const dispatch_msg& d, task_state outcome, const std::string& error = "",
            const std::string& detail = "{}") {
    attempt_done_msg m;
    m.task_id = d.task_id;
    m.attempt = d.attempt;
    m.lease_epoch = d.lease_epoch;
    m.outcome = outcome;
    m.result = outcome == task_state::succeeded ? R"({"ok":true})" : "";
    m.error = error;
    m.detail = detail;
    self->send(worker, m);
    run();
  }

  task_record row(int64_t id) {
    auto r = journal->get_task(id);
    CAF_REQUIRE(r.has_value());
    return *r;
  }

  std::vector<std::string> kinds(int64_t id) {
    std::vector<std::string> out;
    for (const auto& e : journal->events(id))
      out.push_back(to_string(e.kind));
    return out;
  }

  std::optional<event_row> last_event(int64_t id, const std::string& kind) {
    std::optional<event_row> out;
    for (auto& e : journal->events(id))
      if (to_string(e.kind) == kind)
        out = e;
    return out;
  }

  /// Writes a task straight into the journal, as an earlier head left it.
  int64_t journaled(const std::string& policy = R"({"retries":0})") {
    journal_store::batch b;
    journal_store::submit_item it;
    it.spec.name = "work";
    it.spec.policy = policy;
    it.now_us = to_micros(now()) - 1'000'000;
    b.submits.push_back(it);
    return journal->commit(b).submitted_ids.at(0);
  }

  void journal_transition(int64_t id, transition_kind kind, task_state from, int32_t attempt,
                          int32_t new_attempt, const std::string& node = "",
                          int64_t lease_epoch = 0, json detail = json::object()) {
    journal_store::batch b;
    journal_store::transition_item t;
    t.task_id = id;
    t.kind = kind;
    t.expected_state = from;
    t.expected_attempt = attempt;
    t.new_attempt = new_attempt;
    t.lease_epoch = lease_epoch;
    t.node = node;
    t.detail = std::move(detail);
    if (kind == transition_kind::fail)
      t.error = boom;
    t.at_us = to_micros(now());
    b.transitions.push_back(t);
    CAF_REQUIRE(journal->commit(b).applied.at(0));
  }

  register_reply register_node(const std::string& id, std::vector<running_attempt> running) {
    node_info n;
    n.id = id;
    n.host = "127.0.0.1";
    n.slots = 1;
    n.pid = 2;
    n.tasks = {"work"};
    n.version = version();
    ask(sched, register_atom::value, n, running);
    auto r = next<register_reply>();
    CAF_REQUIRE(r.has_value());
    return *r;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(scheduler_tests, fixture)

CAF_TEST(dispatch comes after the start commit and its lease carries the head generation) {
  for (int i = 0; i < 6; ++i) // six earlier head lifetimes
    journal->next_head_generation();
  journal->fence_on(0);
  start();
  const auto id = submit_ok(R"({"retries":0})");
  CAF_CHECK(row(id).state == task_state::queued);
  worker_ready();
  auto d = next<dispatch_msg>();
  CAF_REQUIRE(d.has_value());
  CAF_CHECK_EQUAL(d->task_id, id);
  CAF_CHECK_EQUAL(d->attempt, 1);
  CAF_CHECK_EQUAL(d->lease_epoch >> 32, 7); // this head lifetime's generation
  auto r = row(id);
  CAF_CHECK(r.state == task_state::running);
  CAF_CHECK_EQUAL(r.lease_epoch, d->lease_epoch);
  CAF_CHECK_EQUAL(r.node, "head");
}

CAF_TEST(one dispatch round journals its starts in one group commit) {
  CAF_CHECK_EQUAL(start_commits_of_one_round(), 1);
}

CAF_TEST(dispatching pauses while journal_backlog transitions wait for their commit) {
  // A backlog of one: each start must commit before the next dispatch, so
  // the round's three starts take three commits (workers faster than the
  // journal wait in the ready queue instead of piling ends on it).
  sc.journal_backlog = 1;
  CAF_CHECK_EQUAL(start_commits_of_one_round(), 3);
}

CAF_TEST(a submit no ALIVE node can run says why in its submit event and in its one commit) {
  sc.local_slots = 0; // the head knows "work" but runs no worker
  start();
  const auto before = journal->commits();
  const auto id = submit_ok(R"({"retries":0})");
  run(); // whatever the head journals after the answer
  CAF_CHECK_EQUAL(journal->commits() - before, 1);
  CAF_CHECK(kinds(id) == std::vector<std::string>{"submit"});
  auto ev = last_event(id, "submit");
  CAF_REQUIRE(ev.has_value());
  CAF_CHECK_EQUAL(json::parse(ev->detail).value("waiting", ""), "no ALIVE node runs work");
  register_node("n2", {}); // a node that runs it: the next submit is not waiting
  const auto id2 = submit_ok(R"({"retries":0})");
  auto ev2 = last_event(id2, "submit");
  CAF_REQUIRE(ev2.has_value());
  CAF_CHECK(!json::parse(ev2->detail).contains("waiting"));
}

CAF_TEST(a success is journaled and then answered to await) {
  start();
  worker_ready();
  const auto id = submit_ok(R"({"retries":0})");
  auto d = next<dispatch_msg>();
  CAF_REQUIRE(d.has_value());
  done(*d, task_state::succeeded);
  CAF_CHECK(row(id).state == task_state::succeeded);
  ask(sched, await_atom::value, id);
  auto out = next<task_outcome>();
  CAF_REQUIRE(out.has_value());
  CAF_CHECK(out->state == task_state::succeeded);
  CAF_CHECK(json::parse(out->result) == (json{{"ok", true}}));
}

CAF_TEST(retry decision: a failure with budget left is failed and re-queued in one commit) {
  start();
  worker_ready();
  const auto id = submit_ok(R"({"retries":2,"wait":0})");
  auto d1 = next<dispatch_msg>();
  CAF_REQUIRE(d1.has_value());
  const auto commits = journal->commits();
  done(*d1, task_state::failed, boom);
  auto fail = last_event(id, "fail");
  CAF_REQUIRE(fail.has_value());
  CAF_CHECK(json::parse(fail->detail)["decision"]["decision"] == "retry");
  CAF_CHECK(json::parse(fail->detail)["decision"]["inputs"]["error_kind"] == "ValueError");
  auto retry = last_event(id, "retry");
  CAF_REQUIRE(retry.has_value());
  CAF_CHECK(retry->from_state == task_state::failed);
  CAF_CHECK(!last_event(id, "retry_decision")); // no separate decision note any more
  auto d2 = next<dispatch_msg>();
  CAF_REQUIRE(d2.has_value());
  CAF_CHECK_EQUAL(d2->attempt, 2);
  CAF_CHECK(d2->lease_epoch != d1->lease_epoch);
  CAF_CHECK_EQUAL(kinds(id), (std::vector<std::string>{"submit", "start", "fail", "retry", "start"}));
  CAF_CHECK_EQUAL(journal->commits() - commits, 2); // fail+retry, then the start
}

CAF_TEST(retry decision: giving up is final and the fail event says so) {
  start();
  worker_ready();
  const auto id = submit_ok(R"({"retries":0})");
  auto d = next<dispatch_msg>();
  CAF_REQUIRE(d.has_value());
  done(*d, task_state::failed, boom);
  CAF_CHECK(row(id).state == task_state::failed);
  CAF_CHECK(json::parse(last_event(id, "fail")->detail)["decision"]["decision"] == "give_up");
  CAF_CHECK(!last_event(id, "retry"));
  CAF_CHECK(!next<dispatch_msg>());
}

CAF_TEST(fencing: a result under another lease is journaled stale and changes nothing) {
  start();
  worker_ready();
  const auto id = submit_ok(R"({"retries":0})");
  auto d = next<dispatch_msg>();
  CAF_REQUIRE(d.has_value());
  auto stale = *d;
  stale.lease_epoch = d->lease_epoch - 1;
  done(stale, task_state::succeeded);
  CAF_CHECK(last_event(id, "stale_result").has_value());
  CAF_CHECK(row(id).state == task_state::running);
  done(*d, task_state::succeeded);
  CAF_CHECK(row(id).state == task_state::succeeded);
}

CAF_TEST(a hand-back is not a try: the same attempt runs again under a new lease) {
  start();
  worker_ready();
  const auto id = submit_ok(R"({"retries":0})");
  auto d1 = next<dispatch_msg>();
  CAF_REQUIRE(d1.has_value());
  done(*d1, task_state::queued, "", R"({"handback":"prefetch_wait"})");
  auto d2 = next<dispatch_msg>();
  CAF_REQUIRE(d2.has_value());
  CAF_CHECK_EQUAL(d2->attempt, 1);
  CAF_CHECK(d2->lease_epoch > d1->lease_epoch);
  CAF_CHECK(d2->last_attempt); // no budget spent
  auto rq = last_event(id, "requeue");
  CAF_REQUIRE(rq.has_value());
  CAF_CHECK_EQUAL(rq->attempt, 1);
}

CAF_TEST(cancel of a QUEUED task is journaled CANCELLED before it is answered) {
  start();
  worker_ready();
  const auto id = submit_ok(R"({"retries":0})", to_micros(now()) + 3'600'000'000LL);
  ask(sched, cancel_atom::value, id, std::string{"test"});
  auto s = next<task_state>();
  CAF_REQUIRE(s.has_value());
  CAF_CHECK(*s == task_state::cancelled);
  CAF_CHECK(row(id).state == task_state::cancelled);
  CAF_CHECK(!next<dispatch_msg>());
}

CAF_TEST(cancel of a RUNNING task is journaled as requested and delivered to its worker) {
  start();
  worker_ready();
  const auto id = submit_ok(R"({"retries":0})");
  auto d = next<dispatch_msg>();
  CAF_REQUIRE(d.has_value());
  self->send(sched, cancel_atom::value, id, std::string{"test"});
  run();
  CAF_CHECK(row(id).cancel_requested);
  CAF_CHECK(last_event(id, "cancel_requested").has_value());
  bool told = false;
  self->receive([&](cancel_atom, int64_t t) { told = t == id; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK(told);
  done(*d, task_state::cancelled);
  CAF_CHECK(row(id).state == task_state::cancelled);
}

CAF_TEST(drain: an idle head leaves and flushes the journal and stops) {
  start();
  worker_ready();
  self->monitor(sched);
  self->send(sched, stop_atom::value);
  run();
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK(down);
  auto nodes = journal->nodes();
  CAF_REQUIRE_EQUAL(nodes.size(), 1u);
  CAF_CHECK_EQUAL(nodes[0].state, "LEFT");
  sched = nullptr;
}

CAF_TEST(drain: a running attempt gets the grace and then the workers are stopped) {
  sc.drain_grace_s = 2;
  start();
  worker_ready();
  const auto id = submit_ok(R"({"retries":0})");
  auto d = next<dispatch_msg>();
  CAF_REQUIRE(d.has_value());
  self->monitor(sched);
  self->send(sched, stop_atom::value);
  run();
  ask(sched, submit_atom::value, spec_of("work"));
  CAF_CHECK_EQUAL(next_error_code(), static_cast<uint8_t>(errc::shutting_down));
  pass(1999ms);
  CAF_CHECK(!next<stop_atom>()); // still within the grace
  pass(1ms);
  CAF_CHECK(next<stop_atom>().has_value()); // the local worker is told to stop
  CAF_CHECK(row(id).state == task_state::running);
  // It hands its attempt back (not a try); then the drain is over.
  done(*d, task_state::queued, "", R"({"handback":"shutdown"})");
  CAF_CHECK(row(id).state == task_state::queued);
  CAF_CHECK(last_event(id, "requeue").has_value());
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK(down);
  sched = nullptr;
}

CAF_TEST(recovery: a failure an older head left undecided is decided and retried) {
  const auto id = journaled(R"({"retries":3,"wait":0})");
  journal_transition(id, transition_kind::start, task_state::queued, 0, 1, "head", 5);
  journal_transition(id, transition_kind::fail, task_state::running, 1, 1); // no decision
  start();
  auto note = last_event(id, "retry_decision");
  CAF_REQUIRE(note.has_value());
  CAF_CHECK(json::parse(note->detail)["decision"] == "retry");
  CAF_CHECK(row(id).state == task_state::queued);
  worker_ready();
  auto d = next<dispatch_msg>();
  CAF_REQUIRE(d.has_value());
  CAF_CHECK_EQUAL(d->task_id, id);
  CAF_CHECK_EQUAL(d->attempt, 2);
}

CAF_TEST(recovery: an await of an undecided failure hears the decision to give up) {
  // The window: the await arrives before recovery, joins the task's waiters
  // while its retry decision is being made, and the decision is final.
  const auto id = journaled(R"({"retries":0})");
  journal_transition(id, transition_kind::start, task_state::queued, 0, 1, "head", 5);
  journal_transition(id, transition_kind::fail, task_state::running, 1, 1); // no decision
  spawn_all();
  self->send(sched, await_atom::value, id);
  run();
  auto note = last_event(id, "retry_decision");
  CAF_REQUIRE(note.has_value());
  CAF_CHECK(json::parse(note->detail)["decision"] == "give_up");
  auto out = next<task_outcome>();
  CAF_REQUIRE(out.has_value());
  CAF_CHECK_EQUAL(out->id, id);
  CAF_CHECK(out->state == task_state::failed);
  CAF_CHECK_EQUAL(out->attempt, 1);
}

CAF_TEST(recovery: a cancel requested before the restart is carried out) {
  const auto id = journaled();
  journal_store::batch b;
  b.notes.push_back({id, 0, note_kind::cancel_requested, json::object(), to_micros(now()), "head"});
  journal->commit(b);
  start();
  CAF_CHECK(row(id).state == task_state::cancelled);
  worker_ready();
  CAF_CHECK(!next<dispatch_msg>());
}

CAF_TEST(recovery: RUNNING attempts of the head itself died with it and end LOST) {
  const auto id = journaled();
  journal_transition(id, transition_kind::start, task_state::queued, 0, 1, "head", 5);
  start();
  auto lose = last_event(id, "lose");
  CAF_REQUIRE(lose.has_value());
  CAF_CHECK(json::parse(lose->detail)["reason"] == "head restarted");
}

CAF_TEST(adoption: a node that re-registers with its attempt keeps it) {
  const auto id = journaled();
  const int64_t lease = (int64_t{1} << 32) | 1;
  journal_transition(id, transition_kind::start, task_state::queued, 0, 1, "n2", lease);
  start();
  CAF_CHECK(row(id).state == task_state::running); // waits for its node
  auto reply = register_node("n2", {{id, 1, lease, worker}});
  CAF_CHECK(reply.drop.empty());
  CAF_CHECK(last_event(id, "adopted").has_value());
  attempt_done_msg m;
  m.task_id = id;
  m.attempt = 1;
  m.lease_epoch = lease;
  m.outcome = task_state::succeeded;
  m.result = "{}";
  m.detail = "{}";
  self->send(worker, m);
  run();
  CAF_CHECK(row(id).state == task_state::succeeded);
}

CAF_TEST(adoption: an attempt whose node does not come back within the grace ends LOST) {
  sc.adopt_grace_s = 0;
  const auto id = journaled();
  const int64_t lease = (int64_t{1} << 32) | 1;
  journal_transition(id, transition_kind::start, task_state::queued, 0, 1, "n2", lease);
  start();
  pass(500ms); // the node check tick (a sixth of suspect_after_s, at most 500 ms)
  auto lose = last_event(id, "lose");
  CAF_REQUIRE(lose.has_value());
  CAF_CHECK(json::parse(lose->detail)["reason"] == "not adopted after head restart");
  // The node comes back later: it is told to drop the attempt.
  auto reply = register_node("n2", {{id, 1, lease, worker}});
  CAF_REQUIRE_EQUAL(reply.drop.size(), 1u);
  CAF_CHECK_EQUAL(reply.drop[0].task_id, id);
  CAF_CHECK(last_event(id, "fenced_attempt").has_value());
}

CAF_TEST(adoption: a re-registration naming no worker for its attempt is told to drop it) {
  const auto id = journaled();
  const int64_t lease = (int64_t{1} << 32) | 1;
  journal_transition(id, transition_kind::start, task_state::queued, 0, 1, "n2", lease);
  start();
  // A peer can send anything: a null worker handle is never monitored or adopted.
  auto reply = register_node("n2", {{id, 1, lease, caf::actor{}}});
  CAF_REQUIRE_EQUAL(reply.drop.size(), 1u);
  CAF_CHECK_EQUAL(reply.drop[0].task_id, id);
  CAF_CHECK(!last_event(id, "adopted").has_value());
  CAF_CHECK(last_event(id, "fenced_attempt").has_value());
}

CAF_TEST(a registration without a sender is refused and the head keeps running) {
  start();
  node_info n;
  n.id = "n2";
  n.host = "127.0.0.1";
  n.slots = 1;
  n.pid = 2;
  n.version = version();
  // What CAF 0.17 delivers for a message that came over a connection whose
  // node it had already purged (cluster/connection_reuse.hpp): no sender.
  caf::anon_send(sched, register_atom::value, n, std::vector<running_attempt>{});
  run();
  ask(sched, nodes_atom::value);
  auto views = next<std::vector<node_view>>();
  CAF_REQUIRE(views.has_value());
  for (const auto& v : *views)
    CAF_CHECK(v.id != "n2");
  CAF_CHECK(register_node("n2", {}).drop.empty()); // a proper registration still works
}

CAF_TEST(journal outage: submits are refused and dispatch waits until it is back) {
  start();
  const auto id = submit_ok(R"({"retries":0})");
  journal->fail_next({store_error{"connection refused", true}});
  ask(sched, submit_atom::value, spec_of("work"));
  auto refused = next<caf::error>();
  CAF_REQUIRE(refused.has_value());
  CAF_CHECK_EQUAL(taskrt_code(*refused), static_cast<uint8_t>(errc::unavailable));
  CAF_CHECK(error_message(*refused).find("journal unavailable") != std::string::npos);
  CAF_CHECK(error_message(*refused).find("connection refused") != std::string::npos);
  ask(sched, status_atom::value);
  auto s = next<head_status>();
  CAF_REQUIRE(s.has_value());
  CAF_CHECK(!s->journal_up);
  CAF_CHECK_EQUAL(s->journal_error, "connection refused");
  worker_ready();
  CAF_CHECK(!next<dispatch_msg>());
  pass(100ms); // the persistence actor's retry: the journal answers again
  auto d = next<dispatch_msg>();
  CAF_REQUIRE(d.has_value());
  CAF_CHECK_EQUAL(d->task_id, id);
}

CAF_TEST(a manual retry of a task waiting for a later run_at runs it now) {
  start();
  worker_ready();
  const auto later = to_micros(now()) + 3'600'000'000LL;
  const auto id = submit_ok(R"({"retries":0})", later);
  CAF_CHECK(!next<dispatch_msg>());
  manual_retry_msg m;
  m.id = id;
  m.origin = "test";
  ask(sched, mretry_atom::value, m);
  auto got = next<int64_t>();
  CAF_REQUIRE(got.has_value());
  CAF_CHECK_EQUAL(*got, id);
  auto d = next<dispatch_msg>();
  CAF_REQUIRE(d.has_value());
  CAF_CHECK_EQUAL(d->task_id, id);
  auto mr = last_event(id, "manual_retry");
  CAF_REQUIRE(mr.has_value());
  CAF_CHECK(mr->from_state == task_state::queued);
  CAF_CHECK(row(id).run_at_us < later);
}

CAF_TEST(a batch submit is one commit with ids in order and one bad spec refuses it) {
  start();
  std::vector<task_spec> specs(3);
  for (auto& x : specs)
    x.name = "work";
  const auto commits = journal->commits();
  ask(sched, submit_atom::value, specs);
  auto ids = next<std::vector<int64_t>>();
  CAF_REQUIRE(ids.has_value());
  CAF_CHECK_EQUAL(*ids, (std::vector<int64_t>{1, 2, 3}));
  CAF_CHECK_EQUAL(journal->commits() - commits, 1);
  specs[1].name = "nope";
  ask(sched, submit_atom::value, specs);
  auto err = next<caf::error>();
  CAF_REQUIRE(err.has_value());
  CAF_CHECK(error_message(*err).find("task 1 of the batch") != std::string::npos);
  CAF_CHECK(error_message(*err).find("unknown task 'nope'") != std::string::npos);
  CAF_CHECK_EQUAL(journal->list_tasks({}).size(), 3u);
}

CAF_TEST(status counts QUEUED tasks waiting on a lock or scheduled and RUNNING ones) {
  start();
  auto status = [&] {
    ask(sched, status_atom::value);
    auto s = next<head_status>();
    CAF_REQUIRE(s.has_value());
    return *s;
  };
  auto submit_locked = [&](int32_t priority) {
    task_spec spec;
    spec.name = "work";
    spec.lock = "L";
    spec.priority = priority;
    ask(sched, submit_atom::value, spec);
    auto id = next<int64_t>();
    CAF_REQUIRE(id.has_value());
    return *id;
  };
  const auto a = submit_locked(5);
  const auto b = submit_locked(1);
  const auto c = submit_ok(R"({"retries":0})", to_micros(now()) + 3'600'000'000LL);
  auto s = status();
  CAF_CHECK_EQUAL(s.queued, 3);
  CAF_CHECK_EQUAL(s.running, 0);
  worker_ready();
  auto d1 = next<dispatch_msg>();
  CAF_REQUIRE(d1.has_value());
  CAF_CHECK_EQUAL(d1->task_id, a);
  s = status();
  CAF_CHECK_EQUAL(s.queued, 2); // b waits on L, c is scheduled
  CAF_CHECK_EQUAL(s.running, 1);
  CAF_CHECK_EQUAL(s.workers, 1);
  CAF_CHECK_EQUAL(s.busy, 1);
  done(*d1, task_state::succeeded);
  auto d2 = next<dispatch_msg>(); // L is free again: b, not c (scheduled for later)
  CAF_REQUIRE(d2.has_value());
  CAF_CHECK_EQUAL(d2->task_id, b);
  s = status();
  CAF_CHECK_EQUAL(s.queued, 1);
  CAF_CHECK_EQUAL(s.running, 1);
  ask(sched, cancel_atom::value, c, std::string{"test"});
  auto cancelled = next<task_state>();
  CAF_REQUIRE(cancelled.has_value());
  CAF_CHECK(*cancelled == task_state::cancelled);
  CAF_CHECK_EQUAL(status().queued, 0);
  done(*d2, task_state::succeeded);
  CAF_CHECK(!next<dispatch_msg>());
  CAF_CHECK(row(a).state == task_state::succeeded);
  CAF_CHECK(row(b).state == task_state::succeeded);
  s = status();
  CAF_CHECK_EQUAL(s.queued, 0);
  CAF_CHECK_EQUAL(s.running, 0);
  CAF_CHECK_EQUAL(s.busy, 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

/// The scheduler's decisions against a fake journal (no Postgres, no
/// processes): one commit per retry decision, leases unique across head
/// lifetimes and fencing by lease, hand-backs that are not tries, recovery of
/// half-decided failures and pending cancels, journal outages, retry-now and
/// batch submits. What the journal then does with these batches is tested
/// against a real Postgres in tests/pg.

#include "actors/retry_actor.hpp"
#include "actors/scheduler.hpp"
#include "tests/actors/fake_journal.hpp"

#include <catch2/catch.hpp>

#include <chrono>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// One scheduler with a fake journal, the real retry actor, and the test's
/// scoped actor standing in for a worker of the head's own node.
struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<journal_log> log = std::make_shared<journal_log>();
  task_registry registry;
  strategy_registry strategies;
  caf::actor journal, retry, sched;
  std::unique_ptr<caf::scoped_actor> worker;

  explicit fixture(recovery_data rec = {}) {
    register_protocol(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    task_fn noop = [](task_context&, const json&) { return json{}; };
    registry.add("work", noop);
    log->recovery = std::move(rec);
    journal = spawn_fake_journal(*sys, log);
    retry = spawn_retry_actor(*sys, &strategies);
    scheduler_config sc;
    sc.node_id = "head";
    sc.local_slots = 1;
    sc.registry = &registry;
    sc.persistence = journal;
    sc.retry = retry;
    sched = spawn_scheduler(*sys, sc);
    worker = std::make_unique<caf::scoped_actor>(*sys);
  }

  ~fixture() {
    for (auto& a : {sched, retry, journal})
      caf::anon_send_exit(a, caf::exit_reason::kill);
    worker.reset();
  }

  /// The worker announces itself (capacity 1: no prefetch).
  void worker_ready() {
    worker_info info;
    info.node = "head";
    info.pid = 1;
    (*worker)->send(sched, ready_atom::value, info, caf::actor_cast<caf::actor>(*worker));
  }

  /// Submits `spec`; the id, or the error's message as a negative outcome.
  std::variant<int64_t, std::string> submit(task_spec spec) {
    std::variant<int64_t, std::string> out = std::string{"no reply"};
    (*worker)->request(sched, 5s, submit_atom::value, spec)
      .receive([&](int64_t id) { out = id; },
               [&](caf::error& e) { out = error_message(e); });
    return out;
  }

  int64_t submit_ok(const std::string& policy, int64_t run_at_us = 0) {
    task_spec spec;
    spec.name = "work";
    spec.policy = policy;
    spec.run_at_us = run_at_us;
    auto r = submit(spec);
    REQUIRE(std::holds_alternative<int64_t>(r));
    return std::get<int64_t>(r);
  }

  /// The next dispatch to the worker, or nullopt within `wait`.
  std::optional<dispatch_msg> dispatched(std::chrono::milliseconds wait = 2000ms) {
    std::optional<dispatch_msg> out;
    (*worker)->receive([&](dispatch_msg& d) { out = d; }, caf::after(wait) >> [] {});
    return out;
  }

  /// The worker reports the end of `d`.
  void done(const dispatch_msg& d, task_state outcome, const std::string& error = "",
            const std::string& detail = "{}") {
    attempt_done_msg m;
    m.task_id = d.task_id;
    m.attempt = d.attempt;
    m.lease_epoch = d.lease_epoch;
    m.outcome = outcome;
    m.result = outcome == task_state::succeeded ? "{\"ok\":true}" : "";
    m.error = error;
    m.detail = detail;
    (*worker)->send(sched, m);
  }
};

const std::string boom
  = R"({"kind":"ValueError","ancestors":["Exception"],"message":"boom"})";

/// The batch holding the transition of `kind` of task `id`, if any.
std::optional<journal_store::batch> batch_with(const std::vector<journal_store::batch>& bs,
                                               transition_kind kind, int64_t id) {
  for (const auto& b : bs)
    for (const auto& t : b.transitions)
      if (t.kind == kind && t.task_id == id)
        return b;
  return std::nullopt;
}

} // namespace

TEST_CASE("a failed attempt, its retry decision and the re-queue are one commit",
          "[scheduler]") {
  fixture f;
  f.worker_ready();
  const auto id = f.submit_ok(R"({"retries":2,"wait":0})");
  auto d1 = f.dispatched();
  REQUIRE(d1);
  CHECK(d1->attempt == 1);
  f.done(*d1, task_state::failed, boom);
  REQUIRE(f.log->wait_for([&](const auto& bs) {
    return batch_with(bs, transition_kind::fail, id).has_value();
  }));
  auto b = *batch_with(f.log->seen(), transition_kind::fail, id);
  REQUIRE(b.transitions.size() == 2);
  const auto& fail = b.transitions[0];
  const auto& retry = b.transitions[1];
  CHECK(fail.kind == transition_kind::fail);
  CHECK(fail.detail["decision"]["decision"] == "retry");
  CHECK(fail.detail["decision"]["inputs"]["error_kind"] == "ValueError");
  CHECK(retry.kind == transition_kind::retry);
  CHECK(retry.task_id == id);
  CHECK(retry.expected_state == task_state::failed);
  CHECK(retry.expected_attempt == 1);
  // No separate decision note is written any more.
  for (const auto& x : f.log->seen())
    for (const auto& n : x.notes)
      CHECK(n.kind != "retry_decision");
  auto d2 = f.dispatched();
  REQUIRE(d2);
  CHECK(d2->attempt == 2);
  CHECK(d2->lease_epoch != d1->lease_epoch);
}

TEST_CASE("giving up is one commit: the fail transition carries the decision",
          "[scheduler]") {
  fixture f;
  f.worker_ready();
  const auto id = f.submit_ok(R"({"retries":0})");
  auto d = f.dispatched();
  REQUIRE(d);
  f.done(*d, task_state::failed, boom);
  task_outcome out;
  (*f.worker)->request(f.sched, 5s, await_atom::value, id).receive(
    [&](task_outcome& o) { out = o; }, [&](caf::error&) { FAIL("await failed"); });
  CHECK(out.state == task_state::failed);
  auto b = batch_with(f.log->seen(), transition_kind::fail, id);
  REQUIRE(b);
  REQUIRE(b->transitions.size() == 1);
  CHECK(b->transitions[0].detail["decision"]["decision"] == "give_up");
  CHECK(transitions_of(f.log->seen(), transition_kind::retry).empty());
}

TEST_CASE("leases carry the head generation - a result under another lease is fenced",
          "[scheduler]") {
  recovery_data rec;
  rec.generation = 7;
  fixture f{rec};
  f.worker_ready();
  const auto id = f.submit_ok(R"({"retries":0})");
  auto d = f.dispatched();
  REQUIRE(d);
  CHECK((d->lease_epoch >> 32) == 7);
  // The same task and attempt under a lease of an earlier head lifetime
  // (the window: head killed after a dispatch, before its start commit).
  auto stale = *d;
  stale.lease_epoch = (int64_t{6} << 32) | 1;
  f.done(stale, task_state::succeeded);
  REQUIRE(f.log->wait_for([&](const auto& bs) {
    for (const auto& b : bs)
      for (const auto& n : b.notes)
        if (n.kind == "stale_result" && n.task_id == id)
          return true;
    return false;
  }));
  CHECK(transitions_of(f.log->seen(), transition_kind::succeed).empty());
  f.done(*d, task_state::succeeded);
  REQUIRE(f.log->wait_for([&](const auto& bs) {
    return !transitions_of(bs, transition_kind::succeed).empty();
  }));
  CHECK(transitions_of(f.log->seen(), transition_kind::succeed).at(0).lease_epoch
        == d->lease_epoch);
}

TEST_CASE("a hand-back is not a try: the same attempt starts again under a new lease",
          "[scheduler]") {
  fixture f;
  f.worker_ready();
  const auto id = f.submit_ok(R"({"retries":0})");
  auto d1 = f.dispatched();
  REQUIRE(d1);
  f.done(*d1, task_state::queued, "", R"({"handback":"prefetch_wait"})");
  auto d2 = f.dispatched();
  REQUIRE(d2);
  CHECK(d2->attempt == 1);
  CHECK(d2->task_attempt == 1);
  CHECK(d2->lease_epoch > d1->lease_epoch);
  auto requeues = transitions_of(f.log->seen(), transition_kind::requeue);
  REQUIRE(requeues.size() == 1);
  CHECK(requeues[0].task_id == id);
  CHECK(requeues[0].expected_attempt == 1);
  CHECK(requeues[0].new_attempt == 0);
  // A give-up policy: the hand-back spent no budget, so the task still runs.
  CHECK(d2->last_attempt);
}

TEST_CASE("recovery decides a failure an older version left half-done, in one commit",
          "[scheduler]") {
  recovery_data rec;
  task_record t;
  t.id = 41;
  t.name = "work";
  t.state = task_state::failed;
  t.attempt = 1;
  t.policy = R"({"retries":3,"wait":0})";
  t.last_error = boom;
  t.updated_us = to_micros(now());
  rec.tasks.push_back(t);
  fixture f{rec};
  f.worker_ready();
  REQUIRE(f.log->wait_for([&](const auto& bs) {
    return batch_with(bs, transition_kind::retry, 41).has_value();
  }));
  auto b = *batch_with(f.log->seen(), transition_kind::retry, 41);
  REQUIRE(b.notes.size() == 1);
  CHECK(b.notes[0].kind == "retry_decision");
  CHECK(b.notes[0].detail["decision"] == "retry");
  auto d = f.dispatched();
  REQUIRE(d);
  CHECK(d->task_id == 41);
  CHECK(d->attempt == 2);
}

TEST_CASE("a cancel requested before a restart is carried out after it", "[scheduler]") {
  recovery_data rec;
  task_record t;
  t.id = 9;
  t.name = "work";
  t.state = task_state::queued;
  t.attempt = 1;
  t.cancel_requested = true;
  rec.tasks.push_back(t);
  fixture f{rec};
  f.worker_ready();
  REQUIRE(f.log->wait_for([&](const auto& bs) {
    return batch_with(bs, transition_kind::cancel, 9).has_value();
  }));
  CHECK_FALSE(f.dispatched(300ms));
}

TEST_CASE("while the journal is down submits are refused and dispatch pauses",
          "[scheduler]") {
  fixture f;
  const auto id = f.submit_ok(R"({"retries":0})");
  REQUIRE(f.log->wait_for([&](const auto&) {
    std::lock_guard<std::mutex> g{f.log->mu};
    return static_cast<bool>(f.log->subscriber);
  }));
  caf::anon_send(f.sched, journal_atom::value, false, std::string{"connection refused"});
  task_spec spec;
  spec.name = "work";
  auto refused = f.submit(spec);
  REQUIRE(std::holds_alternative<std::string>(refused));
  CHECK_THAT(std::get<std::string>(refused), Catch::Contains("journal unavailable"));
  CHECK_THAT(std::get<std::string>(refused), Catch::Contains("connection refused"));
  f.worker_ready();
  CHECK_FALSE(f.dispatched(300ms));
  head_status s;
  (*f.worker)->request(f.sched, 5s, status_atom::value).receive(
    [&](head_status& x) { s = x; }, [&](caf::error&) {});
  CHECK_FALSE(s.journal_up);
  CHECK(s.journal_error == "connection refused");
  caf::anon_send(f.sched, journal_atom::value, true, std::string{});
  auto d = f.dispatched();
  REQUIRE(d);
  CHECK(d->task_id == id);
}

TEST_CASE("tasks retry of a task waiting for a later run_at runs it now", "[scheduler]") {
  fixture f;
  f.worker_ready();
  const auto later = to_micros(now()) + 3'600'000'000LL;
  const auto id = f.submit_ok(R"({"retries":0})", later);
  CHECK_FALSE(f.dispatched(200ms));
  manual_retry_msg m;
  m.id = id;
  m.origin = "test";
  int64_t got = 0;
  (*f.worker)->request(f.sched, 5s, mretry_atom::value, m).receive(
    [&](int64_t x) { got = x; }, [&](caf::error& e) { FAIL(error_message(e)); });
  CHECK(got == id);
  auto d = f.dispatched();
  REQUIRE(d);
  CHECK(d->task_id == id);
  auto mr = transitions_of(f.log->seen(), transition_kind::manual_retry);
  REQUIRE(mr.size() == 1);
  CHECK(mr[0].expected_state == task_state::queued);
  CHECK(mr[0].run_at_us < later);
}

TEST_CASE("a batch submit is one commit with ids in order - one bad spec refuses it",
          "[scheduler]") {
  fixture f;
  std::vector<task_spec> specs(3);
  for (auto& s : specs)
    s.name = "work";
  std::vector<int64_t> ids;
  (*f.worker)->request(f.sched, 5s, submit_atom::value, specs).receive(
    [&](std::vector<int64_t>& x) { ids = x; }, [&](caf::error& e) { FAIL(error_message(e)); });
  CHECK(ids == std::vector<int64_t>{1, 2, 3});
  size_t with_submits = 0;
  for (const auto& b : f.log->seen())
    with_submits += b.submits.empty() ? 0 : 1;
  CHECK(with_submits == 1);
  specs[1].name = "nope";
  std::string err;
  (*f.worker)->request(f.sched, 5s, submit_atom::value, specs).receive(
    [&](std::vector<int64_t>&) {}, [&](caf::error& e) { err = error_message(e); });
  CHECK_THAT(err, Catch::Contains("task 1 of the batch"));
  CHECK_THAT(err, Catch::Contains("unknown task 'nope'"));
}

TEST_CASE("status counts QUEUED tasks waiting on a lock, scheduled or being retried now - and RUNNING ones",
          "[scheduler]") {
  fixture f;
  auto status = [&] {
    head_status s;
    (*f.worker)->request(f.sched, 5s, status_atom::value).receive(
      [&](head_status& x) { s = x; }, [&](caf::error& e) { FAIL(error_message(e)); });
    return s;
  };
  auto submit_locked = [&](int32_t priority) {
    task_spec spec;
    spec.name = "work";
    spec.lock = "L";
    spec.priority = priority;
    auto r = f.submit(spec);
    REQUIRE(std::holds_alternative<int64_t>(r));
    return std::get<int64_t>(r);
  };
  const auto a = submit_locked(5);
  const auto b = submit_locked(1);
  const auto later = to_micros(now()) + 3'600'000'000LL;
  const auto c = f.submit_ok(R"({"retries":0})", later);
  auto s = status();
  CHECK(s.queued == 3);
  CHECK(s.running == 0);
  f.worker_ready();
  auto d1 = f.dispatched();
  REQUIRE(d1);
  CHECK(d1->task_id == a);
  s = status();
  CHECK(s.queued == 2); // b waits on L, c is scheduled
  CHECK(s.running == 1);
  CHECK(s.workers == 1);
  CHECK(s.busy == 1);
  f.done(*d1, task_state::succeeded);
  auto d2 = f.dispatched(); // L is free again: b, not c (scheduled for later)
  REQUIRE(d2);
  CHECK(d2->task_id == b);
  s = status();
  CHECK(s.queued == 1);
  CHECK(s.running == 1);
  task_state cancelled = task_state::queued;
  (*f.worker)->request(f.sched, 5s, cancel_atom::value, c, std::string{"test"}).receive(
    [&](task_state x) { cancelled = x; }, [&](caf::error& e) { FAIL(error_message(e)); });
  CHECK(cancelled == task_state::cancelled);
  s = status();
  CHECK(s.queued == 0);
  f.done(*d2, task_state::succeeded);
  CHECK_FALSE(f.dispatched(200ms));
  REQUIRE(f.log->wait_for([&](const auto& bs) {
    return transitions_of(bs, transition_kind::succeed).size() == 2;
  }));
  s = status();
  CHECK(s.queued == 0);
  CHECK(s.running == 0);
  CHECK(s.busy == 0);
}

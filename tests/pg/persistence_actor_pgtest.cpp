// The persistence actor against a real Postgres: a data error fails only the
// request that caused it, and a crash-stopped Postgres is an outage the actor
// rides out (submits refused, the rest kept and committed when it is back).

#include "taskrt/actors/persistence_actor.hpp"
#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>
#include <caf/all.hpp>

#include <chrono>
#include <future>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;
using namespace std::chrono_literals;

namespace {

struct system_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  system_fixture() {
    register_protocol(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

/// What a request to the persistence actor came back with.
struct reply {
  bool ok = false;
  journal_store::batch_result result;
  caf::error error;
};

reply request_batch(caf::actor_system& sys, const caf::actor& p, journal_store::batch b,
                    std::chrono::seconds timeout = 60s) {
  caf::scoped_actor self{sys};
  reply r;
  self->request(p, timeout, std::move(b))
    .receive([&](journal_store::batch_result& res) { r.ok = true; r.result = res; },
             [&](caf::error& e) { r.error = e; });
  return r;
}

/// The request in the background, so that several queue up at once.
std::future<reply> async_batch(caf::actor_system& sys, const caf::actor& p,
                               journal_store::batch b) {
  return std::async(std::launch::async, [&sys, p, b] { return request_batch(sys, p, b); });
}

journal_store::batch submit_batch(const std::string& name, const std::string& args = "{}") {
  journal_store::batch b;
  b.submits.push_back(submit_of(name));
  b.submits[0].spec.args = args;
  return b;
}

/// The window these tests queue requests in: the start of task `held` sent
/// to `p`, its commit blocked on a row lock of that task the test holds.
/// release() commits the lock and returns the blocked request's answer.
struct blocked_commit {
  pqxx::connection holder;
  pqxx::work lock;
  std::future<reply> in_flight;

  blocked_commit(caf::actor_system& sys, const caf::actor& p, const std::string& dsn,
                 int64_t held)
    : holder{dsn}, lock{holder} {
    lock.exec("SELECT 1 FROM tasks WHERE id = " + std::to_string(held) + " FOR UPDATE");
    journal_store::batch first;
    first.transitions.push_back(start_of(held));
    in_flight = async_batch(sys, p, first);
  }

  reply release() {
    lock.commit();
    return in_flight.get();
  }
};

} // namespace

TEST_CASE("persistence actor: a NUL character in a JSON value of a group commit fails only its request",
          "[pg][persistence]") {
  const auto dsn = fresh_schema_dsn("actor_split");
  auto store = std::make_shared<journal_store>(dsn);
  store->migrate();
  const auto held = store->commit(submit_batch("held")).submitted_ids[0];
  system_fixture f;
  auto p = spawn_persistence(*f.sys, store);
  // Window: a commit in flight (blocked on a row lock the test holds) while
  // good and bad requests queue up behind it; they commit as the next group.
  blocked_commit blocked{*f.sys, p, dsn, held};
  REQUIRE(someone_waits_on_a_lock());
  auto good1 = async_batch(*f.sys, p, submit_batch("good1"));
  auto bad = async_batch(*f.sys, p, submit_batch("bad", R"({"s":"x\u0000y"})"));
  journal_store::batch note;
  note.notes.push_back({held, 1, note_kind::progress, {{"pct", 50}}, 1'700'000'000'000'000, ""});
  auto good2 = async_batch(*f.sys, p, note);
  std::this_thread::sleep_for(500ms); // all three in the mailbox
  auto r0 = blocked.release();
  auto r1 = good1.get();
  auto rb = bad.get();
  auto r2 = good2.get();
  CHECK(r0.ok);
  CHECK(r0.result.applied == std::vector<bool>{true});
  REQUIRE(r1.ok);
  CHECK(r1.result.submitted_ids.size() == 1);
  CHECK(r2.ok);
  REQUIRE_FALSE(rb.ok);
  CHECK(taskrt_code(rb.error) == static_cast<uint8_t>(errc::bad_request));
  CHECK(error_message(rb.error).find("journal rejected:") != std::string::npos);
  CHECK(error_message(rb.error).find("22P05") == std::string::npos); // the message, not the code
  INFO(error_message(rb.error));
  CHECK(error_message(rb.error).find("unsupported Unicode escape") != std::string::npos);
  // From the journal: the good ones are there, the bad one is not.
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks WHERE name = 'good1'") == 1);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks WHERE name = 'bad'") == 0);
  CHECK(query_count(dsn, "SELECT count(*) FROM task_events WHERE kind = 'progress'") == 1);
  // The actor lives on.
  CHECK(request_batch(*f.sys, p, submit_batch("after")).ok);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

TEST_CASE("persistence actor: Postgres crash-stopped and back on the same port",
          "[pg][persistence][outage]") {
  private_postgres pg;
  auto store = std::make_shared<journal_store>(pg.dsn());
  store->migrate();
  const auto ids = store->commit([] {
    journal_store::batch b;
    b.submits = {submit_of("a"), submit_of("b")};
    return b;
  }()).submitted_ids;
  system_fixture f;
  persistence_options o;
  o.health_interval = 200ms;
  o.max_backoff = 500ms;
  auto p = spawn_persistence(*f.sys, store, o);
  caf::scoped_actor sub{*f.sys};
  sub->send(p, journal_atom::value, caf::actor{sub});
  auto next_state = [&](bool& up, std::string& why) {
    bool got = false;
    sub->receive([&](journal_atom, bool u, std::string& r) { up = u; why = r; got = true; },
                 caf::after(60s) >> [] {});
    return got;
  };
  bool up = false;
  std::string why;
  REQUIRE(next_state(up, why));
  CHECK(up);
  journal_store::batch start;
  start.transitions = {start_of(ids[0]), start_of(ids[1])};
  REQUIRE(request_batch(*f.sys, p, start).ok);

  pg.crash_stop();
  // The idle actor notices by itself (health ping).
  REQUIRE(next_state(up, why));
  CHECK_FALSE(up);
  CHECK_FALSE(why.empty());
  std::printf("outage noticed: %s\n", why.c_str());
  // Submits are refused at once; reads too; the rest waits.
  auto refused = request_batch(*f.sys, p, submit_batch("during"), 5s);
  REQUIRE_FALSE(refused.ok);
  CHECK(taskrt_code(refused.error) == static_cast<uint8_t>(errc::unavailable));
  CHECK(error_message(refused.error).find("journal unavailable: ") != std::string::npos);
  {
    caf::scoped_actor self{*f.sys};
    caf::error err;
    self->request(p, 5s, caf::get_atom::value, ids[0])
      .receive([](std::vector<task_record>&) {}, [&](caf::error& e) { err = e; });
    CHECK(taskrt_code(err) == static_cast<uint8_t>(errc::unavailable));
  }
  journal_store::batch done;
  auto s0 = transition_of(ids[0], transition_kind::succeed, task_state::running, 1, 1);
  s0.result = R"({"ok":1})";
  done.transitions = {s0};
  auto kept = async_batch(*f.sys, p, done);
  journal_store::batch more;
  auto s1 = transition_of(ids[1], transition_kind::succeed, task_state::running, 1, 1);
  more.transitions = {s1};
  auto kept2 = async_batch(*f.sys, p, more);
  std::promise<recovery_data> loaded;
  auto load = std::async(std::launch::async, [&] {
    caf::scoped_actor self{*f.sys};
    recovery_data d;
    self->request(p, 120s, load_atom::value).receive([&](recovery_data& x) { d = x; },
                                                     [](caf::error&) {});
    return d;
  });
  std::this_thread::sleep_for(3s);
  CHECK(kept.wait_for(0s) == std::future_status::timeout); // still waiting
  CHECK(load.wait_for(0s) == std::future_status::timeout);

  pg.start_again();
  REQUIRE(next_state(up, why));
  CHECK(up);
  auto r = kept.get();
  CHECK(r.ok);
  CHECK(r.result.applied == std::vector<bool>{true});
  CHECK(kept2.get().ok);
  auto d = load.get();
  CHECK(d.tasks.empty()); // both SUCCEEDED by then: the kept batches went first
  // From the journal: both succeeded, nothing was submitted during the outage.
  journal_store check{pg.dsn()};
  CHECK(check.get_task(ids[0])->state == task_state::succeeded);
  CHECK(check.get_task(ids[1])->state == task_state::succeeded);
  CHECK(check.list_tasks({}).size() == 2);
  CHECK(request_batch(*f.sys, p, submit_batch("after")).ok);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

TEST_CASE("persistence actor: a group commit holds at most max_batch_items items",
          "[pg][persistence]") {
  const auto dsn = fresh_schema_dsn("actor_bound");
  // The window below holds a row lock for over 1 s: too close to the
  // default call deadline (1.5 s), which would count the blocked commit as
  // an outage.
  journal_options slow_ok;
  slow_ok.call_deadline_ms = 30'000;
  auto store = std::make_shared<journal_store>(dsn, slow_ok);
  store->migrate();
  const auto held = store->commit(submit_batch("held")).submitted_ids[0];
  system_fixture f;
  persistence_options o;
  o.max_batch_items = 10;
  auto p = spawn_persistence(*f.sys, store, o);
  // Window: 35 one-item requests queue up behind a commit blocked on a lock.
  blocked_commit blocked{*f.sys, p, dsn, held};
  REQUIRE(someone_waits_on_a_lock());
  std::vector<std::future<reply>> queued;
  for (int i = 0; i < 35; ++i)
    queued.push_back(async_batch(*f.sys, p, submit_batch("t" + std::to_string(i))));
  std::this_thread::sleep_for(1s);
  CHECK(blocked.release().ok);
  for (auto& q : queued)
    CHECK(q.get().ok);
  // Every group commit logs one row: the blocked one, then 10 + 10 + 10 + 5.
  CHECK(query_count(dsn, "SELECT count(*) FROM commit_log") == 5);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks") == 36);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

TEST_CASE("persistence actor: the children a commit releases reach the request that ended the "
          "parent, not a barrier sharing its group",
          "[pg][persistence][graph]") {
  // Window: an empty batch (a barrier: the router sends one as the submit
  // lane opens) and the success of a parent wait behind a blocked commit and
  // commit as one group, the barrier first. The released child must come
  // back with the success: the scheduler holds a released task only from
  // that answer (e2e "results passed to collect ..." hung on it, 9 in 20).
  const auto dsn = fresh_schema_dsn("actor_moves");
  journal_options slow_ok;
  slow_ok.call_deadline_ms = 30'000; // the lock below is held for about 1 s
  auto store = std::make_shared<journal_store>(dsn, slow_ok);
  store->migrate();
  const auto held = store->commit(submit_batch("held")).submitted_ids[0];
  const auto parent = store->commit(submit_batch("parent")).submitted_ids[0];
  journal_store::batch child;
  child.submits.push_back(submit_of("child"));
  child.submits[0].spec.after = {parent};
  const auto kid = store->commit(child).submitted_ids[0];
  journal_store::batch started;
  started.transitions.push_back(start_of(parent));
  REQUIRE(store->commit(started).applied == std::vector<bool>{true});
  system_fixture f;
  auto p = spawn_persistence(*f.sys, store); // the default options: it lingers
  struct stop_at_exit { // a failed REQUIRE must not leave the system waiting for it
    caf::actor p;
    ~stop_at_exit() { caf::anon_send_exit(p, caf::exit_reason::user_shutdown); }
  } stop{p};
  blocked_commit blocked{*f.sys, p, dsn, held};
  REQUIRE(someone_waits_on_a_lock());
  journal_store::batch success;
  success.transitions.push_back(
    transition_of(parent, transition_kind::succeed, task_state::running, 1, 1));
  caf::scoped_actor self{*f.sys};
  self->send(p, journal_store::batch{}); // one sender: the barrier comes first
  self->send(p, success);
  std::this_thread::sleep_for(500ms); // both in the mailbox
  CHECK(blocked.release().ok);
  std::vector<journal_store::batch_result> answers;
  for (int i = 0; i < 2; ++i)
    self->receive([&](journal_store::batch_result& r) { answers.push_back(std::move(r)); },
                  caf::after(std::chrono::seconds(30)) >> [] { FAIL("no answer in 30 s"); });
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].applied.empty()); // the barrier's
  CHECK(answers[0].released.empty());
  REQUIRE(answers[1].applied == std::vector<bool>{true});
  REQUIRE(answers[1].released.size() == 1);
  CHECK(answers[1].released[0].id == kid);
  CHECK(answers[1].released[0].state == task_state::queued);
  // One group: the blocked commit, then the barrier with the success.
  CHECK(query_count(dsn, "SELECT count(*) FROM commit_log") == 2);
}

TEST_CASE("group commit size: throughput and latency by items per transaction",
          "[.bench][pg][persistence]") {
  // Prints figures (no timed assertion): each commit submits N/2 tasks and
  // starts N/2 submitted earlier, the mix of a busy head.
  for (size_t n : {100, 500, 1000, 2000, 5000, 10000}) {
    const auto dsn = fresh_schema_dsn("bench_" + std::to_string(n));
    journal_store s{dsn};
    s.migrate();
    std::vector<int64_t> ready;
    {
      journal_store::batch b;
      for (size_t i = 0; i < n / 2; ++i)
        b.submits.push_back(submit_of("warm"));
      ready = s.commit(b).submitted_ids;
    }
    const int rounds = static_cast<int>(std::max<size_t>(4, 40'000 / n));
    double worst_ms = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < rounds; ++r) {
      journal_store::batch b;
      for (size_t i = 0; i < n / 2; ++i)
        b.submits.push_back(submit_of("bench"));
      for (auto id : ready)
        b.transitions.push_back(start_of(id));
      const auto c0 = std::chrono::steady_clock::now();
      ready = s.commit(b, journal_store::new_commit_id()).submitted_ids;
      worst_ms = std::max(worst_ms, std::chrono::duration<double, std::milli>(
                                      std::chrono::steady_clock::now() - c0).count());
    }
    const double secs
      = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("group commit of %5zu items: %8.0f items/s, %6.1f ms per commit (worst %.1f)\n",
                n, static_cast<double>(n) * rounds / secs, secs * 1000 / rounds, worst_ms);
  }
}

// Fencing across head lifetimes, with real processes: the head is killed by
// a fault-injection hook (TASKRT_FAULT, tests only) in the window "after the
// dispatch to a worker node, before the start commit". The restarted head
// must hand the attempt out under a new lease, fence the first one, accept
// one result only, and keep the task's lock until its holder is done.

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/persistence/leader_lock.hpp"
#include "taskrt/runtime/time.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <cstdlib>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

TEST_CASE("head killed after the dispatch, before the start commit - one result counts, the lock holds",
          "[e2e][fencing]") {
  auto dsn = fresh_schema_dsn("e2e_fence");
  head_process head{dsn, {"--workers", "0"}, {"TASKRT_FAULT=exit_after_dispatch"}};
  const auto address = head.address();
  node_process n1{address, "n1", head.data_dir(), {"--workers", "1", "--prefetch", "0"}};
  auto& c = head.connect();
  REQUIRE(eventually([&] { return node_state(c, "n1") == "ALIVE"; }, 20'000));

  auto first = spec("sleep", {{"ms", 6000}}, R"({"retries":3})");
  first.lock = "account-7";
  auto id = c.submit(first);
  REQUIRE(id);
  // The hook ends the head right after it dispatched the task to n1.
  REQUIRE(eventually([&] { return head.log().find("fault injection") != std::string::npos; },
                     20'000));
  head.kill9(); // reaps the exited process
  journal_store store{dsn};
  // The window was hit: the task was dispatched, but no start is journaled.
  for (const auto& e : store.events(*id))
    CHECK(e.kind != transition_kind::start);
  CHECK(store.get_task(*id)->state == task_state::queued);

  head.restart({"--port", address.substr(address.rfind(':') + 1)});
  auto& c2 = head.connect();
  auto second = spec("echo", {{"after", "first"}});
  second.lock = "account-7";
  auto id2 = c2.submit(second);
  REQUIRE(id2);
  auto out = c2.await(*id, std::chrono::seconds(60));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
  auto out2 = c2.await(*id2, std::chrono::seconds(60));
  REQUIRE(out2);
  CHECK(out2->state == task_state::succeeded);

  // From the journal: one accepted result; the first lease was fenced when n1
  // reported it (its late result, if any, journaled stale, never accepted).
  int succeeded = 0, fenced = 0, stale = 0, starts = 0;
  int64_t end_first_us = 0;
  for (const auto& e : store.events(*id)) {
    succeeded += e.kind == transition_kind::succeed;
    fenced += e.kind == note_kind::fenced_attempt;
    stale += e.kind == note_kind::stale_result;
    starts += e.kind == transition_kind::start;
    if (e.kind == transition_kind::succeed)
      end_first_us = e.at_us;
  }
  CHECK(succeeded == 1);
  CHECK(starts >= 1);
  CHECK(fenced == 1); // n1 reported the first lease still running; told to drop it
  CHECK(out->attempt == 1); // the fenced lease was never a journaled try
  // The lock: the second task started only after the first one ended.
  int64_t start_second_us = 0;
  for (const auto& e : store.events(*id2))
    if (e.kind == transition_kind::start)
      start_second_us = e.at_us;
  CHECK(start_second_us >= end_first_us);
  WARN("dispatch window: fenced_attempt notes " << fenced << ", stale results " << stale);
}

TEST_CASE("cancel of a running task: head killed after the cancel is journaled, before delivery - the restarted head delivers it",
          "[e2e][fencing]") {
  auto dsn = fresh_schema_dsn("e2e_cancel_restart");
  head_process head{dsn, {"--workers", "0"}, {"TASKRT_FAULT=exit_before_cancel_delivery"}};
  const auto address = head.address();
  node_process n1{address, "n1", head.data_dir(), {"--workers", "1"}};
  auto& c = head.connect();
  REQUIRE(eventually([&] { return node_state(c, "n1") == "ALIVE"; }, 20'000));
  auto id = c.submit(spec("sleep", {{"ms", 60'000}}, R"({"retries":3})"));
  REQUIRE(id);
  journal_store store{dsn};
  REQUIRE(eventually([&] { return store.get_task(*id)->state == task_state::running; }, 20'000));
  auto cancelled = run_cli({"tasks", "cancel", std::to_string(*id), "--db", dsn,
                            "--address", address});
  REQUIRE(eventually([&] { return head.log().find("fault injection") != std::string::npos; },
                     20'000));
  head.kill9();
  // The window was hit: the cancel is journaled, the task still RUNNING.
  bool journaled = false;
  for (const auto& e : store.events(*id))
    journaled = journaled || e.kind == note_kind::cancel_requested;
  REQUIRE(journaled);
  REQUIRE(store.get_task(*id)->state == task_state::running);
  head.restart({"--port", address.substr(address.rfind(':') + 1)});
  auto& c2 = head.connect();
  auto out = c2.await(*id, std::chrono::seconds(60));
  REQUIRE(out);
  CHECK(out->state == task_state::cancelled);
  bool adopted = false;
  for (const auto& e : store.events(*id))
    adopted = adopted || e.kind == note_kind::adopted;
  CHECK(adopted); // the same attempt, told again after the restart
  CHECK(out->attempt == 1);
}

TEST_CASE("a journal an older version left half-decided (FAILED, no decision) is finished at recovery",
          "[e2e][fencing]") {
  auto dsn = fresh_schema_dsn("e2e_legacy_decision");
  // What an older head wrote before dying between its three commits:
  // RUNNING -> FAILED committed, no retry decision, no re-queue.
  int64_t id = 0;
  {
    journal_store store{dsn};
    store.migrate();
    journal_store::batch b;
    journal_store::submit_item s;
    s.spec = spec("echo", {{"legacy", true}}, R"({"retries":3,"wait":0})");
    s.resolved_policy = R"({"retries":3,"wait":0})";
    s.queue = "default";
    s.now_us = to_micros(now());
    b.submits.push_back(s);
    id = store.commit(b).submitted_ids.at(0);
    auto step = [&](transition_kind kind, task_state from, int32_t from_attempt,
                    int32_t to_attempt) {
      journal_store::batch t;
      journal_store::transition_item x;
      x.task_id = id;
      x.kind = kind;
      x.expected_state = from;
      x.expected_attempt = from_attempt;
      x.new_attempt = to_attempt;
      x.lease_epoch = 1;
      x.at_us = to_micros(now());
      if (kind == transition_kind::fail)
        x.error = R"({"kind":"std::runtime_error","ancestors":[],"message":"old"})";
      t.transitions.push_back(x);
      REQUIRE(store.commit(t).applied.at(0));
    };
    step(transition_kind::start, task_state::queued, 0, 1);
    step(transition_kind::fail, task_state::running, 1, 1);
    REQUIRE(store.get_task(id)->state == task_state::failed);
  }
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  auto out = c.await(id, std::chrono::seconds(60));
  REQUIRE(out);
  INFO(head.log());
  CHECK(out->state == task_state::succeeded);
  CHECK(out->attempt == 2);
  journal_store store{dsn};
  bool decided = false;
  for (const auto& e : store.events(id))
    if (e.kind == note_kind::retry_decision)
      decided = json::parse(e.detail).value("decision", "") == "retry";
  CHECK(decided);
}

TEST_CASE("active head's lock session killed while its journal works and its lock watcher is "
          "held off - the standby recovers - the old head's next write is fenced, it steps down",
          "[e2e][fencing]") {
  // The window: the active head (A) no longer holds the leader lock, but its
  // journal connection works and nothing in it has noticed yet (a paused or
  // overloaded process; here the watcher is off, TASKRT_FAULT=no_lock_watch).
  // The standby (B) takes the lock and the next head generation. Whatever A
  // writes after that (a result of its local worker, its node rows) must be
  // refused, and A must step down (exit 3).
  auto dsn = fresh_schema_dsn("e2e_fence_journal");
  head_process a{dsn, {"--workers", "1", "--node-id", "ha"}, {"TASKRT_FAULT=no_lock_watch"}};
  head_process b{dsn, {"--workers", "1", "--node-id", "hb", "--standby", "--port", free_port()}};
  auto& ca = a.connect();
  auto id = ca.submit(spec("sleep", {{"ms", 5000}}, R"({"retries":3})"));
  REQUIRE(id);
  journal_store store{dsn};
  REQUIRE(eventually([&] { return store.get_task(*id)->state == task_state::running; }, 20'000));
  const auto sessions = leader_lock::sessions(dsn);
  REQUIRE(sessions.size() == 2);
  REQUIRE(sessions[0].role == "active");
  {
    pqxx::connection conn{dsn};
    pqxx::nontransaction tx{conn};
    tx.exec("SELECT pg_terminate_backend(" + std::to_string(sessions[0].backend_pid) + ")");
  }
  // B takes over; A, blind to it, keeps running until it writes.
  REQUIRE(eventually([&] { return b.log().find("took over as the active head") != std::string::npos; },
                     20'000));
  const int status = a.wait_exit_code(30);
  INFO(a.log());
  CHECK(status == 3);
  CHECK(a.log().find("another head took over the journal") != std::string::npos);
  CHECK(a.log().find("stepping down (exit 3)") != std::string::npos);
  // The journal: nothing of the task was written by A after the takeover. Its
  // attempt on A ended LOST (by B: A's node never came back) and the retry
  // SUCCEEDED on B.
  auto& cb = b.connect();
  auto out = cb.await(*id, std::chrono::seconds(90));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
  // The one accepted result is B's (A's, finished while it was blind, never).
  CHECK(result_nodes(dsn, *id) == std::vector<std::string>{"hb"});
  CHECK(out->attempt == 2);
}

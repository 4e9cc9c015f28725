// journal_store API of issue 10 against a real Postgres: idempotency keys,
// the commit log behind in-doubt commits, head generations, recovery of
// half-done FAILED/LOST tasks, cancel requests, hand-back events, node rows,
// queue age and the connection's statement timeout.

#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/detail/schema.hpp"
#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;

namespace {

constexpr int64_t t0 = 1'700'000'000'000'000;

journal_store::submit_item keyed(const std::string& name, const std::string& key) {
  auto it = submit_of(name);
  it.spec.key = key;
  return it;
}

void apply(journal_store& s, const journal_store::transition_item& t) {
  journal_store::batch b;
  b.transitions.push_back(t);
  REQUIRE(s.commit(b).applied == std::vector<bool>{true});
}

void note(journal_store& s, int64_t id, int32_t attempt, note_kind kind,
          nlohmann::json detail) {
  journal_store::batch b;
  b.notes.push_back({id, attempt, kind, std::move(detail), t0 + 1, ""});
  s.commit(b);
}

/// start, then fail (or lose) with `detail` on the end event.
void end_attempt(journal_store& s, int64_t id, transition_kind k,
                 nlohmann::json detail = nlohmann::json::object()) {
  apply(s, start_of(id));
  auto f = transition_of(id, k, task_state::running, 1, 1);
  f.detail = std::move(detail);
  apply(s, f);
}

} // namespace

TEST_CASE("a submit with a known key returns the existing task and writes nothing",
          "[pg][journal][keys]") {
  const auto dsn = fresh_schema_dsn("keys");
  journal_store s{dsn};
  s.migrate();
  CHECK(s.schema_version() == detail::latest_schema_version());
  journal_store::batch b1;
  b1.submits = {keyed("mail", "order-17"), submit_of("plain")};
  const auto r1 = s.commit(b1);
  CHECK(r1.existing == std::vector<bool>{false, false});
  const auto id = r1.submitted_ids[0];
  CHECK(s.get_task(id)->key == "order-17");
  CHECK(s.get_task(r1.submitted_ids[1])->key.empty());

  // Again in a later commit, and twice within one batch with a new key.
  journal_store::batch b2;
  b2.submits = {keyed("mail", "order-18"), keyed("mail", "order-17"),
                keyed("other-name", "order-18"), submit_of("plain")};
  const auto r2 = s.commit(b2);
  CHECK(r2.existing == std::vector<bool>{false, true, true, false});
  CHECK(r2.submitted_ids[1] == id);
  CHECK(r2.submitted_ids[2] == r2.submitted_ids[0]);
  CHECK(r2.submitted_ids[0] != id);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks") == 4);
  CHECK(query_count(dsn, "SELECT count(*) FROM task_events WHERE kind = 'submit'") == 4);
  CHECK(s.events(id).size() == 1);
  // Only existing ones: nothing at all written.
  journal_store::batch b3;
  b3.submits = {keyed("mail", "order-17")};
  const auto r3 = s.commit(b3);
  CHECK(r3.submitted_ids == std::vector<int64_t>{id});
  CHECK(r3.existing == std::vector<bool>{true});
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks") == 4);
  // The unique index holds against writers that bypass the check.
  CHECK_THROWS(exec_sql(dsn, "INSERT INTO tasks (name, queue, state, run_at, created_at,"
                             " updated_at, key) VALUES ('x', 'default', 'QUEUED', now(),"
                             " now(), now(), 'order-17')"));
}

TEST_CASE("a data error is classified and leaves the store usable", "[pg][journal]") {
  auto s = make_store("data_error");
  journal_store::batch bad;
  bad.submits = {submit_of("good")};
  bad.submits[0].spec.args = R"({"s":"a\u0000b"})"; // valid JSON, refused by jsonb
  try {
    s.commit(bad);
    FAIL("a \\u0000 in jsonb was accepted");
  } catch (const store_error& e) {
    CHECK(e.sqlstate() == "22P05");
    CHECK(e.data_error());
    CHECK_FALSE(e.transient());
  }
  CHECK(s.list_tasks({}).empty());
  CHECK(submit_all(s, {"after"}).size() == 1);
}

TEST_CASE("a commit retried under its commit id after a failure is written once",
          "[pg][journal][in_doubt]") {
  const auto dsn = fresh_schema_dsn("commit_log");
  journal_store s{dsn};
  s.migrate();
  journal_store::batch b;
  b.submits = {submit_of("once")};
  const auto id = journal_store::new_commit_id();
  CHECK(id.size() == 32);
  CHECK(journal_store::new_commit_id() != id);
  const auto first = s.commit(b, id);
  // The caller did not hear back (simulated by a failing call under the same
  // id), then retries: the log answers, nothing is written again.
  journal_store::batch broken = b;
  broken.submits[0].spec.args = R"({"s":"\u0000"})";
  CHECK_THROWS_AS(s.commit(broken, id), store_error);
  const auto again = s.commit(b, id);
  CHECK(again.submitted_ids == first.submitted_ids);
  CHECK(again.existing == first.existing);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks") == 1);
  CHECK(query_count(dsn, "SELECT count(*) FROM commit_log") == 1);
  // A new id is a new batch.
  CHECK(s.commit(b, journal_store::new_commit_id()).submitted_ids != first.submitted_ids);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks") == 2);
}

TEST_CASE("a connection lost during COMMIT is in doubt - the retry under the same id"
          " writes the batch exactly once", "[pg][journal][in_doubt]") {
  // The window: the server runs the COMMIT (a deferred trigger holds it
  // there for 3 s) when the backend is terminated. The client cannot know
  // whether the transaction went through.
  const auto dsn = fresh_schema_dsn("in_doubt");
  journal_store s{dsn};
  s.migrate();
  exec_sql(dsn, "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;"
                " CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON commit_log"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()");
  std::atomic<bool> killed{false};
  std::thread killer{[&] {
    pqxx::connection c{test_dsn()};
    for (int i = 0; i < 200 && !killed; ++i) {
      pqxx::nontransaction tx{c};
      auto r = tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE query = 'COMMIT' AND state = 'active'"
                       " AND pid <> pg_backend_pid() AND wait_event = 'PgSleep'");
      if (!r.empty())
        killed = true;
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }};
  journal_store::batch b;
  b.submits = {submit_of("maybe")};
  const auto id = journal_store::new_commit_id();
  bool in_doubt = false;
  try {
    s.commit(b, id);
  } catch (const store_error& e) {
    in_doubt = e.in_doubt();
    CHECK(e.error_class() == store_error_class::outage);
  }
  killer.join();
  REQUIRE(killed);
  CHECK(in_doubt);
  exec_sql(dsn, "DROP TRIGGER slow_commit ON commit_log");
  const auto res = s.commit(b, id); // reconnects, asks the log, writes once
  REQUIRE(res.submitted_ids.size() == 1);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks") == 1);
  // The same id once more (no failure in between): the log's key still
  // stops a second write.
  CHECK(s.commit(b, id).submitted_ids == res.submitted_ids);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks") == 1);
}

TEST_CASE("head generations grow across stores", "[pg][journal]") {
  const auto dsn = fresh_schema_dsn("generation");
  journal_store a{dsn};
  a.migrate();
  const auto g1 = a.next_head_generation();
  const auto g2 = a.next_head_generation();
  journal_store b{dsn};
  const auto g3 = b.next_head_generation();
  CHECK(g1 >= 1);
  CHECK(g1 < g2);
  CHECK(g2 < g3);
}

TEST_CASE("recovery loads half-done FAILED/LOST tasks and their checkpoints at once",
          "[pg][journal][recovery]") {
  auto s = make_store("recovery");
  const auto ids = submit_all(s, {"queued", "running", "old_no_decision", "old_retry_said",
                                  "old_gave_up", "new_final", "lost_no_decision",
                                  "succeeded", "retried_then_failed_final"});
  apply(s, start_of(ids[1]));
  // Old journals: fail, then maybe a retry_decision note, in separate commits.
  end_attempt(s, ids[2], transition_kind::fail, {{"error", {{"kind", "x"}}}});
  end_attempt(s, ids[3], transition_kind::fail);
  note(s, ids[3], 1, note_kind::retry_decision, {{"decision", "retry"}, {"delay_s", 1}});
  end_attempt(s, ids[4], transition_kind::fail);
  note(s, ids[4], 1, note_kind::retry_decision, {{"decision", "give_up"}, {"reason", "budget"}});
  // New journals: the decision sits in the fail event.
  end_attempt(s, ids[5], transition_kind::fail,
              {{"decision", {{"decision", "give_up"}, {"reason", "budget"}}}});
  end_attempt(s, ids[6], transition_kind::lose, {{"reason", "node died"}});
  note(s, ids[6], 1, note_kind::stale_result, nlohmann::json::object()); // not a decision
  apply(s, start_of(ids[7]));
  apply(s, transition_of(ids[7], transition_kind::succeed, task_state::running, 1, 1));
  // An old retry that went through, then a final new-style failure.
  end_attempt(s, ids[8], transition_kind::fail);
  note(s, ids[8], 1, note_kind::retry_decision, {{"decision", "retry"}});
  apply(s, transition_of(ids[8], transition_kind::retry, task_state::failed, 1, 1));
  auto st = transition_of(ids[8], transition_kind::start, task_state::queued, 1, 2);
  apply(s, st);
  auto f = transition_of(ids[8], transition_kind::fail, task_state::running, 2, 2);
  f.detail = {{"decision", {{"decision", "give_up"}}}};
  apply(s, f);

  journal_store::batch cps;
  cps.checkpoints = {{ids[1], 1, "one", t0}, {ids[1], 1, "two", t0 + 1}, {ids[3], 1, "x", t0}};
  s.commit(cps);

  std::vector<int64_t> got;
  for (const auto& t : s.load_unfinished())
    got.push_back(t.id);
  CHECK(got == std::vector<int64_t>{ids[0], ids[1], ids[2], ids[3], ids[6]});
  const auto cp = s.latest_checkpoints(got);
  CHECK(cp.size() == 2);
  CHECK(cp.at(ids[1]) == "two");
  CHECK(cp.at(ids[3]) == "x");
  CHECK(s.latest_checkpoints({}).empty());
}

TEST_CASE("a cancel request is a column that survives until a manual retry",
          "[pg][journal][cancel]") {
  auto s = make_store("cancel_req");
  const auto ids = submit_all(s, {"a", "b"});
  apply(s, start_of(ids[0]));
  CHECK_FALSE(s.get_task(ids[0])->cancel_requested);
  note(s, ids[0], 1, note_kind::cancel_requested, {{"by", "cli"}});
  CHECK(s.get_task(ids[0])->cancel_requested);
  CHECK_FALSE(s.get_task(ids[1])->cancel_requested);
  auto unfinished = s.load_unfinished();
  CHECK(unfinished.at(0).cancel_requested);
  apply(s, transition_of(ids[0], transition_kind::fail, task_state::running, 1, 1));
  CHECK(s.get_task(ids[0])->cancel_requested);
  auto mr = transition_of(ids[0], transition_kind::manual_retry, task_state::failed, 1, 1);
  apply(s, mr);
  CHECK_FALSE(s.get_task(ids[0])->cancel_requested);
}

TEST_CASE("a requeue event carries the attempt it hands back", "[pg][journal]") {
  auto s = make_store("requeue_attempt");
  const auto id = submit_all(s, {"t"})[0];
  apply(s, start_of(id));
  apply(s, transition_of(id, transition_kind::requeue, task_state::running, 1, 1));
  auto again = transition_of(id, transition_kind::start, task_state::queued, 1, 1);
  apply(s, again);
  // Even if a writer moves the attempt on, the event names the one handed back.
  apply(s, transition_of(id, transition_kind::requeue, task_state::running, 1, 2));
  auto ev = s.events(id);
  REQUIRE(ev.size() == 5);
  CHECK(ev[2].kind == transition_kind::requeue);
  CHECK(ev[2].attempt == 1);
  CHECK(ev[4].kind == transition_kind::requeue);
  CHECK(ev[4].attempt == 1);
  CHECK(s.get_task(id)->attempt == 2);
}

TEST_CASE("node rows: many in one statement, DEAD/LEFT pruned by age", "[pg][journal]") {
  auto s = make_store("nodes_bulk");
  std::vector<node_row> rows = {{"a", "h:1", 2, 1, "ALIVE", t0, t0},
                                {"b", "h:2", 2, 0, "DEAD", t0, t0},
                                {"c", "h:3", 2, 0, "LEFT", t0 + 10'000'000, t0},
                                {"d", "h:4", 2, 0, "DEAD", t0 + 1, t0},
                                {"a", "h:1", 4, 3, "ALIVE", t0 + 5, t0}};
  s.upsert_nodes(rows);
  auto ns = s.nodes();
  REQUIRE(ns.size() == 4);
  CHECK(ns[0].slots == 4); // the last row of an id wins
  CHECK(ns[0].running == 3);
  CHECK(ns[0].last_heartbeat_us == t0 + 5);
  s.upsert_nodes({}); // nothing to do
  // Older than t0 + 5 s: b and d (DEAD), not a (ALIVE, old) nor c (recent).
  CHECK(s.prune_nodes(t0 + 5'000'000) == 2);
  ns = s.nodes();
  REQUIRE(ns.size() == 2);
  CHECK(ns[0].id == "a");
  CHECK(ns[1].id == "c");
  CHECK(s.prune_nodes(t0 + 20'000'000) == 1);
}

TEST_CASE("queue age counts ready tasks apart from scheduled ones", "[pg][journal]") {
  auto s = make_store("queue_age");
  journal_store::batch b;
  b.submits = {submit_of("ready_old", t0), submit_of("ready_new", t0 + 50'000'000),
               submit_of("later", t0), submit_of("delayed", t0)};
  b.submits[2].spec.run_at_us = t0 + 500'000'000;
  b.submits[3].spec.run_at_us = t0 + 80'000'000; // a retry delay that ran out
  s.commit(b);
  auto q = s.queued_age(t0 + 100'000'000);
  CHECK(q.ready == 3);
  CHECK(q.scheduled == 1);
  REQUIRE(q.oldest_ready_since_us);
  CHECK(*q.oldest_ready_since_us == t0);
  REQUIRE(q.next_scheduled_us);
  CHECK(*q.next_scheduled_us == t0 + 500'000'000);
  // Before the delayed one's run_at: it counts as scheduled, the ready_new
  // one waits since its creation.
  q = s.queued_age(t0 + 60'000'000);
  CHECK(q.ready == 2);
  CHECK(q.scheduled == 2);
  auto empty = make_store("queue_age_empty").queued_age(t0);
  CHECK(empty.ready == 0);
  CHECK_FALSE(empty.oldest_ready_since_us);
}

TEST_CASE("the store sets a statement timeout: a statement stuck on a lock ends"
          " as an outage-class error", "[pg][journal][timeouts]") {
  const auto dsn = fresh_schema_dsn("stmt_timeout");
  journal_options o;
  o.statement_timeout_ms = 300;
  journal_store s{dsn, o};
  s.migrate();
  const auto id = submit_all(s, {"t"})[0];
  pqxx::connection holder{dsn};
  pqxx::work lock{holder};
  lock.exec("SELECT 1 FROM tasks WHERE id = " + std::to_string(id) + " FOR UPDATE");
  journal_store::batch b;
  b.transitions.push_back(start_of(id));
  const auto t = std::chrono::steady_clock::now();
  try {
    s.commit(b);
    FAIL("the commit did not time out");
  } catch (const store_error& e) {
    CHECK(e.sqlstate() == "57014");
    CHECK(e.error_class() == store_error_class::outage);
  }
  std::printf("statement_timeout 300 ms: the commit gave up after %.0f ms\n",
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t)
                .count());
  lock.abort();
  CHECK(s.commit(b).applied == std::vector<bool>{true}); // reconnects, works
}

TEST_CASE("an unreachable server is an outage-class error naming no password",
          "[pg][journal][timeouts]") {
  try {
    journal_store s{"postgresql://u:topsecret@127.0.0.1:1/taskrt"};
    FAIL("connected to port 1");
  } catch (const store_error& e) {
    CHECK(e.error_class() == store_error_class::outage);
    CHECK(std::string{e.what()}.find("topsecret") == std::string::npos);
    CHECK(std::string{e.what()}.find("u:***@127.0.0.1:1") != std::string::npos);
  }
  try {
    journal_store s{"host=127.0.0.1 port=1 dbname=taskrt password=topsecret"};
    FAIL("connected to port 1");
  } catch (const store_error& e) {
    CHECK(std::string{e.what()}.find("topsecret") == std::string::npos);
  }
  try {
    journal_store s{"postgresql://127.0.0.1:1/taskrt?password=topsecret"};
    FAIL("connected to port 1");
  } catch (const store_error& e) {
    CHECK(std::string{e.what()}.find("topsecret") == std::string::npos);
    CHECK(std::string{e.what()}.find("password=***") != std::string::npos);
  }
}

#include "taskrt/persistence/detail/schema.hpp"
#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace taskrt;
using namespace taskrt::test;

namespace {

size_t count_kind(const std::vector<event_row>& ev, const std::string& kind) {
  size_t n = 0;
  for (const auto& e : ev)
    n += to_string(e.kind) == kind ? 1 : 0;
  return n;
}

} // namespace

TEST_CASE("migrate twice is idempotent", "[pg][journal]") {
  journal_store s{fresh_schema_dsn("migrate")};
  CHECK(s.schema_version() == 0);
  s.migrate();
  CHECK(s.schema_version() == detail::latest_schema_version());
  s.migrate();
  CHECK(s.schema_version() == detail::latest_schema_version());
  CHECK(s.load_unfinished().empty());
  // Migration 2: a node that drained and left is LEFT.
  node_row n;
  n.id = "n1";
  n.address = "host";
  n.slots = 2;
  n.state = "LEFT";
  n.last_heartbeat_us = n.started_us = 1'000'000;
  CHECK_NOTHROW(s.upsert_node(n));
  CHECK(s.nodes().at(0).state == "LEFT");
}

TEST_CASE("submit returns ids in order and writes rows and events", "[pg][journal]") {
  auto s = make_store("submit");
  journal_store::batch b;
  for (auto name : {"alpha", "beta", "gamma"})
    b.submits.push_back(submit_of(name));
  b.submits[1].spec.lock = "L";
  b.submits[1].spec.priority = 7;
  b.submits[2].queue = "fast";
  b.submits[2].spec.run_at_us = 1'800'000'000'123'456;
  const auto res = s.commit(b);
  REQUIRE(res.submitted_ids.size() == 3);
  CHECK(res.submitted_ids[0] < res.submitted_ids[1]);
  CHECK(res.submitted_ids[1] < res.submitted_ids[2]);
  const char* names[] = {"alpha", "beta", "gamma"};
  for (size_t i = 0; i < 3; ++i) {
    auto t = s.get_task(res.submitted_ids[i]);
    REQUIRE(t);
    CHECK(t->name == names[i]);
    CHECK(t->state == task_state::queued);
    CHECK(t->attempt == 0);
    CHECK(t->created_us == 1'700'000'000'000'000);
    auto ev = s.events(t->id);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == transition_kind::submit);
    CHECK_FALSE(ev[0].from_state);
    CHECK(ev[0].to_state == task_state::queued);
  }
  auto beta = s.get_task(res.submitted_ids[1]);
  CHECK(beta->lock == "L");
  CHECK(beta->priority == 7);
  CHECK(beta->queue == "default");
  CHECK(beta->args == R"({"n": 1})");
  auto gamma = s.get_task(res.submitted_ids[2]);
  CHECK(gamma->queue == "fast");
  CHECK(gamma->run_at_us == 1'800'000'000'123'456); // exact µs round trip
}

TEST_CASE("a guarded transition applies only on the expected state and attempt",
          "[pg][journal]") {
  auto s = make_store("guard");
  const auto id = submit_all(s, {"t"})[0];
  SECTION("wrong state: nothing written") {
    journal_store::batch b;
    b.transitions.push_back(
      transition_of(id, transition_kind::succeed, task_state::running, 0, 0));
    CHECK(s.commit(b).applied == std::vector<bool>{false});
    CHECK(s.get_task(id)->state == task_state::queued);
    CHECK(s.events(id).size() == 1);
  }
  SECTION("wrong attempt: nothing written") {
    journal_store::batch b;
    b.transitions.push_back(
      transition_of(id, transition_kind::start, task_state::queued, 3, 4));
    CHECK(s.commit(b).applied == std::vector<bool>{false});
    CHECK(s.get_task(id)->attempt == 0);
    CHECK(s.events(id).size() == 1);
  }
  SECTION("right guard: applied") {
    journal_store::batch b;
    b.transitions.push_back(start_of(id, "node-a"));
    CHECK(s.commit(b).applied == std::vector<bool>{true});
    auto t = s.get_task(id);
    CHECK(t->state == task_state::running);
    CHECK(t->attempt == 1);
    CHECK(t->lease_epoch == 1);
    CHECK(t->node == "node-a");
    auto ev = s.events(id);
    REQUIRE(ev.size() == 2);
    CHECK(ev[1].kind == transition_kind::start);
    CHECK(ev[1].from_state == task_state::queued);
    CHECK(ev[1].to_state == task_state::running);
    CHECK(ev[1].attempt == 1);
    CHECK(ev[1].node == "node-a");
    // The same start again: the guard fails now.
    CHECK(s.commit(b).applied == std::vector<bool>{false});
    CHECK(s.events(id).size() == 2);
  }
}

TEST_CASE("start and succeed of the same task in one batch both apply",
          "[pg][journal]") {
  auto s = make_store("same_batch");
  const auto ids = submit_all(s, {"fast", "other"});
  journal_store::batch b;
  b.transitions.push_back(start_of(ids[0]));
  b.transitions.push_back(start_of(ids[1]));
  auto done = transition_of(ids[0], transition_kind::succeed, task_state::running, 1, 1);
  done.result = R"({"ok":true})";
  b.transitions.push_back(done);
  // A third transition whose guard depends on an unapplied one fails.
  b.transitions.push_back(
    transition_of(ids[0], transition_kind::start, task_state::queued, 1, 2));
  const auto res = s.commit(b);
  CHECK(res.applied == std::vector<bool>{true, true, true, false});
  auto t = s.get_task(ids[0]);
  CHECK(t->state == task_state::succeeded);
  CHECK(t->result == R"({"ok": true})");
  auto ev = s.events(ids[0]);
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].kind == transition_kind::submit);
  CHECK(ev[1].kind == transition_kind::start);
  CHECK(ev[2].kind == transition_kind::succeed);
  // One row version for both (write_chains), two events of their own.
  CHECK(ev[1].node == "n1");
  CHECK(ev[2].node == "n1");
  CHECK(ev[1].attempt == 1);
  CHECK(ev[2].attempt == 1);
  CHECK(ev[1].to_state == task_state::running);
  CHECK(ev[2].from_state == task_state::running);
  CHECK(s.get_task(ids[1])->state == task_state::running);
}

TEST_CASE("a start refused by its guard leaves the end in its batch to its own guard",
          "[pg][journal]") {
  // The window: a start and its end in one batch are one row update
  // guarded by the start. When the start is already in the row (committed
  // before), that guard fails; the end must still apply on its own.
  auto s = make_store("group_guard");
  const auto id = submit_all(s, {"fast"})[0];
  journal_store::batch first;
  first.transitions.push_back(start_of(id));
  REQUIRE(s.commit(first).applied == std::vector<bool>{true});
  journal_store::batch again;
  again.transitions.push_back(start_of(id));
  again.transitions.push_back(
    transition_of(id, transition_kind::succeed, task_state::running, 1, 1));
  CHECK(s.commit(again).applied == std::vector<bool>{false, true});
  CHECK(s.get_task(id)->state == task_state::succeeded);
  const auto ev = s.events(id);
  CHECK(count_kind(ev, "start") == 1);
  CHECK(count_kind(ev, "succeed") == 1);
}

TEST_CASE("an illegal transition is not written", "[pg][journal]") {
  auto s = make_store("illegal");
  const auto id = submit_all(s, {"t"})[0];
  journal_store::batch b;
  // succeed from QUEUED is not in the table, even though the guard matches.
  b.transitions.push_back(
    transition_of(id, transition_kind::succeed, task_state::queued, 0, 0));
  CHECK(s.commit(b).applied == std::vector<bool>{false});
  auto t = s.get_task(id);
  CHECK(t->state == task_state::queued);
  const auto ev = s.events(id);
  CHECK(count_kind(ev, "succeed") == 0);
  REQUIRE(count_kind(ev, "rejected") == 1);
  CHECK_FALSE(ev.back().to_state);
}

TEST_CASE("a 5000-item batch commits", "[pg][journal]") {
  auto s = make_store("big");
  constexpr size_t n = 5000;
  journal_store::batch subs;
  for (size_t i = 0; i < n; ++i)
    subs.submits.push_back(submit_of("bulk-" + std::to_string(i % 7)));
  const auto ids = s.commit(subs).submitted_ids;
  REQUIRE(ids.size() == n);
  for (size_t i = 1; i < n; ++i)
    REQUIRE(ids[i - 1] < ids[i]);
  journal_store::batch life;
  for (auto id : ids)
    life.transitions.push_back(start_of(id));
  for (auto id : ids)
    life.transitions.push_back(
      transition_of(id, transition_kind::succeed, task_state::running, 1, 1));
  const auto res = s.commit(life);
  REQUIRE(res.applied.size() == 2 * n);
  CHECK(std::count(res.applied.begin(), res.applied.end(), true)
        == static_cast<long>(2 * n));
  task_filter f;
  f.states = {task_state::succeeded};
  CHECK(s.list_tasks(f).size() == n);
  CHECK(s.events(ids[4321]).size() == 3);
}

TEST_CASE("fail, retry with new queue/priority/lock and requeue fields",
          "[pg][journal]") {
  auto s = make_store("retry");
  journal_store::batch sb;
  sb.submits.push_back(submit_of("flaky"));
  sb.submits[0].spec.lock = "L";
  const auto id = s.commit(sb).submitted_ids[0];
  journal_store::batch b;
  b.transitions.push_back(start_of(id));
  auto fail = transition_of(id, transition_kind::fail, task_state::running, 1, 1);
  fail.error = R"({"kind":"std::runtime_error","message":"boom"})";
  b.transitions.push_back(fail);
  auto retry = transition_of(id, transition_kind::retry, task_state::failed, 1, 1);
  retry.run_at_us = 1'700'000'060'000'000;
  retry.priority = 9;
  retry.queue = "slow";
  retry.lock = "";
  retry.retry_base = 1;
  retry.detail = {{"delay_s", 60}};
  b.transitions.push_back(retry);
  CHECK(s.commit(b).applied == std::vector<bool>{true, true, true});
  auto t = s.get_task(id);
  CHECK(t->state == task_state::queued);
  CHECK(t->attempt == 1);
  CHECK(t->priority == 9);
  CHECK(t->queue == "slow");
  CHECK(t->lock.empty());
  CHECK(t->retry_base == 1);
  CHECK(t->run_at_us == 1'700'000'060'000'000);
  CHECK(nlohmann::json::parse(t->last_error)["kind"] == "std::runtime_error");
  auto ev = s.events(id);
  REQUIRE(ev.size() == 4);
  CHECK(ev[3].kind == transition_kind::retry);
  CHECK(nlohmann::json::parse(ev[3].detail)["delay_s"] == 60);
}

TEST_CASE("a bad DSN throws store_error without the password", "[pg][journal]") {
  try {
    journal_store s{"postgresql://u:secretpw@127.0.0.1:1/x"};
    FAIL("connected to port 1");
  } catch (const store_error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("secretpw") == std::string::npos);
    CHECK(msg.find("***") != std::string::npos);
    CHECK(e.transient());
  }
  try {
    journal_store s{"host=127.0.0.1 port=1 user=u password=secretpw dbname=x"};
    FAIL("connected to port 1");
  } catch (const store_error& e) {
    CHECK(std::string{e.what()}.find("secretpw") == std::string::npos);
  }
}

#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;
using namespace taskrt::test;

namespace {

/// Four tasks: [0] SUCCEEDED on n1, [1] RUNNING on n2, [2] QUEUED in "q2"
/// with lock "L", [3] FAILED on n1 with error kind "E".
std::vector<int64_t> seed(journal_store& s) {
  journal_store::batch sb;
  for (auto name : {"a", "b", "c", "a"})
    sb.submits.push_back(submit_of(name));
  sb.submits[2].queue = "q2";
  sb.submits[2].spec.lock = "L";
  sb.submits[3].now_us = 1'700'000'100'000'000;
  const auto ids = s.commit(sb).submitted_ids;
  journal_store::batch b;
  b.transitions.push_back(start_of(ids[0], "n1"));
  b.transitions.push_back(
    transition_of(ids[0], transition_kind::succeed, task_state::running, 1, 1));
  b.transitions.push_back(start_of(ids[1], "n2"));
  b.transitions.push_back(start_of(ids[3], "n1"));
  auto f = transition_of(ids[3], transition_kind::fail, task_state::running, 1, 1);
  f.error = R"({"kind":"E","message":"x"})";
  f.detail = {{"decision", {{"decision", "give_up"}}}}; // final: not recovered
  b.transitions.push_back(f);
  REQUIRE(s.commit(b).applied == std::vector<bool>(5, true));
  return ids;
}

std::vector<int64_t> ids_of(const std::vector<task_record>& ts) {
  std::vector<int64_t> out;
  for (const auto& t : ts)
    out.push_back(t.id);
  return out;
}

} // namespace

TEST_CASE("load_unfinished returns QUEUED and RUNNING tasks", "[pg][journal]") {
  auto s = make_store("unfinished");
  const auto ids = seed(s);
  const auto un = s.load_unfinished();
  REQUIRE(ids_of(un) == std::vector<int64_t>{ids[1], ids[2]});
  CHECK(un[0].state == task_state::running);
  CHECK(un[0].node == "n2");
  CHECK(un[0].lease_epoch == 1);
  CHECK(un[1].lock == "L");
}

TEST_CASE("list_tasks filters and orders", "[pg][journal]") {
  auto s = make_store("list");
  const auto ids = seed(s);
  task_filter f;
  CHECK(ids_of(s.list_tasks(f)) == std::vector<int64_t>{ids[3], ids[2], ids[1], ids[0]});
  f.order = task_order::id_asc;
  f.limit = 2;
  CHECK(ids_of(s.list_tasks(f)) == std::vector<int64_t>{ids[0], ids[1]});
  task_filter by_name;
  by_name.name = "a";
  CHECK(s.list_tasks(by_name).size() == 2);
  task_filter by_states;
  by_states.states = {task_state::succeeded, task_state::failed};
  CHECK(ids_of(s.list_tasks(by_states)) == std::vector<int64_t>{ids[3], ids[0]});
  task_filter by_queue;
  by_queue.queue = "q2";
  CHECK(ids_of(s.list_tasks(by_queue)) == std::vector<int64_t>{ids[2]});
  task_filter by_lock;
  by_lock.lock = "L";
  CHECK(ids_of(s.list_tasks(by_lock)) == std::vector<int64_t>{ids[2]});
  task_filter by_node;
  by_node.node = "n1";
  CHECK(s.list_tasks(by_node).size() == 2);
  task_filter by_error;
  by_error.error_kind = "E";
  CHECK(ids_of(s.list_tasks(by_error)) == std::vector<int64_t>{ids[3]});
  task_filter by_time;
  by_time.since_us = 1'700'000'050'000'000;
  CHECK(ids_of(s.list_tasks(by_time)) == std::vector<int64_t>{ids[3]});
  by_time = {};
  by_time.until_us = 1'700'000'050'000'000;
  CHECK(s.list_tasks(by_time).size() == 3);
  task_filter quoting;
  quoting.name = "a' OR '1'='1";
  CHECK(s.list_tasks(quoting).empty());
  CHECK_FALSE(s.get_task(ids[3] + 1000));
}

TEST_CASE("the error-kind filter matches the error that ended a task, not one a success followed",
          "[pg][journal]") {
  auto s = make_store("error_kind");
  const auto ids = seed(s); // [3] FAILED with kind E
  // A task whose attempt 1 failed with E, retried, and attempt 2 succeeded:
  // its row keeps E as last_error.
  const auto id = submit_all(s, {"flaky"})[0];
  journal_store::batch b;
  b.transitions.push_back(start_of(id));
  auto fail = transition_of(id, transition_kind::fail, task_state::running, 1, 1);
  fail.error = R"({"kind":"E","message":"once"})";
  b.transitions.push_back(fail);
  b.transitions.push_back(transition_of(id, transition_kind::retry, task_state::failed, 1, 1));
  b.transitions.push_back(transition_of(id, transition_kind::start, task_state::queued, 1, 2));
  b.transitions.push_back(transition_of(id, transition_kind::succeed, task_state::running, 2, 2));
  REQUIRE(s.commit(b).applied == std::vector<bool>(5, true));
  auto t = s.get_task(id);
  REQUIRE(t);
  REQUIRE(t->state == task_state::succeeded);
  REQUIRE(t->last_error.find("\"E\"") != std::string::npos);
  task_filter by_error;
  by_error.error_kind = "E";
  CHECK(ids_of(s.list_tasks(by_error)) == std::vector<int64_t>{ids[3]});
  by_error.states = {task_state::succeeded};
  CHECK(s.list_tasks(by_error).empty());
}

TEST_CASE("notes, checkpoints and latest_checkpoint", "[pg][journal]") {
  auto s = make_store("notes");
  const auto id = submit_all(s, {"cp"})[0];
  journal_store::batch b;
  b.transitions.push_back(start_of(id));
  b.checkpoints.push_back({id, 1, "first", 1'700'000'001'000'000});
  b.checkpoints.push_back({id, 1, "it's second", 1'700'000'002'000'000});
  journal_store::note_item n;
  n.task_id = id;
  n.attempt = 1;
  n.kind = note_kind::progress;
  n.detail = {{"pct", 50}};
  n.at_us = 1'700'000'002'000'000;
  b.notes.push_back(n);
  CHECK(s.commit(b).applied == std::vector<bool>{true});
  CHECK(s.latest_checkpoint(id) == std::optional<std::string>{"it's second"});
  CHECK_FALSE(s.latest_checkpoint(id + 1));
  const auto cps = s.checkpoints(id);
  REQUIRE(cps.size() == 2);
  CHECK(cps[0].data == "first");
  CHECK(cps[1].at_us == 1'700'000'002'000'000);
  const auto ev = s.events(id);
  REQUIRE(ev.size() == 3);
  CHECK(ev[2].kind == note_kind::progress);
  CHECK_FALSE(ev[2].from_state);
  CHECK(nlohmann::json::parse(ev[2].detail)["pct"] == 50);
}

TEST_CASE("purge deletes final tasks with their events and checkpoints",
          "[pg][journal]") {
  auto s = make_store("purge");
  const auto ids = seed(s);
  journal_store::batch b;
  b.checkpoints.push_back({ids[0], 1, "x", 1'700'000'001'000'000});
  s.commit(b);
  task_filter running_only;
  running_only.states = {task_state::running};
  CHECK(s.purge(running_only) == 0);
  task_filter by_name;
  by_name.name = "a";
  CHECK(s.purge(by_name) == 2); // ids[0] SUCCEEDED and ids[3] FAILED
  CHECK_FALSE(s.get_task(ids[0]));
  CHECK_FALSE(s.get_task(ids[3]));
  CHECK(s.events(ids[0]).empty());
  CHECK(s.checkpoints(ids[0]).empty());
  CHECK(s.purge(task_filter{}) == 0); // the rest is unfinished
  CHECK(s.list_tasks(task_filter{}).size() == 2);
}

TEST_CASE("node registry upsert and list", "[pg][journal]") {
  auto s = make_store("nodes");
  node_row n{"n1", "10.0.0.1:4242", 4, 0, "ALIVE", 1'700'000'000'000'001,
             1'700'000'000'000'000};
  s.upsert_node(n);
  n.running = 3;
  n.state = "DRAINING";
  s.upsert_node(n);
  s.upsert_node({"n0", "h:1", 1, 0, "DEAD", 1, 1});
  const auto all = s.nodes();
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == "n0");
  CHECK(all[1].running == 3);
  CHECK(all[1].state == "DRAINING");
  CHECK(all[1].last_heartbeat_us == 1'700'000'000'000'001);
  CHECK(s.ping_ms() >= 0);
}

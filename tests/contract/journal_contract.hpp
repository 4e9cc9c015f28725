#pragma once
/// The one contract suite of the journal's interfaces (transitions +
/// recovery, node rows, reads, retention), run against every implementation:
/// tests/unit/journal_contract_test.cpp (memory_journal, no Postgres) and
/// tests/pg/journal_contract_pgtest.cpp (journal_store on a real Postgres).
/// So the fake cannot drift from the real store: a behaviour a unit test
/// relies on belongs here.
///
/// The including file defines, before including this header:
///   taskrt::test::contract_journal make_contract_journal(const std::string& name);
/// and CONTRACT_TAG, the Catch tag of its runner ("[memory]" or "[pg]").

#include "taskrt/persistence/journal_ports.hpp"
#include "taskrt/persistence/store_error.hpp"
#include "taskrt/runtime/event_kind.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <set>
#include <string>

namespace taskrt::test {

/// A fresh journal seen through its four interfaces, and a way to open a
/// second connection to the same journal.
struct contract_journal {
  journal_ports ports;
  std::function<journal_ports()> reconnect;
};

contract_journal make_contract_journal(const std::string& name);

namespace contract {

using batch = transition_store_interface::batch;

constexpr int64_t t0 = 1'900'000'000'000'000; // 2030-03-17, µs
constexpr int64_t sec = 1'000'000;

inline transition_store_interface::submit_item submit(const std::string& name, int64_t at = t0) {
  transition_store_interface::submit_item it;
  it.spec.name = name;
  it.spec.args = R"({"n":1})";
  it.now_us = at;
  return it;
}

inline transition_store_interface::transition_item
move(int64_t id, transition_kind kind, task_state from, int32_t attempt, int32_t new_attempt,
     int64_t at = t0 + sec) {
  transition_store_interface::transition_item t;
  t.task_id = id;
  t.kind = kind;
  t.expected_state = from;
  t.expected_attempt = attempt;
  t.new_attempt = new_attempt;
  t.lease_epoch = new_attempt;
  t.at_us = at;
  return t;
}

inline std::vector<int64_t> submit_all(transition_store_interface& s,
                                       const std::vector<std::string>& names, int64_t at = t0) {
  batch b;
  for (const auto& n : names)
    b.submits.push_back(submit(n, at));
  return s.commit(b).submitted_ids;
}

inline bool commit_one(transition_store_interface& s,
                       const transition_store_interface::transition_item& t) {
  batch b;
  b.transitions.push_back(t);
  return s.commit(b).applied.at(0);
}

inline std::set<int64_t> ids_of(const std::vector<task_record>& ts) {
  std::set<int64_t> out;
  for (const auto& t : ts)
    out.insert(t.id);
  return out;
}

inline std::vector<std::string> kinds_of(const std::vector<event_row>& es) {
  std::vector<std::string> out;
  for (const auto& e : es)
    out.push_back(to_string(e.kind));
  return out;
}

/// Runs task `id` (attempt 0 → 1) and fails it with `detail` on its fail event.
inline void run_and_fail(transition_store_interface& s, int64_t id, nlohmann::json detail,
                         int64_t at = t0 + sec) {
  batch b;
  b.transitions.push_back(move(id, transition_kind::start, task_state::queued, 0, 1, at));
  auto f = move(id, transition_kind::fail, task_state::running, 1, 1, at);
  f.error = R"({"kind":"ValueError","message":"x"})";
  f.detail = std::move(detail);
  b.transitions.push_back(f);
  REQUIRE(s.commit(b).applied == std::vector<bool>{true, true});
}

} // namespace contract

using namespace contract;

// -- transitions + recovery ---------------------------------------------------

TEST_CASE("contract: a submit is journaled QUEUED at attempt 0 with its resolved fields",
          "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_submit");
  batch b;
  auto it = submit("mail.send");
  it.spec.priority = 3;
  it.spec.lock = "user-7";
  it.resolved_policy = R"({"max_attempts":2})";
  b.submits.push_back(it);
  auto scheduled = submit("mail.later");
  scheduled.spec.run_at_us = t0 + 60 * sec;
  scheduled.queue = "slow";
  scheduled.waiting = "no ALIVE node runs mail.later";
  b.submits.push_back(scheduled);
  auto r = j.ports.transitions->commit(b);
  REQUIRE(r.submitted_ids.size() == 2);
  CHECK(r.existing == std::vector<bool>{false, false});
  auto t = j.ports.reads->get_task(r.submitted_ids[0]);
  REQUIRE(t);
  CHECK(t->state == task_state::queued);
  CHECK(t->attempt == 0);
  CHECK(t->queue == "default");
  CHECK(t->priority == 3);
  CHECK(t->lock == "user-7");
  CHECK(t->run_at_us == t0);
  CHECK(t->created_us == t0);
  CHECK(nlohmann::json::parse(t->policy) == nlohmann::json::parse(it.resolved_policy));
  auto later = j.ports.reads->get_task(r.submitted_ids[1]);
  REQUIRE(later);
  CHECK(later->queue == "slow");
  CHECK(later->run_at_us == t0 + 60 * sec);
  auto ev = j.ports.reads->events(r.submitted_ids[0]);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == transition_kind::submit);
  CHECK(!ev[0].from_state);
  CHECK(ev[0].to_state == task_state::queued);
  CHECK(nlohmann::json::parse(ev[0].detail) == nlohmann::json::object());
  // Why it cannot run yet is in the submit event: no event of its own.
  auto later_ev = j.ports.reads->events(r.submitted_ids[1]);
  REQUIRE(later_ev.size() == 1);
  CHECK(nlohmann::json::parse(later_ev[0].detail)
        == nlohmann::json{{"waiting", "no ALIVE node runs mail.later"}});
  // Where it came from, its spawning parent and its key, in the same detail.
  batch b2;
  auto spawned = submit("mail.child");
  spawned.spec.origin = "cli";
  spawned.spec.parent_id = r.submitted_ids[0];
  spawned.spec.key = "order-9";
  b2.submits.push_back(spawned);
  const auto child = j.ports.transitions->commit(b2).submitted_ids.at(0);
  auto child_ev = j.ports.reads->events(child);
  REQUIRE(child_ev.size() == 1);
  CHECK(nlohmann::json::parse(child_ev[0].detail)
        == (nlohmann::json{{"origin", "cli"}, {"parent_id", r.submitted_ids[0]},
                           {"key", "order-9"}}));
  CHECK(!j.ports.reads->get_task(r.submitted_ids[1] + 100));
}

TEST_CASE("contract: a submit with a known idempotency key writes nothing and names the task",
          "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_keys");
  auto& s = *j.ports.transitions;
  batch b;
  auto a = submit("a");
  a.spec.key = "k1";
  b.submits = {a, a, submit("b")};
  auto r = s.commit(b);
  CHECK(r.submitted_ids[0] == r.submitted_ids[1]);
  CHECK(r.existing == std::vector<bool>{false, true, false});
  batch again;
  again.submits = {a};
  auto r2 = s.commit(again);
  CHECK(r2.submitted_ids == std::vector<int64_t>{r.submitted_ids[0]});
  CHECK(r2.existing == std::vector<bool>{true});
  CHECK(j.ports.reads->list_tasks({}).size() == 2);
}

TEST_CASE("contract: transitions are guarded by state and attempt - illegal ones become rejected notes",
          "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_guards");
  auto& s = *j.ports.transitions;
  const auto id = submit_all(s, {"t"})[0];
  auto start = move(id, transition_kind::start, task_state::queued, 0, 1);
  start.node = "n1";
  CHECK(commit_one(s, start));
  CHECK_FALSE(commit_one(s, start)); // the guard (QUEUED, 0) no longer holds
  // The right state but another attempt: refused too (a stale result).
  CHECK_FALSE(commit_one(s, move(id, transition_kind::fail, task_state::running, 7, 7)));
  // SUCCEEDED is not reachable from QUEUED: refused, and journaled as such.
  CHECK_FALSE(commit_one(s, move(id, transition_kind::succeed, task_state::queued, 1, 1)));
  auto t = j.ports.reads->get_task(id);
  CHECK(t->state == task_state::running);
  CHECK(t->attempt == 1);
  CHECK(t->node == "n1");
  auto ev = j.ports.reads->events(id);
  CHECK(kinds_of(ev) == std::vector<std::string>{"submit", "start", "rejected"});
  CHECK(ev[1].from_state == task_state::queued);
  CHECK(ev[1].to_state == task_state::running);
  CHECK(ev[1].attempt == 1);
  CHECK(ev[1].node == "n1");
  CHECK(nlohmann::json::parse(ev[2].detail).at("transition") == "succeed");
  // A hand-back's event names the attempt it hands back; several transitions
  // of one task in one batch each see the one before.
  batch b;
  b.transitions.push_back(move(id, transition_kind::requeue, task_state::running, 1, 0));
  b.transitions.push_back(move(id, transition_kind::start, task_state::queued, 0, 1));
  auto done = move(id, transition_kind::succeed, task_state::running, 1, 1);
  done.result = R"({"ok":true})";
  b.transitions.push_back(done);
  CHECK(s.commit(b).applied == std::vector<bool>{true, true, true});
  ev = j.ports.reads->events(id);
  REQUIRE(ev.size() == 6);
  CHECK(ev[3].kind == transition_kind::requeue);
  CHECK(ev[3].attempt == 1);
  t = j.ports.reads->get_task(id);
  CHECK(t->state == task_state::succeeded);
  CHECK(nlohmann::json::parse(t->result) == nlohmann::json{{"ok", true}});
}

TEST_CASE("contract: a commit retried under its commit id is written once", "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_commit_log");
  auto& s = *j.ports.transitions;
  batch b;
  b.submits = {submit("x"), submit("y")};
  const auto id = std::string{"0123456789abcdef0123456789abcdef"};
  auto first = s.commit(b, id);
  auto second = s.commit(b, id);
  CHECK(second.submitted_ids == first.submitted_ids);
  CHECK(j.ports.reads->list_tasks({}).size() == 2);
  s.commit(b, "fedcba9876543210fedcba9876543210"); // another id: another batch
  CHECK(j.ports.reads->list_tasks({}).size() == 4);
}

TEST_CASE("contract: a data error writes nothing of the batch", "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_data_error");
  auto& s = *j.ports.transitions;
  const auto id = submit_all(s, {"t"})[0];
  batch b;
  auto bad = submit("bad");
  bad.spec.args = "{not json";
  b.submits = {submit("fine"), bad};
  b.checkpoints.push_back({id, 0, "kept?", t0});
  try {
    s.commit(b);
    FAIL("arguments that are not JSON were accepted");
  } catch (const store_error& e) {
    CHECK(e.error_class() == store_error_class::data);
  }
  CHECK(j.ports.reads->list_tasks({}).size() == 1);
  CHECK(j.ports.reads->checkpoints(id).empty());
}

// A note's kind is a note_kind (an unknown one cannot be written from C++);
// Postgres's own CHECK on task_events.kind is tested in journal_enums_pgtest.
TEST_CASE("contract: every note kind is journaled under its name", "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_kinds");
  auto& s = *j.ports.transitions;
  const auto id = submit_all(s, {"t"})[0];
  batch every;
  std::vector<std::string> names;
  for (const auto& k : all_event_kinds())
    if (auto nk = k.note()) {
      every.notes.push_back({id, 0, *nk, nlohmann::json::object(), t0 + sec, ""});
      names.push_back(to_string(k));
    }
  REQUIRE(names.size() == 9);
  s.commit(every);
  auto ev = j.ports.reads->events(id);
  REQUIRE(ev.size() == names.size() + 1); // and the submit
  for (size_t i = 0; i < names.size(); ++i)
    CHECK(to_string(ev[i + 1].kind) == names[i]);
}

TEST_CASE("contract: a newer head generation fences the older one's writes", "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_fencing");
  auto& a = *j.ports.transitions;
  const auto ga = a.next_head_generation();
  CHECK(a.fence_generation() == ga);
  submit_all(a, {"before"});
  auto other = j.reconnect();
  const auto gb = other.transitions->next_head_generation();
  CHECK(gb > ga);
  try {
    submit_all(a, {"after"});
    FAIL("a fenced store wrote");
  } catch (const store_error& e) {
    CHECK(e.error_class() == store_error_class::fenced);
  }
  node_row n;
  n.id = "n1";
  CHECK_THROWS_AS(j.ports.nodes->upsert_nodes({n}), store_error);
  CHECK(j.ports.reads->list_tasks({}).size() == 1);
  // A second connection of the new head, fenced on its generation, writes.
  auto lane = j.reconnect();
  lane.transitions->fence_on(gb);
  submit_all(*lane.transitions, {"lane"});
  CHECK(j.ports.reads->list_tasks({}).size() == 2);
}

TEST_CASE("contract: a cancel request sticks to the row until a manual retry", "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_cancel");
  auto& s = *j.ports.transitions;
  const auto ids = submit_all(s, {"a", "b"});
  batch b;
  b.notes.push_back({ids[0], 0, note_kind::cancel_requested, nlohmann::json::object(), t0 + sec, ""});
  s.commit(b);
  CHECK(j.ports.reads->get_task(ids[0])->cancel_requested);
  CHECK(ids_of(s.queued_after("default", std::nullopt, t0 + 10 * sec, 10))
        == std::set<int64_t>{ids[1]});
  CHECK(commit_one(s, move(ids[0], transition_kind::cancel, task_state::queued, 0, 0)));
  CHECK(commit_one(s, move(ids[0], transition_kind::manual_retry, task_state::cancelled, 0, 0,
                           t0 + 2 * sec)));
  auto t = j.ports.reads->get_task(ids[0]);
  CHECK(t->state == task_state::queued);
  CHECK_FALSE(t->cancel_requested);
}

TEST_CASE("contract: recovery loads live tasks and FAILED/LOST ones without a final decision",
          "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_unfinished");
  auto& s = *j.ports.transitions;
  const auto ids = submit_all(s, {"queued", "running", "undecided", "decided", "gave_up",
                                  "retry_said", "done"});
  CHECK(commit_one(s, move(ids[1], transition_kind::start, task_state::queued, 0, 1)));
  run_and_fail(s, ids[2], nlohmann::json::object());
  run_and_fail(s, ids[3], {{"decision", "final"}});
  run_and_fail(s, ids[4], nlohmann::json::object());
  run_and_fail(s, ids[5], nlohmann::json::object());
  batch notes;
  notes.notes.push_back({ids[4], 1, note_kind::retry_decision, {{"decision", "give_up"}}, t0 + 2 * sec, ""});
  notes.notes.push_back({ids[5], 1, note_kind::retry_decision, {{"decision", "retry"}}, t0 + 2 * sec, ""});
  s.commit(notes);
  batch b;
  b.transitions.push_back(move(ids[6], transition_kind::start, task_state::queued, 0, 1));
  b.transitions.push_back(move(ids[6], transition_kind::succeed, task_state::running, 1, 1));
  s.commit(b);
  auto got = s.load_unfinished();
  CHECK(ids_of(got) == std::set<int64_t>{ids[0], ids[1], ids[2], ids[5]});
  CHECK(std::is_sorted(got.begin(), got.end(),
                       [](const task_record& x, const task_record& y) { return x.id < y.id; }));
}

TEST_CASE("contract: a windowed load holds a window per queue and counts the rest",
          "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_windowed");
  auto& s = *j.ports.transitions;
  batch b;
  for (int i = 0; i < 5; ++i) {
    auto it = submit("q" + std::to_string(i));
    it.spec.priority = i == 4 ? 9 : 0; // the last one jumps the queue
    b.submits.push_back(it);
  }
  auto other = submit("other");
  other.queue = "other";
  b.submits.push_back(other);
  auto soon = submit("soon");
  soon.spec.run_at_us = t0 + 30 * sec; // after now, within the horizon
  b.submits.push_back(soon);
  auto far = submit("far");
  far.spec.run_at_us = t0 + 3600 * sec; // after the horizon
  b.submits.push_back(far);
  const auto ids = s.commit(b).submitted_ids;
  CHECK(commit_one(s, move(ids[0], transition_kind::start, task_state::queued, 0, 1)));
  auto w = s.load_windowed(t0 + 10 * sec, 2, t0 + 60 * sec);
  // RUNNING ids[0]; window of 2 of default: ids[4] (priority 9), ids[1];
  // other's only task; the scheduled one within the horizon.
  CHECK(ids_of(w.tasks) == std::set<int64_t>{ids[0], ids[4], ids[1], ids[5], ids[6]});
  CHECK(w.tasks.size() == 5);
  CHECK(w.due == std::map<std::string, int64_t>{{"default", 4}, {"other", 1}});
  CHECK(w.later == 1);
  CHECK(w.max_id == ids[7]);
}

TEST_CASE("contract: queue windows refill in order and scheduled tasks come by time",
          "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_queued_after");
  auto& s = *j.ports.transitions;
  batch b;
  for (int i = 0; i < 4; ++i) {
    auto it = submit("t" + std::to_string(i), t0 + i);
    it.spec.priority = i % 2; // 1 and 3 first
    b.submits.push_back(it);
  }
  auto later = submit("later");
  later.spec.run_at_us = t0 + 100 * sec;
  b.submits.push_back(later);
  const auto ids = s.commit(b).submitted_ids;
  auto first = s.queued_after("default", std::nullopt, t0 + sec, 2);
  REQUIRE(first.size() == 2);
  CHECK(first[0].id == ids[1]);
  CHECK(first[1].id == ids[3]);
  transition_store_interface::queue_position p{first[1].priority, first[1].run_at_us, first[1].id};
  auto rest = s.queued_after("default", p, t0 + sec, 10);
  REQUIRE(rest.size() == 2);
  CHECK(rest[0].id == ids[0]);
  CHECK(rest[1].id == ids[2]);
  CHECK(s.queued_after("none", std::nullopt, t0 + sec, 10).empty());
  CHECK(ids_of(s.queued_between(t0 + 50 * sec, t0 + 100 * sec)) == std::set<int64_t>{ids[4]});
  CHECK(s.queued_between(t0 + 100 * sec, t0 + 200 * sec).empty());
}

TEST_CASE("contract: the newest checkpoint of each task", "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_checkpoints");
  auto& s = *j.ports.transitions;
  const auto ids = submit_all(s, {"a", "b", "c"});
  batch b;
  b.checkpoints.push_back({ids[0], 1, "one", t0});
  b.checkpoints.push_back({ids[0], 1, "two", t0 + 1});
  b.checkpoints.push_back({ids[1], 1, "only", t0});
  s.commit(b);
  CHECK(s.latest_checkpoint(ids[0]) == std::optional<std::string>{"two"});
  CHECK(!s.latest_checkpoint(ids[2]));
  CHECK(s.latest_checkpoints(ids)
        == std::map<int64_t, std::string>{{ids[0], "two"}, {ids[1], "only"}});
  CHECK(s.latest_checkpoints({}).empty());
  auto rows = j.ports.reads->checkpoints(ids[0]);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].data == "one");
  CHECK(s.ping_ms() >= 0);
}

TEST_CASE("contract: the latest progress of each task, for its current attempt",
          "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_progress");
  auto& s = *j.ports.transitions;
  auto& r = *j.ports.reads;
  const auto ids = submit_all(s, {"a", "b", "c"});
  batch start;
  for (auto id : {ids[0], ids[1]})
    start.transitions.push_back(move(id, transition_kind::start, task_state::queued, 0, 1));
  REQUIRE(s.commit(start).applied == std::vector<bool>{true, true});
  // In one batch: two values of a (the last wins), one of b for an attempt
  // it is not at (nothing), none of c.
  batch p;
  p.progress.push_back({ids[0], 1, R"({"done":1,"total":4})", t0 + 2 * sec});
  p.progress.push_back({ids[0], 1, R"({"done":2,"total":4})", t0 + 3 * sec});
  p.progress.push_back({ids[1], 2, R"(0.5)", t0 + 3 * sec});
  CHECK(!p.empty());
  s.commit(p);
  auto a = r.progress(ids[0]);
  REQUIRE(a);
  CHECK(a->attempt == 1);
  CHECK(nlohmann::json::parse(a->value) == nlohmann::json{{"done", 2}, {"total", 4}});
  CHECK(a->at_us == t0 + 3 * sec);
  CHECK(!r.progress(ids[1]));
  CHECK(!r.progress(ids[2]));
  // A later batch replaces it; progress of an ended attempt that arrives
  // after its retry began writes nothing, and the value stays.
  batch later;
  later.progress.push_back({ids[0], 1, R"("almost")", t0 + 4 * sec});
  s.commit(later);
  CHECK(nlohmann::json::parse(r.progress(ids[0])->value) == "almost");
  batch retry;
  auto f = move(ids[0], transition_kind::fail, task_state::running, 1, 1, t0 + 5 * sec);
  f.error = R"({"kind":"ValueError","message":"x"})";
  retry.transitions.push_back(f);
  retry.transitions.push_back(
    move(ids[0], transition_kind::retry, task_state::failed, 1, 1, t0 + 5 * sec));
  retry.transitions.push_back(
    move(ids[0], transition_kind::start, task_state::queued, 1, 2, t0 + 6 * sec));
  REQUIRE(s.commit(retry).applied == std::vector<bool>{true, true, true});
  batch stale;
  stale.progress.push_back({ids[0], 1, R"("late")", t0 + 7 * sec});
  s.commit(stale);
  CHECK(nlohmann::json::parse(r.progress(ids[0])->value) == "almost");
  CHECK(r.progress(ids[0])->attempt == 1);
  // No event per value: progress is not journaled as events.
  for (const auto& e : r.events(ids[0]))
    CHECK(e.kind != note_kind::progress);
}

// -- node rows -----------------------------------------------------------------------

TEST_CASE("contract: node rows are replaced by id and only old DEAD/LEFT ones pruned",
          "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_nodes");
  auto& n = *j.ports.nodes;
  node_row a{"a", "127.0.0.1:1", 2, 0, "ALIVE", t0, t0};
  node_row b{"b", "127.0.0.1:2", 2, 0, "DEAD", t0, t0};
  node_row c{"c", "127.0.0.1:3", 2, 0, "LEFT", t0 + 100 * sec, t0};
  n.upsert_nodes({a, b, c});
  a.running = 2;
  a.state = "DRAINING";
  n.upsert_node(a);
  auto rows = n.nodes();
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].id == "a");
  CHECK(rows[0].state == "DRAINING");
  CHECK(rows[0].running == 2);
  CHECK(n.prune_nodes(t0 + 50 * sec) == 1); // b only: c is recent, a alive
  rows = n.nodes();
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].id == "c");
}

// -- reads -----------------------------------------------------------------------------

TEST_CASE("contract: listings filter, order and limit", "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_list");
  auto& s = *j.ports.transitions;
  auto& r = *j.ports.reads;
  batch b;
  for (int i = 0; i < 4; ++i) {
    auto it = submit(i < 2 ? "alpha" : "beta", t0 + i * sec);
    it.spec.priority = i;
    it.queue = i == 3 ? "q2" : "";
    b.submits.push_back(it);
  }
  const auto ids = s.commit(b).submitted_ids;
  run_and_fail(s, ids[1], {{"decision", "final"}}, t0 + 10 * sec);
  task_filter f;
  f.name = "alpha";
  CHECK(ids_of(r.list_tasks(f)) == std::set<int64_t>{ids[0], ids[1]});
  f = {};
  f.states = {task_state::failed};
  f.error_kind = "ValueError";
  CHECK(ids_of(r.list_tasks(f)) == std::set<int64_t>{ids[1]});
  f = {};
  f.queue = "q2";
  CHECK(ids_of(r.list_tasks(f)) == std::set<int64_t>{ids[3]});
  f = {};
  f.since_us = t0 + sec;
  f.until_us = t0 + 3 * sec;
  CHECK(ids_of(r.list_tasks(f)) == std::set<int64_t>{ids[1], ids[2]});
  f = {};
  auto all = r.list_tasks(f); // id_desc
  REQUIRE(all.size() == 4);
  CHECK(all[0].id == ids[3]);
  f.order = task_order::priority_desc;
  f.limit = 2;
  all = r.list_tasks(f);
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == ids[3]);
  CHECK(all[1].id == ids[2]);
  f = {};
  f.order = task_order::updated_desc;
  CHECK(r.list_tasks(f).front().id == ids[1]);
  f.order = task_order::name_desc;
  CHECK(r.list_tasks(f).front().id == ids[3]);
}

TEST_CASE("contract: a task's journal in order, and after an event id", "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_events");
  auto& s = *j.ports.transitions;
  const auto id = submit_all(s, {"t"})[0];
  run_and_fail(s, id, nlohmann::json::object());
  auto all = j.ports.reads->events(id);
  CHECK(kinds_of(all) == std::vector<std::string>{"submit", "start", "fail"});
  auto tail = j.ports.reads->events_after(id, all[0].id);
  CHECK(kinds_of(tail) == std::vector<std::string>{"start", "fail"});
  CHECK(j.ports.reads->events_after(id, all[2].id).empty());
}

TEST_CASE("contract: the aggregates of summary and status", "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_aggregates");
  auto& s = *j.ports.transitions;
  auto& r = *j.ports.reads;
  auto ids = submit_all(s, {"a", "a", "b", "b"});
  batch later;
  auto scheduled = submit("c");
  scheduled.spec.run_at_us = t0 + 100 * sec;
  later.submits.push_back(scheduled);
  s.commit(later);
  run_and_fail(s, ids[0], {{"decision", "final"}});
  batch lose;
  lose.transitions.push_back(move(ids[2], transition_kind::start, task_state::queued, 0, 1));
  auto l = move(ids[2], transition_kind::lose, task_state::running, 1, 1);
  l.detail = {{"reason", "worker process died"}, {"signal", "SIGKILL"}, {"decision", "final"}};
  lose.transitions.push_back(l);
  s.commit(lose);
  auto ns = r.count_by_name_state({});
  REQUIRE(ns.size() == 5); // a FAILED, a QUEUED, b LOST, b QUEUED, c QUEUED
  CHECK(ns[0].name == "a");
  CHECK(ns[0].state == task_state::failed);
  CHECK(ns[0].tasks == 1);
  CHECK(ns[1].state == task_state::queued);
  CHECK(ns[2].name == "b");
  CHECK(ns[2].state == task_state::lost);
  auto fk = r.failures_by_kind({});
  REQUIRE(fk.size() == 1);
  CHECK(fk[0].attempts == 1);
  CHECK(fk[0].tasks == 1);
  auto lc = r.lost_by_cause({});
  REQUIRE(lc.size() == 1);
  CHECK(lc[0].reason == "worker process died");
  CHECK(lc[0].signal == "SIGKILL");
  auto ec = r.event_counts_since(t0 + sec, {transition_kind::start, transition_kind::fail});
  REQUIRE(ec.size() == 2);
  CHECK(ec[0].kind == transition_kind::fail);
  CHECK(ec[0].events == 1);
  CHECK(ec[1].events == 2);
  auto sc = r.count_by_state();
  CHECK(sc.queued == 3);
  CHECK(sc.failed == 1);
  CHECK(sc.lost == 1);
  CHECK(sc.running == 0);
  auto age = r.queued_age(t0 + 10 * sec);
  CHECK(age.ready == 2);
  CHECK(age.scheduled == 1);
  CHECK(age.oldest_ready_since_us == std::optional<int64_t>{t0});
  CHECK(age.next_scheduled_us == std::optional<int64_t>{t0 + 100 * sec});
}

// -- retention and partitions --------------------------------------------------------

TEST_CASE("contract: a purge deletes only final tasks that match, with their journal",
          "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_purge");
  auto& s = *j.ports.transitions;
  const auto ids = submit_all(s, {"a", "a", "a", "b"});
  run_and_fail(s, ids[0], {{"decision", "final"}});
  run_and_fail(s, ids[1], {{"decision", "final"}});
  run_and_fail(s, ids[3], {{"decision", "final"}});
  task_filter f;
  f.name = "a";
  f.limit = 1;
  CHECK(j.ports.retention->purge(f, {}, 1) == 1);
  CHECK(!j.ports.reads->get_task(ids[0])); // oldest created first
  CHECK(j.ports.reads->events(ids[0]).empty());
  f.limit = 0;
  CHECK(j.ports.retention->purge(f) == 1);
  CHECK(j.ports.reads->get_task(ids[2])); // QUEUED: never purged
  CHECK(j.ports.reads->get_task(ids[3])); // another name
  f = {};
  f.states = {task_state::queued};
  CHECK(j.ports.retention->purge(f) == 0);
}

TEST_CASE("contract: daily partitions are made once and listed oldest first", "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_partitions");
  auto& p = *j.ports.retention;
  const int64_t day = 86'400 * sec;
  const int64_t day0 = t0 / day * day;
  auto made = p.ensure_partitions(t0, 2);
  CHECK(made == std::vector<std::string>{"task_events_p20300317", "task_events_p20300318",
                                         "task_events_p20300319"});
  CHECK(p.ensure_partitions(t0 + day, 2) == std::vector<std::string>{"task_events_p20300320"});
  auto parts = p.partitions();
  // Only those of the test's days (a migrated Postgres also has the days
  // around the time it was migrated).
  parts.erase(std::remove_if(parts.begin(), parts.end(),
                             [&](const partition_info& x) { return x.from_us < day0; }),
              parts.end());
  REQUIRE(parts.size() == 4);
  CHECK(parts[0].from_us == day0);
  CHECK(parts[0].to_us == day0 + day);
  CHECK(parts[3].name == "task_events_p20300320");
}

TEST_CASE("contract: retention deletes old final tasks and drops old partitions, never a live task's events",
          "[contract]" CONTRACT_TAG) {
  auto j = make_contract_journal("c_retention");
  auto& s = *j.ports.transitions;
  const int64_t day = 86'400 * sec;
  j.ports.retention->ensure_partitions(t0, 3);
  const auto ids = submit_all(s, {"old_done", "old_live", "undecided"});
  run_and_fail(s, ids[0], {{"decision", "final"}});
  run_and_fail(s, ids[2], nlohmann::json::object()); // no decision yet: recovery decides
  const auto fresh = submit_all(s, {"fresh"}, t0 + 3 * day)[0];
  retention_options o;
  o.batch = 1;
  auto r = j.ports.retention->apply_retention(t0 + day, o);
  CHECK(r.tasks_deleted == 1);
  CHECK(!j.ports.reads->get_task(ids[0]));
  CHECK(j.ports.reads->get_task(ids[1]));
  CHECK(j.ports.reads->get_task(ids[2]));
  CHECK(j.ports.reads->get_task(fresh));
  std::vector<std::string> dropped; // of the test's days (a migrated Postgres has older ones)
  for (const auto& d : r.dropped)
    if (d.from_us >= t0 / day * day)
      dropped.push_back(d.name);
  // The day of t0 only: the next one ends within the hour's margin.
  CHECK(dropped == std::vector<std::string>{"task_events_p20300317"});
  CHECK(r.events_kept == 4); // submit of old_live; submit, start, fail of undecided
  CHECK(kinds_of(j.ports.reads->events(ids[1])) == std::vector<std::string>{"submit"});
  CHECK(kinds_of(j.ports.reads->events(ids[2]))
        == std::vector<std::string>{"submit", "start", "fail"});
  CHECK(j.ports.reads->events(ids[0]).empty());
  size_t left = 0;
  for (const auto& x : j.ports.retention->partitions())
    left += x.from_us >= t0 / day * day ? 1 : 0;
  CHECK(left == 3);
}

} // namespace taskrt::test

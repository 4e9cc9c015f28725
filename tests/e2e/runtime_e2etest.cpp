// End-to-end tests of one head with local worker processes, against a real
// Postgres: retries with their planned delays, deny-lists, crashes, checkpoint
// resume, cancel, manual retry, ordering, time limits, and head kill -9.

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/runtime/time.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

int64_t submit(client& c, const task_spec& s) {
  auto id = c.submit(s);
  REQUIRE(id);
  return *id;
}

task_outcome await(client& c, int64_t id, int timeout_s = 60) {
  auto out = c.await(id, std::chrono::seconds(timeout_s));
  REQUIRE(out);
  return *out;
}

std::vector<event_row> transitions(journal_store& store, int64_t id) {
  std::vector<event_row> out;
  for (auto& e : store.events(id))
    if (e.to_state)
      out.push_back(e);
  return out;
}

std::vector<std::string> kinds(const std::vector<event_row>& evs) {
  std::vector<std::string> out;
  for (auto& e : evs)
    out.push_back(to_string(e.kind));
  return out;
}

const event_row* find_event(const std::vector<event_row>& evs, const std::string& kind,
                            int32_t attempt) {
  for (auto& e : evs)
    if (to_string(e.kind) == kind && e.attempt == attempt)
      return &e;
  return nullptr;
}

/// The first event of `kind`, whatever its attempt (an attempt handed back
/// unstarted, e.g. prefetched behind a long one, shifts attempt numbers).
const event_row* first_event(const std::vector<event_row>& evs, const std::string& kind) {
  for (auto& e : evs)
    if (to_string(e.kind) == kind)
      return &e;
  return nullptr;
}

/// "kind@attempt" of every event, for failure messages.
std::string event_trail(const std::vector<event_row>& evs) {
  std::string out;
  for (auto& e : evs)
    out += to_string(e.kind) + std::string{"@"} + std::to_string(e.attempt) + " ";
  return out;
}


} // namespace

TEST_CASE("a flaky task is retried with the planned delays and succeeds", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_flaky");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  auto id = submit(c, spec("fail", {{"kind", "payments.TransientError"}, {"times", 2}},
                           R"({"retries":3,"linear_wait":0.3})"));
  auto out = await(c, id);
  CHECK(out.state == task_state::succeeded);
  CHECK(out.attempt == 3);
  journal_store store{dsn};
  auto evs = store.events(id);
  auto tr = transitions(store, id);
  CHECK(kinds(tr) == std::vector<std::string>{"submit", "start", "fail", "retry", "start",
                                              "fail", "retry", "start", "succeed"});
  // linear_wait 0.3: 0.3 s after attempt 1, 0.6 s after attempt 2.
  for (int attempt : {1, 2}) {
    auto* failed = find_event(evs, "fail", attempt);
    auto* next = find_event(evs, "start", attempt + 1);
    REQUIRE(failed);
    REQUIRE(next);
    const double gap = static_cast<double>(next->at_us - failed->at_us) / 1e6;
    CHECK(gap >= 0.3 * attempt - 0.01);
    CHECK(gap < 0.3 * attempt + 5.0);
    // The decision is journaled in the fail event itself (one commit).
    auto d = json::parse(failed->detail)["decision"];
    CHECK(d["decision"] == "retry");
    CHECK(d["delay_s"].get<double>() == Approx(0.3 * attempt));
    CHECK(d["inputs"]["error_kind"] == "payments.TransientError");
  }
}

TEST_CASE("deny-listed errors are not retried - with ancestry", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_deny");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  auto declared = submit(c, spec("fail", {{"kind", "payments.PermanentError"}},
                                 R"({"retries":5,"no_retry_on":["payments.PermanentError"]})"));
  auto derived = submit(c, spec("fail", {{"kind", "std::invalid_argument"}},
                                R"({"retries":5,"no_retry_on":["std::logic_error"]})"));
  auto allowed = submit(c, spec("fail", {{"kind", "std::runtime_error"}, {"times", 1}},
                                R"({"retries":5,"no_retry_on":["std::logic_error"]})"));
  for (auto id : {declared, derived}) {
    auto out = await(c, id);
    CHECK(out.state == task_state::failed);
    CHECK(out.attempt == 1);
  }
  CHECK(await(c, allowed).state == task_state::succeeded);
  journal_store store{dsn};
  auto evs = store.events(derived);
  auto* failed = find_event(evs, "fail", 1);
  REQUIRE(failed);
  auto d = json::parse(failed->detail)["decision"];
  CHECK(d["decision"] == "give_up");
  CHECK(d["inputs"]["error_ancestors"].dump().find("std::logic_error") != std::string::npos);
  auto t = store.get_task(derived);
  REQUIRE(t);
  CHECK(json::parse(t->last_error)["kind"] == "std::invalid_argument");
}

TEST_CASE("a crashing worker ends the attempt LOST with its signal - retried - worker restarted",
          "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_crash");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  // One after the other: a task prefetched behind a crashing one is handed
  // back unstarted, which would shift its attempt numbers ("times" counts them).
  auto segv = submit(c, spec("crash", {{"times", 1}, {"signal", "segv"}}, R"({"retries":2})"));
  CHECK(await(c, segv).state == task_state::succeeded);
  auto abrt = submit(c, spec("crash", {{"times", 1}, {"signal", "abort"}}, R"({"retries":2})"));
  CHECK(await(c, abrt).state == task_state::succeeded);
  // The one worker slot was restarted after each crash: a third task runs.
  CHECK(await(c, submit(c, spec("echo", {{"after", "crashes"}}))).state
        == task_state::succeeded);
  journal_store store{dsn};
  for (auto [id, sig] : {std::pair{segv, "SIGSEGV"}, std::pair{abrt, "SIGABRT"}}) {
    auto evs = store.events(id);
    INFO("task " << id << ": " << event_trail(evs));
    auto* lost = find_event(evs, "lose", 1);
    REQUIRE(lost);
    auto d = json::parse(lost->detail);
    CHECK(d["signal"] == sig);
    CHECK(d["error"]["kind"] == "taskrt.lost");
    CHECK(d["pid"].get<int>() > 0);
    CHECK(find_event(evs, "succeed", 2));
    // The stack the crash handler wrote, symbolized by the node: the demo
    // task's own frames (static functions, named from the ELF symbol table)
    // under the worker loop.
    const auto bt = d["error"].value("backtrace", std::string{});
    INFO(bt);
    CHECK_THAT(bt, Catch::StartsWith(std::string{"worker process stack at "} + sig + ":\n"));
    CHECK_THAT(bt, Catch::Contains("(anonymous namespace)::crash("));
    CHECK_THAT(bt, Catch::Contains("taskrt::run_worker_process("));
    // `tasks describe` shows it.
    auto page = run_cli({"tasks", "describe", std::to_string(id), "--db", dsn});
    CHECK(page.exit_code == 0);
    CHECK_THAT(page.out, Catch::Contains(std::string{"Backtrace of attempt 1 ("} + sig + ")"));
    CHECK_THAT(page.out, Catch::Contains("(anonymous namespace)::crash("));
  }
}

TEST_CASE("a task resumes from its checkpoint after a crash", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_checkpoint");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  auto id = submit(c, spec("checkpoint", {{"steps", 6}, {"crash_at", 3}}, R"({"retries":2})"));
  auto out = await(c, id);
  REQUIRE(out.state == task_state::succeeded);
  auto result = json::parse(out.result);
  CHECK(result["resumed_from"] == 3);
  CHECK(result["attempt"] == 2);
  journal_store store{dsn};
  CHECK(store.checkpoints(id).size() == 6);
  CHECK(store.latest_checkpoint(id) == std::optional<std::string>{R"({"step":6})"});
}

TEST_CASE("cancel: a queued task at once - a running one cooperatively", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_cancel");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  auto later = spec("echo", {{"x", 1}});
  later.run_at_us = to_micros(now()) + 60'000'000;
  auto queued = submit(c, later);
  auto st = c.cancel(queued);
  REQUIRE(st);
  CHECK(*st == task_state::cancelled);
  CHECK(await(c, queued).state == task_state::cancelled);

  auto running = submit(c, spec("sleep", {{"ms", 30'000}}));
  journal_store store{dsn};
  REQUIRE(eventually([&] {
    auto t = store.get_task(running);
    return t && t->state == task_state::running;
  }));
  st = c.cancel(running);
  REQUIRE(st);
  CHECK(*st == task_state::running); // flag set; the task returns soon
  auto out = await(c, running, 20);
  CHECK(out.state == task_state::cancelled);
  // A final task cannot be cancelled again: clear error, exit 1 from the CLI.
  auto r = run_cli({"tasks", "cancel", std::to_string(running), "--address", head.address()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("already CANCELLED") != std::string::npos);
}

TEST_CASE("manual retry re-queues a FAILED task - keeps history - restarts the budget",
          "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_manual");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  auto id = submit(c, spec("fail", {{"kind", "error"}, {"times", 2}}, R"({"retries":1})"));
  auto out = await(c, id);
  REQUIRE(out.state == task_state::failed);
  REQUIRE(out.attempt == 2);
  auto r = run_cli({"tasks", "retry", std::to_string(id), "--address", head.address(),
                    "--priority", "7"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  out = await(c, id);
  CHECK(out.state == task_state::succeeded);
  CHECK(out.attempt == 3); // numbers go on
  journal_store store{dsn};
  auto tr = transitions(store, id);
  CHECK(kinds(tr) == std::vector<std::string>{"submit", "start", "fail", "retry", "start",
                                              "fail", "manual_retry", "start", "succeed"});
  auto t = store.get_task(id);
  REQUIRE(t);
  CHECK(t->retry_base == 2);
  CHECK(t->priority == 7);
  // Retrying a task that is not FAILED/LOST/CANCELLED says why and exits 1.
  r = run_cli({"tasks", "retry", std::to_string(id), "--address", head.address()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("SUCCEEDED") != std::string::npos);
}

TEST_CASE("priority - lock and run_at order the work", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_order");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  // All three become ready at the same instant; the one worker then takes
  // them by priority (no timing assumption beyond submitting within 3 s).
  const auto same_time = to_micros(now()) + 3'000'000;
  std::vector<std::pair<int, int64_t>> by_prio;
  for (int p : {1, 5, 3}) {
    auto s = spec("echo", {{"p", p}});
    s.priority = p;
    s.run_at_us = same_time;
    by_prio.emplace_back(p, submit(c, s));
  }
  for (auto& [p, id] : by_prio)
    REQUIRE(await(c, id).state == task_state::succeeded);
  journal_store store{dsn};
  auto started = [&](int64_t id) { return find_event(store.events(id), "start", 1)->at_us; };
  std::map<int, int64_t> at;
  for (auto& [p, id] : by_prio)
    at[p] = started(id);
  CHECK(at[5] < at[3]);
  CHECK(at[3] < at[1]);

  // Two tasks with the same lock never overlap, even with free workers.
  head_process head2{fresh_schema_dsn("e2e_lock"), {"--workers", "2"}};
  auto& c2 = head2.connect();
  auto a = spec("sleep", {{"ms", 400}});
  a.lock = "account-42";
  auto b = a;
  auto ia = submit(c2, a), ib = submit(c2, b);
  REQUIRE(await(c2, ia).state == task_state::succeeded);
  REQUIRE(await(c2, ib).state == task_state::succeeded);
  journal_store store2{head2.dsn()};
  auto ea = store2.events(ia), eb = store2.events(ib);
  auto a_start = find_event(ea, "start", 1)->at_us, a_end = find_event(ea, "succeed", 1)->at_us;
  auto b_start = find_event(eb, "start", 1)->at_us, b_end = find_event(eb, "succeed", 1)->at_us;
  CHECK((b_start >= a_end || a_start >= b_end));

  // run_at in the future: not started before it.
  auto d = spec("echo", {{"delayed", true}});
  const auto run_at = to_micros(now()) + 1'000'000;
  d.run_at_us = run_at;
  auto id = submit(c2, d);
  REQUIRE(await(c2, id).state == task_state::succeeded);
  CHECK(find_event(store2.events(id), "start", 1)->at_us >= run_at);
}

TEST_CASE("prefetch: an attempt waiting behind a long one is handed back - runs elsewhere - no budget spent",
          "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_prefetch");
  head_process head{dsn, {"--workers", "2", "--prefetch", "1"}};
  auto& c = head.connect();
  // The long task takes worker A; s1 takes the idle worker B; s2 is then
  // prefetched behind the long task on A (both slots have one attempt, A was
  // dispatched to least recently), s3 behind s1 on B.
  auto longest = submit(c, spec("sleep", {{"ms", 3000}}));
  std::vector<int64_t> shorts;
  for (int i = 0; i < 3; ++i)
    shorts.push_back(submit(c, spec("sleep", {{"ms", 300}}, R"({"max_attempts":1})")));
  for (auto id : shorts)
    REQUIRE(await(c, id).state == task_state::succeeded);
  REQUIRE(await(c, longest).state == task_state::succeeded);
  journal_store store{dsn};
  const auto long_end = find_event(store.events(longest), "succeed", 1)->at_us;
  int handed_back = 0;
  for (auto id : shorts) {
    auto evs = store.events(id);
    INFO("task " << id << ": " << event_trail(evs));
    int requeues = 0;
    for (auto& e : evs)
      if (e.kind == transition_kind::requeue) {
        ++requeues;
        CHECK(json::parse(e.detail)["handback"] == "prefetch_wait");
      }
    handed_back += requeues;
    // Not held until the long task ended; hand-backs are not tries: the
    // task ran as attempt 1 (max_attempts 1 not used up), everywhere.
    auto rec = store.get_task(id);
    REQUIRE(rec);
    CHECK(rec->attempt == 1);
    CHECK(rec->retry_base == 0);
    for (auto& e : evs)
      if (e.kind == transition_kind::start || e.kind == transition_kind::requeue)
        CHECK(e.attempt == 1);
    CHECK(json::parse(await(c, id).result)["attempt"] == 1);
    auto* done = find_event(evs, "succeed", rec->attempt);
    REQUIRE(done);
    CHECK(done->at_us < long_end);
  }
  CHECK(handed_back >= 1);
}

TEST_CASE("time limit fails an attempt with taskrt.timeout - stuck tasks end LOST", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_timeout");
  // The sleep task reports progress about every second: a stuck timeout of
  // 1.5 s never takes it for stuck, and still catches the hang quickly.
  head_process head{dsn, {"--workers", "2", "--stuck-timeout", "1.5"}};
  auto& c = head.connect();
  auto limited = spec("sleep", {{"ms", 20'000}}, R"({"retries":0})");
  limited.time_limit_s = 0.5;
  auto slow = submit(c, limited);
  auto hung = submit(c, spec("hang", {{"ms", 60'000}}, R"({"retries":0})"));
  auto out = await(c, slow, 30);
  CHECK(out.state == task_state::failed);
  CHECK(json::parse(out.error)["kind"] == "taskrt.timeout");
  out = await(c, hung, 30);
  CHECK(out.state == task_state::lost);
  journal_store store{dsn};
  auto hung_events = store.events(hung);
  INFO("hung task: " << event_trail(hung_events));
  auto* lost = first_event(hung_events, "lose");
  REQUIRE(lost);
  CHECK(json::parse(lost->detail)["reason"] == "no progress for the stuck timeout");
  // A long task that reports progress is not taken for stuck.
  auto ok = submit(c, spec("sleep", {{"ms", 2500}}, R"({"retries":0})"));
  CHECK(await(c, ok, 30).state == task_state::succeeded);
}

TEST_CASE("bad input gets a clear error and nothing is queued", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_bad");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  auto id = c.submit(spec("no_such_task", json::object()));
  REQUIRE_FALSE(id);
  CHECK(error_message(id.error()).find("unknown task 'no_such_task'") != std::string::npos);
  id = c.submit(spec("echo", json::object(), R"({"wait":"5"})"));
  REQUIRE_FALSE(id);
  CHECK(error_message(id.error()).find("\"wait\"") != std::string::npos);
  auto r = run_cli({"submit", "echo", "--args", "{not json", "--address", head.address()});
  CHECK(r.exit_code == 2);
  r = run_cli({"submit", "nope", "--address", head.address()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("unknown task 'nope'") != std::string::npos);
  journal_store store{dsn};
  CHECK(store.list_tasks({}).empty());
  // The head still serves.
  CHECK(await(c, submit(c, spec("echo", {{"still", "alive"}}))).state
        == task_state::succeeded);
}

TEST_CASE("child tasks and the C++ fan-out actor", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_children");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  auto out = await(c, submit(c, spec("fanout", {{"n", 3}})));
  REQUIRE(out.state == task_state::succeeded);
  auto children = json::parse(out.result)["children"];
  REQUIRE(children.size() == 3);
  for (auto& child : children)
    CHECK(await(c, child.get<int64_t>()).state == task_state::succeeded);
  journal_store store{dsn};
  CHECK(store.get_task(children[0].get<int64_t>())->parent_id > 0);
  auto r = std::system((std::string{FANOUT_BIN} + " --address " + head.address()
                        + " --tasks 100 >/dev/null")
                         .c_str());
  CHECK(r == 0);
}

TEST_CASE("head kill -9 mid-run: every acknowledged task still reaches a final state",
          "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_kill");
  head_process head{dsn, {"--workers", "2"}};
  std::vector<int64_t> ids;
  {
    auto& c = head.connect();
    for (int i = 0; i < 30; ++i)
      ids.push_back(submit(c, spec("sleep", {{"ms", 150}}, R"({"retries":3})")));
  }
  journal_store store{dsn};
  REQUIRE(eventually([&] {
    for (auto& t : store.list_tasks({}))
      if (t.state == task_state::running)
        return true;
    return false;
  }));
  head.kill9();
  head.restart();
  auto& c = head.connect();
  int lost_attempts = 0;
  for (auto id : ids) {
    auto out = await(c, id, 120);
    CHECK(out.state == task_state::succeeded);
    auto evs = store.events(id);
    if (first_event(evs, "lose"))
      ++lost_attempts;
    // Never two attempts of one task RUNNING at once: the journal alternates.
    int running = 0;
    for (auto& e : evs) {
      if (e.kind == transition_kind::start)
        ++running;
      else if (e.from_state == task_state::running)
        --running;
      CHECK(running <= 1);
    }
  }
  CHECK(lost_attempts >= 1); // the attempts that were running at the kill
}

TEST_CASE("stop drains: exit 0 - running attempts finish - nothing LOST", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_stop");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  auto id = submit(c, spec("sleep", {{"ms", 500}}));
  journal_store store{dsn};
  REQUIRE(eventually([&] { return store.get_task(id)->state == task_state::running; }));
  CHECK(head.terminate() == 0);
  CHECK(store.get_task(id)->state == task_state::succeeded);
}

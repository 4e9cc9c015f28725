// The worker actor on CAF's test coordinator with a fake process spawner:
// every edge of the state machine drawn in actors/worker.hpp (STARTING →
// IDLE → BUSY → IDLE, exit/signal/kill → restart with or without backoff),
// prefetch hand-backs, cancel, drop (fencing), lease renewals and shutdown.
// The test's actor plays the scheduler, the fake plays the process.
#define CAF_SUITE worker
#include "tests/actors/caf/caf_fixture.hpp"
#include "tests/actors/caf/fake_process_spawner.hpp"

#include "taskrt/actors/worker.hpp"
#include "taskrt/runtime/lease.hpp"
#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/task_error.hpp"

#include <nlohmann/json.hpp>

using namespace taskrt;
using namespace taskrt::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

struct fixture : caf_fixture {
  std::shared_ptr<fake_process_spawner> procs = std::make_shared<fake_process_spawner>();
  caf::actor w;

  /// A worker (prefetch 1) whose process was started.
  void start(int32_t prefetch = 1, double prefetch_wait_s = 0.1) {
    worker_config c;
    c.node = "n1";
    c.index = 2;
    c.exe = "/bin/taskrt";
    c.argv = {"worker-process"};
    c.scheduler = caf::actor_cast<caf::actor>(self);
    c.head = c.scheduler;
    c.prefetch = prefetch;
    c.prefetch_wait_s = prefetch_wait_s;
    c.spawner = procs;
    w = spawn_worker(sys, c);
    run();
  }

  ~fixture() override {
    if (w)
      caf::anon_send_exit(w, caf::exit_reason::kill);
    run();
  }

  /// The process says ready; returns the worker_info announced (if any).
  std::optional<worker_info> ready(int32_t pid) {
    procs->say(pid, {wire::ready_evt{pid}});
    run();
    std::optional<worker_info> out;
    if (self->has_next_message())
      self->receive([&](ready_atom, worker_info& i, caf::actor&) { out = i; },
                    caf::after(std::chrono::seconds(0)) >> [] {});
    return out;
  }

  dispatch_msg attempt(int64_t task, int32_t n = 1, bool prefetched = false) {
    dispatch_msg d;
    d.task_id = task;
    d.attempt = n;
    d.task_attempt = n;
    d.lease_epoch = 100 + task;
    d.name = "work";
    d.args = "{}";
    d.prefetched = prefetched;
    return d;
  }

  /// The run commands the process got since the last call, by task id.
  std::vector<int64_t> runs(int32_t pid) {
    std::vector<int64_t> out;
    for (auto& c : procs->commands(pid))
      if (auto* r = std::get_if<wire::run_cmd>(&c))
        out.push_back(r->task_id);
    return out;
  }

  void done(int32_t pid, const dispatch_msg& d, const std::string& outcome, json result = {},
            json error = {}) {
    wire::done_evt e;
    e.task_id = d.task_id;
    e.attempt = d.attempt;
    e.lease_epoch = d.lease_epoch;
    e.outcome = outcome;
    e.result = std::move(result);
    e.error = std::move(error);
    procs->say(pid, {e});
    run();
  }

  /// A BUSY worker: process up, `d` dispatched and running.
  int32_t busy_with(const dispatch_msg& d, int32_t prefetch = 1, double wait_s = 0.1) {
    start(prefetch, wait_s);
    const auto pid = procs->last();
    CAF_REQUIRE(ready(pid).has_value());
    ask(w, d);
    CAF_REQUIRE_EQUAL(runs(pid), std::vector<int64_t>{d.task_id});
    return pid;
  }

  bool unready() {
    bool got = false;
    if (self->has_next_message())
      self->receive([&](unready_atom, worker_info&, caf::actor&) { got = true; },
                    caf::after(std::chrono::seconds(0)) >> [] {});
    return got;
  }
};

json detail_of(const attempt_done_msg& m) {
  return json::parse(m.detail);
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(worker_tests, fixture)

CAF_TEST(spawn child to STARTING: the process is started and nothing is announced yet) {
  start();
  CAF_REQUIRE_EQUAL(procs->started.size(), 1u);
  CAF_CHECK_EQUAL(procs->procs.at(procs->last()).argv,
                  (std::vector<std::string>{"/bin/taskrt", "worker-process"}));
  CAF_CHECK(!self->has_next_message());
}

CAF_TEST(STARTING to IDLE on ready: the worker announces its capacity once) {
  start(2);
  auto info = ready(procs->last());
  CAF_REQUIRE(info.has_value());
  CAF_CHECK_EQUAL(info->node, "n1");
  CAF_CHECK_EQUAL(info->index, 2);
  CAF_CHECK_EQUAL(info->pid, procs->last());
  CAF_CHECK_EQUAL(info->capacity, 3); // the running one and two prefetched
  CAF_CHECK(!ready(procs->last()).has_value()); // free again: no second announcement
}

CAF_TEST(IDLE to BUSY on dispatch and BUSY to IDLE on done with the result reported) {
  const auto d = attempt(7);
  const auto pid = busy_with(d);
  done(pid, d, "succeeded", json{{"ok", true}});
  auto r = next<attempt_done_msg>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK_EQUAL(r->task_id, 7);
  CAF_CHECK_EQUAL(r->lease_epoch, 107);
  CAF_CHECK(r->outcome == task_state::succeeded);
  CAF_CHECK(json::parse(r->result) == (json{{"ok", true}}));
  CAF_CHECK(detail_of(*r).at("node") == "n1");
  CAF_CHECK_EQUAL(r->began.task_id, 0); // nothing prefetched
}

CAF_TEST(BUSY to BUSY: a done starts the prefetched attempt and says that it began) {
  const auto a = attempt(1);
  const auto b = attempt(2, 1, true);
  const auto pid = busy_with(a);
  ask(w, b);
  CAF_CHECK(runs(pid).empty()); // waits behind the running one
  done(pid, a, "failed", {}, json{{"kind", "ValueError"}, {"message", "x"}});
  CAF_CHECK_EQUAL(runs(pid), std::vector<int64_t>{2});
  auto r = next<attempt_done_msg>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK(r->outcome == task_state::failed);
  CAF_CHECK_EQUAL(r->began.task_id, 2);
  CAF_CHECK_EQUAL(r->began.lease_epoch, 102);
}

CAF_TEST(a result that cannot be stored ends the attempt FAILED at the worker) {
  const auto d = attempt(3);
  const auto pid = busy_with(d);
  done(pid, d, "failed", {}, json{{"kind", 5}}); // not an error_info
  auto r = next<attempt_done_msg>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK(r->outcome == task_state::failed);
  CAF_CHECK(json::parse(r->error).at("kind") == bad_result_kind);
}

CAF_TEST(BUSY to restart on a crash: LOST with the signal and unready and a backoff before the new process) {
  const auto d = attempt(4);
  const auto pid = busy_with(d);
  procs->exit(pid, fake_process_spawner::signal_status(SIGSEGV));
  run();
  auto r = next<attempt_done_msg>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK(r->outcome == task_state::lost);
  CAF_CHECK(detail_of(*r).at("signal") == "SIGSEGV");
  CAF_CHECK(json::parse(r->error).at("kind") == lost_kind);
  CAF_CHECK(unready());
  CAF_CHECK_EQUAL(procs->started.size(), 1u);
  pass(99ms); // the first crash in a row waits 100 ms
  CAF_CHECK_EQUAL(procs->started.size(), 1u);
  pass(1ms);
  CAF_CHECK_EQUAL(procs->started.size(), 2u);
}

CAF_TEST(a dispatch while the process is down is handed back unstarted) {
  start();
  const auto pid = procs->last();
  CAF_REQUIRE(ready(pid).has_value());
  procs->exit(pid, fake_process_spawner::exit_status(1));
  run();
  CAF_CHECK(unready());
  ask(w, attempt(5));
  auto r = next<attempt_done_msg>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK(r->outcome == task_state::queued);
  CAF_CHECK(detail_of(*r).at("handback") == "process_down");
}

CAF_TEST(BUSY to restart when killed for its time limit: FAILED timeout and a new process at once) {
  auto d = attempt(6);
  d.time_limit_s = 1e-9; // over by the first check
  const auto pid = busy_with(d);
  pass(50ms); // the check tick
  CAF_CHECK_EQUAL(procs->killed, std::vector<int32_t>{pid});
  procs->exit(pid, fake_process_spawner::signal_status(SIGKILL));
  run();
  auto r = next<attempt_done_msg>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK(r->outcome == task_state::failed);
  CAF_CHECK(json::parse(r->error).at("kind") == timeout_kind);
  CAF_CHECK(detail_of(*r).at("reason") == "time limit exceeded");
  pass(0ms); // no backoff after a deliberate kill
  CAF_CHECK_EQUAL(procs->started.size(), 2u);
}

CAF_TEST(BUSY to restart when stuck without progress: LOST) {
  auto d = attempt(8);
  d.stuck_timeout_s = 1e-9;
  const auto pid = busy_with(d);
  pass(50ms);
  CAF_CHECK_EQUAL(procs->killed, std::vector<int32_t>{pid});
  procs->exit(pid, fake_process_spawner::signal_status(SIGKILL));
  run();
  auto r = next<attempt_done_msg>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK(r->outcome == task_state::lost);
  CAF_CHECK(detail_of(*r).at("reason") == "no progress for the stuck timeout");
}

CAF_TEST(a process that fences itself for an expired lease ends its attempt LOST and restarts at once) {
  const auto d = attempt(9);
  const auto pid = busy_with(d);
  procs->exit(pid, fake_process_spawner::exit_status(lease::fenced_exit_code));
  run();
  auto r = next<attempt_done_msg>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK(r->outcome == task_state::lost);
  CAF_CHECK(detail_of(*r).at("reason").get<std::string>().find("lease expired") == 0);
  pass(0ms); // not a crash: no backoff
  CAF_CHECK_EQUAL(procs->started.size(), 2u);
}

CAF_TEST(a prefetched attempt waiting too long behind a long one is handed back) {
  const auto a = attempt(10);
  const auto pid = busy_with(a, 1, 0.0);
  ask(w, attempt(11, 1, true));
  pass(50ms);
  auto r = next<attempt_done_msg>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK_EQUAL(r->task_id, 11);
  CAF_CHECK(r->outcome == task_state::queued);
  CAF_CHECK(detail_of(*r).at("handback") == "prefetch_wait");
  CAF_CHECK(runs(pid).empty());
}

CAF_TEST(cancel: the running attempt is told and a prefetched one ends CANCELLED unstarted) {
  const auto a = attempt(12);
  const auto pid = busy_with(a);
  ask(w, attempt(13, 1, true));
  ask(w, cancel_atom::value, int64_t{12});
  auto cmds = procs->commands(pid);
  CAF_REQUIRE_EQUAL(cmds.size(), 1u);
  CAF_CHECK(std::get<wire::cancel_cmd>(cmds[0]).task_id == 12);
  ask(w, cancel_atom::value, int64_t{13});
  auto r = next<attempt_done_msg>();
  CAF_REQUIRE(r.has_value());
  CAF_CHECK_EQUAL(r->task_id, 13);
  CAF_CHECK(r->outcome == task_state::cancelled);
}

CAF_TEST(drop: a fenced running attempt is killed and nothing is reported for it) {
  const auto a = attempt(14);
  const auto pid = busy_with(a);
  ask(w, drop_atom::value, int64_t{14}, int64_t{999}); // another lease: kept
  CAF_CHECK(procs->killed.empty());
  ask(w, drop_atom::value, int64_t{14}, a.lease_epoch);
  CAF_CHECK_EQUAL(procs->killed, std::vector<int32_t>{pid});
  procs->exit(pid, fake_process_spawner::signal_status(SIGKILL));
  run();
  CAF_CHECK(!next<attempt_done_msg>());
  pass(0ms);
  CAF_CHECK_EQUAL(procs->started.size(), 2u);
}

CAF_TEST(a lease renewal goes down the pipe and first to every new process) {
  start();
  const auto pid = procs->last();
  ask(w, lease_atom::value, int64_t{5'000}, int64_t{1'000});
  ask(w, lease_atom::value, int64_t{4'000}, int64_t{1'000}); // older: ignored
  auto cmds = procs->commands(pid);
  CAF_REQUIRE_EQUAL(cmds.size(), 1u);
  CAF_CHECK_EQUAL(std::get<wire::lease_cmd>(cmds[0]).end_ns, 5'000);
  procs->exit(pid, fake_process_spawner::exit_status(1));
  run();
  pass(100ms);
  const auto next_pid = procs->last();
  CAF_REQUIRE(next_pid != pid);
  cmds = procs->commands(next_pid);
  CAF_REQUIRE_EQUAL(cmds.size(), 1u);
  CAF_CHECK(std::holds_alternative<wire::lease_cmd>(cmds[0]));
}

CAF_TEST(shutdown hands the running and the prefetched attempts back and then quits) {
  const auto a = attempt(15);
  const auto pid = busy_with(a);
  ask(w, attempt(16, 1, true));
  self->monitor(w);
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK_EQUAL(procs->killed, std::vector<int32_t>{pid});
  procs->exit(pid, fake_process_spawner::signal_status(SIGKILL));
  run();
  auto r1 = next<attempt_done_msg>();
  auto r2 = next<attempt_done_msg>();
  CAF_REQUIRE(r1 && r2);
  CAF_CHECK(r1->outcome == task_state::queued);
  CAF_CHECK(r2->outcome == task_state::queued);
  CAF_CHECK(detail_of(*r2).at("handback") == "shutdown");
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK(down);
  w = nullptr;
}

CAF_TEST(a malformed line from the process is dropped and the worker goes on) {
  const auto a = attempt(17);
  const auto pid = busy_with(a);
  procs->say_raw(pid, "{not json");
  run();
  done(pid, a, "succeeded", json{{"v", 1}});
  CAF_CHECK(next<attempt_done_msg>().has_value());
}

CAF_TEST(a process that cannot be started is tried again a second later) {
  procs->refuse = true;
  start();
  CAF_CHECK(procs->started.empty());
  procs->refuse = false;
  pass(999ms);
  CAF_CHECK(procs->started.empty());
  pass(1ms);
  CAF_CHECK_EQUAL(procs->started.size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()

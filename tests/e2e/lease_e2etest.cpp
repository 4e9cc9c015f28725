// A lock is held by at most one running process, measured from what ran:
// a lock task (the demo task "stamp") appends start/tick/stop stamps with
// CLOCK_MONOTONIC and its pid to a file, and the test checks that no two
// processes' stamp intervals overlap, whatever happens to the node that ran
// the first attempt while its worker process keeps running:
//
//   1. the node process alone is stopped (SIGSTOP; its worker runs on);
//   2. the node, in a network namespace, is cut off loudly (every segment
//      refused with a reset: the head sees the connection drop at once);
//   3. the node's head connection black-holes (every packet dropped both
//      ways: TCP stays "open", the head finds out by timeout).
//
// The window each case hits: the head declares the node DEAD (5 s by the
// connection timeout in 1 and 3, at once in 2) and ends its attempt LOST
// while that attempt's worker process still runs. The head must not start
// the retry on node a before the lease of node b is over (10 s after its
// last heartbeat, plus the 1 s margin), and b's worker must kill itself
// before its lease ends (1 s early), on its own timer, with its node
// stopped or cut off. The task must still end SUCCEEDED exactly once.

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/persistence/leader_lock.hpp"
#include "taskrt/runtime/lease.hpp"
#include "taskrt/runtime/worker_wire.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/netns_link.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// What one process stamped: its first and last monotonic stamps, and
/// whether it stamped "stop" (ran to the end).
struct stamp_interval {
  int pid = 0;
  int64_t first_ns = 0;
  int64_t last_ns = 0;
  int attempt = 0;
  bool stopped = false;
};

/// The stamp file as one interval per process, ordered by start.
std::vector<stamp_interval> intervals_of(const std::string& path) {
  std::map<int, stamp_interval> by_pid;
  std::istringstream in{slurp(path)};
  std::string event;
  int pid = 0, attempt = 0;
  long long mono = 0, real = 0, task = 0;
  while (in >> event >> pid >> mono >> real >> task >> attempt) {
    auto& i = by_pid[pid];
    if (i.pid == 0) {
      i.pid = pid;
      i.first_ns = mono;
      i.attempt = attempt;
    }
    i.first_ns = std::min<int64_t>(i.first_ns, mono);
    i.last_ns = std::max<int64_t>(i.last_ns, mono);
    i.stopped = i.stopped || event == "stop";
  }
  std::vector<stamp_interval> out;
  for (auto& kv : by_pid)
    out.push_back(kv.second);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.first_ns < b.first_ns; });
  return out;
}

/// A fault applied to node b and undone: what each case does.
struct fault {
  const char* name;
  std::function<void()> apply;
  std::function<void()> undo;
};

double secs(int64_t ns) { return static_cast<double>(ns) / 1e9; }

/// Runs one case: head (no workers), node b (1 worker, no prefetch) runs the
/// lock task, the fault hits b, node a (1 worker) takes the retry. Checks
/// the stamps and the journal; prints the measured figures.
void run_case(const std::string& dsn, head_process& head, node_process& b, const fault& f) {
  auto& c = head.connect();
  journal_store store{dsn};
  REQUIRE(eventually([&] { return node_state(c, "b") == "ALIVE"; }, 30'000));
  REQUIRE(eventually([&] { auto s = c.status(); return s && s->workers == 1; }, 30'000));
  const auto stamps = head.data_dir() + "/stamps-" + f.name;
  auto s = spec("stamp", {{"file", stamps}, {"ms", 16000}, {"tick_ms", 20}},
                R"({"retries":3,"wait":0})");
  s.lock = "account-42";
  const auto id = c.submit(s);
  REQUIRE(id);
  REQUIRE(eventually([&] {
    auto t = store.get_task(*id);
    return t && t->state == task_state::running && t->node == "b"
           && slurp(stamps).find("start") != std::string::npos;
  }, 30'000));
  // Node a joins only now, so the first attempt is b's.
  node_process a{head.address(), "a", head.data_dir(), {"--workers", "1", "--prefetch", "0"}};
  REQUIRE(eventually([&] { return node_state(c, "a") == "ALIVE"; }, 30'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500)); // a heartbeat or so
  const auto fault_ns = lease::mono_ns();
  f.apply();
  REQUIRE(eventually([&] { return node_state(c, "b") == "DEAD"; }, 30'000));
  const auto dead_ns = lease::mono_ns();
  REQUIRE(eventually([&] {
    auto t = store.get_task(*id);
    return t && t->node == "a" && t->state == task_state::running;
  }, 40'000));
  const auto retry_ns = lease::mono_ns();
  // b stays stopped or cut off past the retry's start (had its worker not
  // fenced itself, it would still run now), then comes back.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  f.undo();
  auto out = c.await(*id, std::chrono::seconds(90));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
  REQUIRE(eventually([&] { return node_state(c, "b") == "ALIVE"; }, 30'000));

  // What ran: one interval per process, none overlapping.
  const auto runs = intervals_of(stamps);
  INFO("stamps:\n" << slurp(stamps).substr(0, 2000));
  INFO("node b log:\n" << b.output());
  REQUIRE(runs.size() >= 2);
  for (size_t i = 1; i < runs.size(); ++i) {
    INFO("process " << runs[i - 1].pid << " last stamped " << runs[i - 1].last_ns
                    << ", process " << runs[i].pid << " first stamped " << runs[i].first_ns);
    CHECK(runs[i - 1].last_ns < runs[i].first_ns);
  }
  // b's worker never finished: it fenced itself before its lease ran out.
  CHECK_FALSE(runs.front().stopped);
  CHECK(runs.back().stopped);
  int stopped = 0;
  for (const auto& r : runs)
    stopped += r.stopped ? 1 : 0;
  CHECK(stopped == 1);
  // Accepted once: one succeed event in the journal.
  int succeeded = 0;
  for (auto& e : store.events(*id))
    succeeded += e.kind == transition_kind::succeed ? 1 : 0;
  CHECK(succeeded == 1);
  CHECK(b.output().find("lease not renewed") != std::string::npos);

  const auto gap_ns = runs[1].first_ns - runs[0].last_ns;
  std::printf("lease %s: b DEAD %.2f s after the fault; b's worker last stamped %.2f s after "
              "it; the retry on a first stamped %.2f s after it (seen RUNNING %.2f s); gap "
              "%.2f s (negative: they overlapped); %zu processes ran\n",
              f.name, secs(dead_ns - fault_ns), secs(runs[0].last_ns - fault_ns),
              secs(runs[1].first_ns - fault_ns), secs(retry_ns - fault_ns), secs(gap_ns),
              runs.size());
  std::fflush(stdout);
  CHECK(gap_ns > 0);
}

/// A `taskrt worker-process` started directly, its pipes on fds 3 and 4 as
/// a worker actor starts it; nothing else renews its lease.
struct lone_worker {
  int pid = -1;
  int to = -1, from = -1;

  lone_worker() {
    std::signal(SIGPIPE, SIG_IGN); // a process that is gone fails the write, not the test
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    const auto bin = taskrt_bin();
    pid = ::fork();
    if (pid == 0) {
      // Above 4 first: a pipe end may already be fd 3 or 4.
      const int r = ::fcntl(in[0], F_DUPFD, 10), wr = ::fcntl(out[1], F_DUPFD, 10);
      ::dup2(r, 3);
      ::dup2(wr, 4);
      ::execl(bin.c_str(), bin.c_str(), "worker-process", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to = in[1];
    from = out[0];
    // Its "ready" line.
    char c = 0;
    while (::read(from, &c, 1) == 1 && c != '\n') {
    }
  }

  ~lone_worker() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    ::close(to);
    ::close(from);
  }

  void send(const wire::to_process& msg) {
    const auto line = wire::encode(msg);
    REQUIRE(::write(to, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  }

  /// Waits up to `timeout_ms` for the exit; its status (-1: still running,
  /// then killed), and when it was seen (monotonic ns).
  std::pair<int, int64_t> wait_exit(int timeout_ms) {
    int status = 0;
    for (int t = 0; t < timeout_ms; ++t) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return {status, lease::mono_ns()};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return {-1, lease::mono_ns()};
  }
};

} // namespace

TEST_CASE("lease - a worker process alone fences itself on its own timer, renewals keep it "
          "running",
          "[e2e][lease]") {
  char dir[] = "/tmp/taskrt-lease-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  const std::string stamps = std::string{dir} + "/stamps";
  lone_worker w;
  const int64_t ms = 1'000'000;
  // A lease that ends in 1.5 s with a 0.5 s margin: the process must be
  // gone 1.0 s from now, with the task it runs (16 s of stamps every 5 ms).
  const auto t0 = lease::mono_ns();
  w.send(wire::lease_cmd{t0 + 1500 * ms, 500 * ms});
  wire::run_cmd run;
  run.task_id = 1;
  run.attempt = 1;
  run.task_attempt = 1;
  run.lease_epoch = 1;
  run.name = "stamp";
  run.args = json{{"file", stamps}, {"ms", 16000}, {"tick_ms", 5}}.dump();
  w.send(run);
  // Renewals every 300 ms for 2 s keep it running past the first fence.
  int64_t last_end = 0;
  for (int i = 1; i <= 7; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    last_end = lease::mono_ns() + 1500 * ms;
    w.send(wire::lease_cmd{last_end, 500 * ms});
  }
  const auto fence = last_end - 500 * ms;
  auto [status, seen_ns] = w.wait_exit(10'000);
  REQUIRE(status != -1); // it was still running 10 s later
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == lease::fenced_exit_code);
  const auto runs = intervals_of(stamps);
  REQUIRE(runs.size() == 1);
  CHECK_FALSE(runs[0].stopped);
  // It ran past the first lease's fence (renewed), and its last stamp is
  // before its lease's end: after the fence by no more than a tick plus
  // the watchdog's wake-up.
  CHECK(runs[0].last_ns > t0 + 1000 * ms);
  CHECK(runs[0].last_ns < last_end);
  const auto late_ns = runs[0].last_ns - fence;
  CHECK(late_ns < 100 * ms); // generous: the watchdog wakes at the fence instant
  std::printf("lease watchdog: last stamp %.1f ms after the fence instant (stamps every 5 ms), "
              "exit seen %.1f ms after it; %.0f ms before the lease's end\n",
              static_cast<double>(late_ns) / 1e6, static_cast<double>(seen_ns - fence) / 1e6,
              static_cast<double>(last_end - runs[0].last_ns) / 1e6);
  std::fflush(stdout);
  std::remove(stamps.c_str());
  ::rmdir(dir);
}

TEST_CASE("lease - SIGSTOP of a node process only - its worker fences itself before the head "
          "runs the lock task again",
          "[e2e][lease]") {
  auto dsn = fresh_schema_dsn("e2e_lease_stop");
  head_process head{dsn, {"--workers", "0"}};
  node_process b{head.address(), "b", head.data_dir(), {"--workers", "1", "--prefetch", "0"}};
  const int pid = b.pid;
  run_case(dsn, head, b,
           {"sigstop", [pid] { ::kill(pid, SIGSTOP); }, [pid] { ::kill(pid, SIGCONT); }});
}

/// The network-namespace cases: head on the root side, node b inside; the
/// fault is `apply` on the link (cut: connection reset; partition: packets
/// dropped), undone by heal().
void run_netns_case(const char* what, const char* schema, void (netns_link::*apply)()) {
  std::unique_ptr<netns_link> net;
  try {
    net = std::make_unique<netns_link>();
  } catch (const netns_unavailable& e) {
    std::printf("SKIPPED: lease %s test: %s\n", what, e.what());
    std::fflush(stdout);
    WARN("lease " << what << " test skipped: " << e.what());
    return;
  }
  auto dsn = fresh_schema_dsn(schema);
  head_process head{dsn, {"--workers", "0", "--host", net->root_ip(), "--insecure"}};
  node_process b{head.address(), "b", head.data_dir(), {"--workers", "1", "--prefetch", "0"},
                 net->exec_prefix()};
  auto* n = net.get();
  run_case(dsn, head, b, {what, [n, apply] { (n->*apply)(); }, [n] { n->heal(); }});
}

TEST_CASE("lease - a node in a network namespace cut off (connection reset) - the lock waits "
          "for its lease",
          "[e2e][netns][lease]") {
  run_netns_case("cut", "e2e_lease_cut", &netns_link::cut);
}

TEST_CASE("lease - a node whose head connection black-holes (packets dropped) - the lock waits "
          "for its lease",
          "[e2e][netns][lease]") {
  run_netns_case("blackhole", "e2e_lease_blackhole", &netns_link::partition);
}

TEST_CASE("lease - the active head paused with a lock task on its own worker - the standby "
          "takes over - the worker fences itself before the retry",
          "[e2e][lease]") {
  // The window: head A (its own worker runs the lock task) is paused; its
  // worker process runs on. Standby B (--takeover-after 3) takes over, waits
  // the adoption grace (15 s) for A's node and ends the attempt LOST, then
  // retries it on its own worker. A's worker, renewed by A's scheduler only,
  // must have fenced itself 9 s after the pause, long before.
  auto dsn = fresh_schema_dsn("e2e_lease_paused_head");
  head_process a{dsn, {"--workers", "1", "--prefetch", "0", "--node-id", "ha"}};
  const auto pb = free_port();
  head_process b{dsn, {"--workers", "1", "--prefetch", "0", "--node-id", "hb", "--standby",
                       "--port", pb, "--takeover-after", "3"}};
  REQUIRE(eventually([&] { return leader_lock::sessions(dsn).size() == 2; }));
  auto& ca = a.connect();
  const auto stamps = b.data_dir() + "/stamps-paused-head";
  auto s = spec("stamp", {{"file", stamps}, {"ms", 30000}, {"tick_ms", 20}},
                R"({"retries":3,"wait":0})");
  s.lock = "account-42";
  auto id = ca.submit(s);
  REQUIRE(id);
  journal_store store{dsn};
  REQUIRE(eventually([&] {
    auto t = store.get_task(*id);
    return t && t->state == task_state::running && slurp(stamps).find("start") != std::string::npos;
  }, 20'000));
  const auto paused_ns = lease::mono_ns();
  REQUIRE(::kill(a.pid(), SIGSTOP) == 0);
  REQUIRE(eventually([&] { return b.log().find("listening on") != std::string::npos; }, 30'000));
  auto& cb = b.connect();
  auto out = cb.await(*id, std::chrono::seconds(120));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
  CHECK(result_nodes(dsn, *id) == std::vector<std::string>{"hb"});
  const auto runs = intervals_of(stamps);
  INFO("stamps:\n" << slurp(stamps).substr(0, 2000));
  INFO("head a log:\n" << a.log());
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].last_ns < runs[1].first_ns);
  CHECK_FALSE(runs[0].stopped);
  CHECK(runs[1].stopped);
  CHECK(a.log().find("lease not renewed") != std::string::npos);
  std::printf("lease paused head: A's worker last stamped %.2f s after the pause; the retry on "
              "B first stamped %.2f s after it\n",
              secs(runs[0].last_ns - paused_ns), secs(runs[1].first_ns - paused_ns));
  std::fflush(stdout);
  REQUIRE(::kill(a.pid(), SIGCONT) == 0);
  CHECK(a.wait_exit_code(30) == 3);
}

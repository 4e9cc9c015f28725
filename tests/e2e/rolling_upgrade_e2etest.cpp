// A rolling upgrade with tasks in flight (issue 26), with real processes on
// loopback against a real Postgres: an active head, a standby head and two
// worker nodes on release A, upgraded in the order docs/deploy.md gives
// ("Upgrades: versions, skew and order") to release B while a stream of 300
// tasks is submitted.
//
// Two releases from one build: release A is this build's own version; B is
// the same binary announcing the next minor version ($TASKRT_FAULT_VERSION,
// which only a test build reads: runtime/version.hpp). So this tests the
// procedure (standby first, takeover by SIGTERM, nodes drained one by one),
// the mixed cluster in between and the skew check, not wire compatibility
// between two different releases' code.
//
// Each task is the demo task "stamp": it writes "start", "tick" and "stop"
// lines with its worker process's pid and its attempt to a file of its own,
// and returns that pid. What ran is read from those files, what counted from
// the journal.

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/persistence/leader_lock.hpp"
#include "taskrt/runtime/version.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

constexpr int task_count = 300;
constexpr int phases = 6; // the old cluster, then one per upgrade step
constexpr int per_phase = task_count / phases;

/// "M.m.0".
std::string release(int major, int minor) {
  return std::to_string(major) + "." + std::to_string(minor) + ".0";
}

/// The environment entry that makes a process announce release `v`.
std::string announcing(const std::string& v) {
  return "TASKRT_FAULT_VERSION=" + v;
}

/// A head (`taskrt start --head`) announcing release `v`: head_process
/// (head_process.hpp) runs the build's own release; this one runs
/// `env TASKRT_FAULT_VERSION=V taskrt start --head ...` (env execs in place).
class announcing_head {
public:
  announcing_head(const std::string& dsn, const std::string& v, std::vector<std::string> extra) {
    char tpl[] = "/tmp/taskrt-e2e-release.XXXXXX";
    REQUIRE(::mkdtemp(tpl));
    dir_ = tpl;
    std::vector<std::string> args{"env", announcing(v), taskrt_bin(), "start", "--head",
                                  "--db", dsn, "--data-dir", dir_};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    const auto log_path = dir_ + "/head.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    // Up once its state file is written (a standby writes it too).
    const bool up =
      eventually([&] { return !slurp(dir_ + "/head.json").empty() || exited(); }, 30'000);
    if (!up || exited()) {
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
      FAIL("the head announcing " << v << " did not start:\n" << log());
    }
  }

  ~announcing_head() {
    if (pid_ > 0 && terminate() < 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  announcing_head(const announcing_head&) = delete;
  announcing_head& operator=(const announcing_head&) = delete;

  /// SIGTERM (drain) and its exit status; -1 when it still runs after 60 s.
  int terminate() {
    ::kill(pid_, SIGTERM);
    if (!eventually([&] { return exited(); }, 60'000))
      return -1;
    return status_;
  }

  /// The head's output so far.
  std::string log() const { return slurp(dir_ + "/head.log"); }

private:
  /// Whether the process ended (reaped here; status_ then holds its code).
  bool exited() {
    if (pid_ <= 0)
      return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) != pid_)
      return false;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return true;
  }

  std::string dir_;
  int pid_ = -1;
  int status_ = -1;
};

/// "ROLE ADDRESS" of every head session of the journal, active first,
/// each once. A standby stopped while it waits for the lock leaves its
/// lock wait in Postgres (the backend notices the closed connection only
/// once the lock is granted to it): the restarted standby then shows twice
/// under its address; `sessions_seen` counts what Postgres listed.
std::vector<std::string> heads_of(const std::string& dsn, size_t* sessions_seen = nullptr) {
  std::vector<std::string> out;
  const auto sessions = leader_lock::sessions(dsn);
  for (const auto& s : sessions)
    if (out.empty() || out.back() != s.role + " " + s.address)
      out.push_back(s.role + " " + s.address);
  if (sessions_seen)
    *sessions_seen = sessions.size();
  return out;
}

/// Microseconds since the epoch (the journal's `at` clock, on this host).
int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// One run of a task as its stamp file shows it: the worker process and
/// the attempt, and whether it stamped "stop" (ran to its end).
struct stamped_run {
  int pid = 0;
  int attempt = 0;
  bool stopped = false;
};

/// The runs in the stamp file `path` ("EVENT PID MONO REAL TASK ATTEMPT"),
/// each of task `id` (a line of another task fails the test).
std::vector<stamped_run> runs_in(const std::string& path, int64_t id) {
  std::vector<stamped_run> out;
  std::istringstream in{slurp(path)};
  for (std::string line; std::getline(in, line);) {
    std::istringstream l{line};
    std::string event;
    long long mono = 0, real = 0, task = 0;
    stamped_run r;
    l >> event >> r.pid >> mono >> real >> task >> r.attempt;
    CHECK(task == id);
    auto it = std::find_if(out.begin(), out.end(), [&](const stamped_run& o) {
      return o.pid == r.pid && o.attempt == r.attempt;
    });
    if (event == "start" && it == out.end())
      out.push_back(r);
    else if (event == "stop" && it != out.end())
      it->stopped = true;
  }
  return out;
}

/// The head's view of its nodes: id -> (state, version); empty when the
/// head does not answer.
std::map<std::string, std::pair<std::string, std::string>> node_views(const std::string& addr) {
  client c{addr};
  std::map<std::string, std::pair<std::string, std::string>> out;
  if (!c.connected())
    return out;
  for (const auto& n : nodes_of(c))
    out[n.id] = {to_string(n.state), n.version};
  return out;
}

/// Whether node `id` is ALIVE under the head at `addr`, registered with `v`.
bool alive_as(const std::string& addr, const std::string& id, const std::string& v) {
  const auto views = node_views(addr);
  const auto it = views.find(id);
  return it != views.end() && it->second == std::pair<std::string, std::string>{"ALIVE", v};
}

/// Whether a task of `store` created at or after `since_us` has run (or
/// runs) on node `node`: the head that took it dispatched to that node.
bool ran_on_since(journal_store& store, const std::string& node, int64_t since_us) {
  task_filter f;
  f.node = node;
  f.since_us = since_us;
  f.states = {task_state::running, task_state::succeeded};
  f.limit = 1;
  return !store.list_tasks(f).empty();
}

/// How many tasks are QUEUED or RUNNING now (the journal says).
size_t in_flight(journal_store& store) {
  task_filter f;
  f.states = {task_state::queued, task_state::running};
  return store.list_tasks(f).size();
}

/// Whether an attempt runs on node `node` now (the journal says RUNNING).
bool running_on(journal_store& store, const std::string& node) {
  task_filter f;
  f.node = node;
  f.states = {task_state::running};
  f.limit = 1;
  return !store.list_tasks(f).empty();
}

/// SIGTERM to a worker node (it drains), and its exit status once it is
/// gone (-1 when it still runs after 90 s).
int drain(node_process& n) {
  ::kill(n.pid, SIGTERM);
  if (!eventually([&] { return !n.running(); }, 90'000))
    return -1;
  return n.exit_code;
}

/// The submitter: `task_count` stamp tasks with idempotency keys, phase by
/// phase (tasks of phase k only once the test has begun step k), through a
/// client that knows both heads; a refused or broken submit is repeated
/// with the same key, as docs/deploy.md tells a client to.
struct task_stream {
  std::string addresses;
  std::string dir;
  std::atomic<int> phase{0};
  std::atomic<int> submitted{0};
  std::atomic<int> resubmits{0};
  std::atomic<bool> abandon{false}; ///< the test failed: stop at once
  std::vector<int64_t> ids = std::vector<int64_t>(task_count, 0);
  std::string error;
  std::thread thread;

  void start() {
    thread = std::thread{[this] { run(); }};
  }

  void run() {
    client c{addresses};
    for (int i = 0; i < task_count; ++i) {
      while (phase.load() < i / per_phase && !abandon)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      auto s = spec("stamp",
                    {{"file", dir + "/stamp-" + std::to_string(i)}, {"ms", 200}, {"tick_ms", 100}},
                    R"({"retries":3})");
      s.key = "rolling-upgrade-" + std::to_string(i);
      for (int tries = 0;; ++tries) {
        if (auto id = c.submit(s)) {
          ids[static_cast<size_t>(i)] = *id;
          break;
        } else if (tries == 300 || abandon) {
          error = "task " + std::to_string(i) + ": " + error_message(id.error());
          return;
        }
        ++resubmits;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      ++submitted;
      std::this_thread::sleep_for(std::chrono::milliseconds(40)); // a stream, not a burst
    }
  }

  /// Lets the tasks of phase `k` go, and waits until half of them went.
  void begin_phase(int k) {
    phase = k;
    REQUIRE(eventually([&] { return submitted.load() >= k * per_phase + per_phase / 2; },
                       60'000));
  }
};

} // namespace

TEST_CASE("rolling upgrade from release A to B with 300 tasks in flight - standby head first, "
          "takeover, nodes one by one - every task SUCCEEDED once and old nodes work under "
          "the new head",
          "[e2e][upgrade][rolling]") {
  const int major = major_minor(version()).first, minor = major_minor(version()).second;
  REQUIRE(major >= 0);
  const std::string rel_a = version(), rel_b = release(major, minor + 1);
  const auto line_b = rel_b + " (commit " + build_commit() + ")";

  // What a B process says it is: --version, then status, /metrics and
  // registration below.
  const auto v = run_cli({"--version"}, {announcing(rel_b)});
  CHECK(v.exit_code == 0);
  CHECK(v.out == "taskrt " + line_b + "\n");
  const auto bad = run_cli({"--version"}, {announcing("next")});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("TASKRT_FAULT_VERSION=next: not a version") != std::string::npos);

  const auto dsn = fresh_schema_dsn("e2e_rolling_upgrade");
  const auto pa = free_port(), pb = free_port(), http_b = free_port();
  const auto addr_a = "127.0.0.1:" + pa, addr_b = "127.0.0.1:" + pb;
  const auto both = addr_a + "," + addr_b;
  char tpl[] = "/tmp/taskrt-rolling.XXXXXX";
  REQUIRE(::mkdtemp(tpl));
  const std::string dir = tpl;
  struct dir_guard { // removed after every process below has ended
    std::string d;
    ~dir_guard() { std::system(("rm -rf '" + d + "'").c_str()); }
  } cleanup{dir};

  // The old cluster: everything on release A.
  head_process a{dsn, {"--workers", "0", "--port", pa}};
  head_process b{dsn, {"--workers", "0", "--port", pb, "--standby"}};
  REQUIRE(eventually([&] {
    return heads_of(dsn) == std::vector<std::string>{"active " + addr_a, "standby " + addr_b};
  }));
  auto n1 = std::make_unique<node_process>(both, "n1", dir);
  auto n2 = std::make_unique<node_process>(both, "n2", dir);
  REQUIRE(eventually([&] { return alive_as(addr_a, "n1", rel_a) && alive_as(addr_a, "n2", rel_a); }));
  journal_store store{dsn};

  task_stream stream;
  stream.addresses = both;
  stream.dir = dir;
  stream.start();
  struct stream_guard {
    task_stream& s;
    ~stream_guard() {
      s.abandon = true;
      if (s.thread.joinable())
        s.thread.join();
    }
  } guard{stream};
  std::map<std::string, double> step_s;
  std::vector<size_t> flight; // tasks QUEUED or RUNNING as each step began
  auto timed = [&](const std::string& name, auto step) {
    flight.push_back(in_flight(store));
    const auto t0 = std::chrono::steady_clock::now();
    step();
    step_s[name] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  REQUIRE(eventually([&] { return running_on(store, "n1") || running_on(store, "n2"); }));

  // Step 1: the standby head restarts as B (it stands by: nothing migrates).
  stream.begin_phase(1);
  std::unique_ptr<announcing_head> b2, a2; // b and a once they run B
  size_t sessions_after_standby_restart = 0;
  timed("standby head to B", [&] {
    REQUIRE(b.terminate() == 0);
    b2 = std::make_unique<announcing_head>(
      dsn, rel_b,
      std::vector<std::string>{"--workers", "0", "--port", pb, "--standby", "--http-port", http_b});
    const bool standing_by = eventually([&] {
      return heads_of(dsn) == std::vector<std::string>{"active " + addr_a, "standby " + addr_b};
    });
    INFO("the B standby's log:\n" << b2->log());
    REQUIRE(standing_by);
    heads_of(dsn, &sessions_after_standby_restart);
  });

  // Step 2: the window is attempts running on the A nodes while the active
  // A head drains (SIGTERM) and exits; the B standby takes over, the nodes
  // re-register with it (still A) and report their attempts.
  stream.begin_phase(2);
  REQUIRE(eventually([&] { return running_on(store, "n1") || running_on(store, "n2"); }));
  int64_t a_gone_us = 0;
  size_t running_at_a_exit = 0;
  timed("takeover by the B head", [&] {
    REQUIRE(a.terminate() == 0);
    a_gone_us = now_us();
    task_filter f;
    f.states = {task_state::running};
    running_at_a_exit = store.list_tasks(f).size();
    REQUIRE(eventually([&] { return heads_of(dsn) == std::vector<std::string>{"active " + addr_b}; },
                       60'000));
    REQUIRE(eventually([&] { return alive_as(addr_b, "n1", rel_a) && alive_as(addr_b, "n2", rel_a); },
                       60'000));
  });
  {
    const auto log_b = b2->log();
    INFO(log_b);
    CHECK((log_b.find("node n1 registered version=" + rel_a) != std::string::npos
           || log_b.find("node n1 rejoined version=" + rel_a) != std::string::npos));
    const auto status = run_cli({"status", "-o", "json", "--address", both, "--db", dsn});
    INFO(status.out << status.err);
    REQUIRE(status.exit_code == 0);
    const auto sj = json::parse(status.out, nullptr, false);
    REQUIRE(sj.is_object());
    CHECK(sj["head"]["address"] == addr_b);
    CHECK(sj["head"]["version"] == line_b);
    httplib::Client probe{"127.0.0.1", std::stoi(http_b)};
    const auto metrics = probe.Get("/metrics");
    REQUIRE(metrics);
    INFO(metrics->body);
    std::istringstream lines{metrics->body};
    bool build_info_b = false;
    for (std::string l; std::getline(lines, l);)
      build_info_b |= l.rfind("taskrt_build_info{", 0) == 0
                      && l.find("version=\"" + rel_b + "\"") != std::string::npos;
    CHECK(build_info_b);
  }

  // Step 3: the old active head comes back as B, standing by.
  stream.begin_phase(3);
  timed("old active head back as B standby", [&] {
    a2 = std::make_unique<announcing_head>(
      dsn, rel_b, std::vector<std::string>{"--workers", "0", "--port", pa, "--standby"});
    REQUIRE(eventually([&] {
      return heads_of(dsn) == std::vector<std::string>{"active " + addr_b, "standby " + addr_a};
    }));
  });

  // Steps 4 and 5: each node in turn. Before its drain, the B head has
  // dispatched to it while it still runs A (a task submitted after the A
  // head was gone ran on it); the window is an attempt RUNNING on it at the
  // SIGTERM. It drains (exit 0) and comes back as B.
  std::map<std::string, int64_t> drained_at_us;
  int phase = 4;
  for (auto* n : {&n1, &n2}) {
    const std::string id = n == &n1 ? "n1" : "n2";
    stream.begin_phase(phase++);
    REQUIRE(eventually([&] { return ran_on_since(store, id, a_gone_us); }, 60'000));
    REQUIRE(alive_as(addr_b, id, rel_a));
    REQUIRE(eventually([&] { return running_on(store, id); }, 60'000));
    timed("node " + id + " drained and back as B", [&] {
      drained_at_us[id] = now_us();
      const int code = drain(**n);
      INFO((*n)->output());
      REQUIRE(code == 0);
      *n = std::make_unique<node_process>(both, id, dir,
                                           std::vector<std::string>{"--workers", "2"},
                                           std::vector<std::string>{"env", announcing(rel_b)});
      REQUIRE(eventually([&] { return alive_as(addr_b, id, rel_b); }, 60'000));
    });
  }
  stream.phase = phases;
  stream.thread.join();
  REQUIRE(stream.error == "");
  REQUIRE(stream.submitted == task_count);

  // A node outside the skew of the B head is refused, names both versions
  // and exits non-zero: two minors on, and the next major.
  int far_nodes = 0;
  for (const auto& outside : {release(major, minor + 3), release(major + 1, minor + 1)}) {
    node_process far{both, "far" + std::to_string(++far_nodes), dir, {"--workers", "1"},
                     {"env", announcing(outside)}};
    REQUIRE(eventually([&] { return !far.running(); }, 60'000));
    const auto out = far.output();
    INFO(out);
    CHECK(far.exit_code != 0);
    CHECK(out.find("runs taskrt " + outside + ", this head runs " + rel_b) != std::string::npos);
    CHECK(out.find("outside the supported version skew") != std::string::npos);
  }
  CHECK(alive_as(addr_b, "n1", rel_b));
  CHECK(alive_as(addr_b, "n2", rel_b));

  // Every task ends SUCCEEDED, once: one accepted result in the journal and
  // one run to its end in its own stamps, the accepted one. A task ran
  // twice only where the journal shows an attempt handed back or lost.
  client c{both};
  const auto outs = c.await_many(stream.ids, std::chrono::seconds(300));
  REQUIRE(outs);
  CHECK(std::set<int64_t>(stream.ids.begin(), stream.ids.end()).size() == task_count);
  CHECK(store.list_tasks({}).size() == task_count); // a resubmit never made a second task
  std::map<std::string, int> under_b_on_a; // starts journaled by the B head on an A node
  int adopted = 0, handed_back = 0, lost = 0;
  std::vector<int64_t> rerun;
  for (size_t i = 0; i < outs->size(); ++i) {
    const auto& out = (*outs)[i];
    const auto id = stream.ids[i];
    INFO("task " << id << " (stream " << i << ")");
    CHECK(out.state == task_state::succeeded);
    int succeeded = 0, backs = 0;
    for (const auto& e : store.events(id)) {
      succeeded += e.kind == transition_kind::succeed;
      adopted += e.kind == note_kind::adopted;
      backs += e.kind == transition_kind::requeue || e.kind == transition_kind::lose;
      handed_back += e.kind == transition_kind::requeue;
      lost += e.kind == transition_kind::lose;
      if (e.kind == transition_kind::start && e.at_us > a_gone_us && drained_at_us.count(e.node)
          && e.at_us < drained_at_us[e.node])
        ++under_b_on_a[e.node];
    }
    CHECK(succeeded == 1);
    const auto runs = runs_in(dir + "/stamp-" + std::to_string(i), id);
    const auto result = json::parse(out.result, nullptr, false);
    REQUIRE(result.is_object());
    const auto accepted = std::find_if(runs.begin(), runs.end(), [&](const stamped_run& r) {
      return r.pid == result.value("pid", 0) && r.attempt == result.value("attempt", 0);
    });
    REQUIRE(accepted != runs.end());
    CHECK(accepted->stopped);
    if (runs.size() != 1) {
      CHECK(backs > 0); // a second run only after a hand-back or a LOST attempt
      rerun.push_back(id);
    }
  }
  for (auto n : flight)
    CHECK(n > 0); // every step happened with tasks in flight
  CHECK(under_b_on_a["n1"] > 0);
  CHECK(under_b_on_a["n2"] > 0);

  std::ostringstream report;
  report << task_count << " tasks, all SUCCEEDED with one accepted result; " << rerun.size()
         << " ran twice (after a hand-back or LOST):";
  for (auto id : rerun)
    report << " " << id;
  report << "; " << handed_back << " hand-backs (RUNNING -> QUEUED before the attempt began), "
         << lost << " LOST; " << running_at_a_exit << " RUNNING in the journal when the A head "
         << "had exited, " << adopted << " attempts adopted by the B head; tasks in flight as "
         << "each step began:";
  for (auto n : flight)
    report << " " << n;
  report << "; starts by the B head on A nodes: n1 "
         << under_b_on_a["n1"] << ", n2 " << under_b_on_a["n2"] << "; " << stream.resubmits
         << " submits repeated with their key; head sessions in Postgres after the standby's "
            "restart: "
         << sessions_after_standby_restart << ". Steps:";
  for (const auto& [name, s] : step_s)
    report << " " << name << " " << s << " s;";
  WARN(report.str());
}

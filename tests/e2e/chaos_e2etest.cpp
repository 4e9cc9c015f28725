// Chaos (issue 13, part): mixed work on two heads (one standby) and three
// worker nodes, real processes against a real Postgres, while faults hit it:
// kill -9 of a worker process, kill -9 of a worker node (restarted), kill -9
// of the active head three times (alternating; the killed one comes back as
// the standby), SIGSTOP of a node for up to 15 s, a crash-stop of Postgres
// (SIGQUIT to the postmaster: immediate shutdown, crash recovery at restart)
// for up to 30 s on a private server of the test's own, and a network
// partition of a fourth node for up to 15 s: it runs in a network namespace
// of the test's own (tests/e2e/netns_link.hpp), the heads listen on the veth
// address, and every packet between it and the rest is dropped, then let
// through again (where namespaces cannot be made the partition is skipped
// and the output says so). The test plays the supervisor: a head that
// stepped down (exit 3) is started again with --standby. Duration:
// $TASKRT_CHAOS_SECONDS (default 60; scripts/chaos runs it longer).
//
// At the end, from the journal: every acknowledged task is final as its
// policy says; no task has two accepted results; no two tasks of one lock
// were RUNNING at once; attempt numbers neither skip nor repeat. It prints
// the counts (acknowledged, final, LOST, retried, stale results fenced,
// attempts re-run after a LOST one: the duplicate executions at-least-once
// allows).

#include "taskrt/cluster/client.hpp"
#include "taskrt/persistence/leader_lock.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/netns_link.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include "taskrt/persistence/detail/pqxx.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

/// Child processes of `pid` (from /proc/*/stat).
std::vector<int> children_of(int pid) {
  std::vector<int> out;
  DIR* d = ::opendir("/proc");
  if (!d)
    return out;
  while (auto* e = ::readdir(d)) {
    int p = std::atoi(e->d_name);
    if (p <= 0)
      continue;
    std::ifstream f{"/proc/" + std::to_string(p) + "/stat"};
    std::string line;
    std::getline(f, line);
    auto rp = line.rfind(')');
    if (rp == std::string::npos)
      continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(line.c_str() + rp + 1, " %c %d", &state, &ppid) == 2 && ppid == pid)
      out.push_back(p);
  }
  ::closedir(d);
  return out;
}

int chaos_seconds() {
  const char* v = std::getenv("TASKRT_CHAOS_SECONDS");
  int s = v ? std::atoi(v) : 60;
  return s >= 30 ? s : 60;
}

/// The i-th task of the mix; every policy leaves room for the faults. Per
/// 100 tasks: 2 crash their worker process once, 10 fail once, 20 sleep
/// 2-40 ms, 10 hold one of four locks, the rest echo.
task_spec mixed(int64_t i) {
  const char* policy = R"({"retries":10,"wait":0.05})";
  const auto r = i % 100;
  if (r < 2)
    return spec("crash", {{"times", 1}}, policy);
  if (r < 12)
    return spec("fail", {{"kind", "std::runtime_error"}, {"times", 1}}, policy);
  if (r < 32)
    return spec("sleep", {{"ms", 2 + (i * 37) % 39}}, policy);
  if (r < 42) {
    auto s = spec(i % 2 ? "sleep" : "echo", {{"ms", 2}, {"i", i}}, policy);
    s.lock = "chaos-lock-" + std::to_string(i % 4);
    return s;
  }
  return spec("echo", {{"i", i}}, policy);
}

/// Submits `batch` in one commit through `c`'s head; the ids, or nothing
/// when the head refused, did not answer in 30 s or went away (its
/// connection broke: the request is not left hanging).
std::optional<std::vector<int64_t>> submit_batch(client& c, const std::vector<task_spec>& batch) {
  auto result = std::make_shared<std::promise<std::optional<std::vector<int64_t>>>>();
  auto done = result->get_future();
  auto head = c.head();
  c.system().spawn([=](caf::event_based_actor* self) {
    self->monitor(head);
    self->set_down_handler([=](caf::down_msg&) {
      result->set_value(std::nullopt);
      self->quit();
    });
    self->request(head, std::chrono::seconds(30), submit_atom::value, batch)
      .then(
        [=](std::vector<int64_t>& ids) {
          result->set_value(std::move(ids));
          self->quit();
        },
        [=](caf::error&) {
          result->set_value(std::nullopt);
          self->quit();
        });
  });
  return done.get();
}

/// One line of progress on stderr.
void progress(clock_type::time_point t0, const std::string& what) {
  const auto s = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0)
                   .count();
  std::fprintf(stderr, "chaos %6.1f s  %s\n", s / 1000.0, what.c_str());
}

} // namespace

TEST_CASE("chaos - mixed work while workers, nodes and the active head are killed - the "
          "journal proves nothing acknowledged was lost",
          "[e2e][chaos]") {
  const int seconds = chaos_seconds();
  // The partitioned node's namespace, where one can be made.
  std::unique_ptr<netns_link> net;
  std::string no_partition;
  try {
    net = std::make_unique<netns_link>();
  } catch (const netns_unavailable& e) {
    no_partition = e.what();
  }
  // Heads listen where the namespace reaches them (the veth address, also a
  // local address of this machine), else on loopback.
  const std::string host = net ? net->root_ip() : "127.0.0.1";
  std::vector<std::string> listen{"--host", host};
  if (net)
    listen.push_back("--insecure"); // plaintext off loopback must be asked for
  auto head_args = [&](const std::string& port, bool standby) {
    // A small queue window: the queues spill into Postgres and are read
    // back while heads are killed and tasks are LOST and retried.
    std::vector<std::string> a{"--workers", "0", "--port", port, "--queue-window", "100"};
    a.insert(a.end(), listen.begin(), listen.end());
    if (standby)
      a.push_back("--standby");
    return a;
  };
  private_postgres pg; // crash-stopped below: never the shared test server
  const auto dsn = pg.dsn();
  const auto pa = free_port(), pb = free_port();
  const auto both = host + ":" + pa + "," + host + ":" + pb;
  std::unique_ptr<head_process> heads[2];
  heads[0] = std::make_unique<head_process>(dsn, head_args(pa, false));
  heads[1] = std::make_unique<head_process>(dsn, head_args(pb, true));
  const std::string addr[2] = {host + ":" + pa, host + ":" + pb};
  // The active head as Postgres sees it (-1 while none holds the lock).
  auto active_head = [&] {
    try {
      for (const auto& s : leader_lock::sessions(dsn))
        if (s.role == "active")
          return s.address == addr[0] ? 0 : 1;
    } catch (const std::exception&) {
    }
    return -1;
  };
  const auto dir = heads[0]->data_dir();
  std::unique_ptr<node_process> nodes[3];
  for (int i = 0; i < 3; ++i)
    nodes[i] = std::make_unique<node_process>(both, "n" + std::to_string(i + 1), dir,
                                              std::vector<std::string>{"--workers", "2"});
  std::unique_ptr<node_process> n4; // in the namespace: the one partitioned
  if (net)
    n4 = std::make_unique<node_process>(both, "n4", dir, std::vector<std::string>{"--workers", "2"},
                                        net->exec_prefix());
  client c{both};
  REQUIRE(c.connected());
  REQUIRE(eventually([&] {
    return node_state(c, "n1") == "ALIVE" && node_state(c, "n2") == "ALIVE"
           && node_state(c, "n3") == "ALIVE" && (!net || node_state(c, "n4") == "ALIVE");
  }));

  // Load: four submitters, each with its own client, sending batches of 25
  // (one commit each, ids in order) until the end. A batch whose reply is
  // lost (the head died) is not acknowledged; the submitter reconnects to
  // whichever address answers.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> next{0}, refused{0}, backlog{0};
  std::mutex m;
  std::vector<int64_t> acked;
  std::vector<std::thread> submitters;
  std::thread ticker;
  // A failed REQUIRE below throws while the threads run: stop and join them
  // first, so the processes are still torn down by their destructors.
  struct joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    std::thread& ticker;
    ~joiner() {
      stop = true;
      for (auto& t : threads)
        if (t.joinable())
          t.join();
      if (ticker.joinable())
        ticker.join();
    }
  } join_all{stop, submitters, ticker};
  for (int k = 0; k < 4; ++k)
    submitters.emplace_back([&] {
      auto sc = std::make_unique<client>(both);
      while (!stop.load()) {
        if (backlog.load() > 3000) { // bounded: submit no faster than it runs
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        const auto first = next.fetch_add(25);
        if (first >= 2'000'000)
          break; // bounded whatever the speed
        std::vector<task_spec> batch;
        for (int64_t i = first; i < first + 25; ++i)
          batch.push_back(mixed(i));
        bool ok = false;
        if (sc->connected()) {
          if (auto ids = submit_batch(*sc, batch)) {
            std::lock_guard<std::mutex> g{m};
            acked.insert(acked.end(), ids->begin(), ids->end());
            ok = true;
          }
        }
        if (!ok) {
          refused += 25;
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          sc = std::make_unique<client>(both);
        }
      }
    });
  const auto t0 = clock_type::now();
  // Every second: the backlog (queued + running) from the active head;
  // every 5 s a progress line.
  ticker = std::thread{[&] {
    client tc{both};
    int64_t last_done = 0;
    for (int tick = 1; !stop.load(); ++tick) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      auto st = tc.status();
      if (st)
        backlog = st->queued + st->running;
      if (tick % 5)
        continue;
      std::lock_guard<std::mutex> g{m};
      const auto done = static_cast<int64_t>(acked.size()) - backlog.load();
      progress(t0, std::to_string(acked.size()) + " acknowledged, ~" + std::to_string(done)
                     + " done (" + std::to_string((done - last_done) / 5) + "/s), backlog "
                     + std::to_string(backlog.load()) + ", "
                     + std::to_string(refused) + " refused");
      last_done = done;
    }
  }};
  auto at = [&](double frac) {
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(
                                         static_cast<int64_t>(seconds * 1000 * frac)));
  };
  // The partition runs beside the other faults: from 25% of the run, for up
  // to 15 s, then healed.
  const int cut_s = std::min(15, seconds / 6);
  std::thread partitioner{[&] {
    if (!net)
      return;
    at(0.25);
    net->partition();
    progress(t0, "network partition of node n4 for " + std::to_string(cut_s) + " s");
    for (int i = 0; i < cut_s * 10 && !stop.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    net->heal();
    progress(t0, "partition of n4 healed");
  }};
  struct join_partitioner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~join_partitioner() {
      stop = true;
      if (t.joinable())
        t.join();
    }
  } join_cut{stop, partitioner};
  if (!net)
    progress(t0, "no network partition in this run: " + no_partition);
  // Restarts head k as a standby (b was started with --standby already).
  auto restart_as_standby = [&](int k) {
    heads[k]->restart(k == 0 ? std::vector<std::string>{"--standby"}
                             : std::vector<std::string>{}); // b's arguments have it
  };
  auto kill_active_head = [&](int round) {
    int active = -1;
    REQUIRE(eventually([&] { return (active = active_head()) >= 0; }, 60'000));
    heads[active]->kill9();
    progress(t0, "kill -9 of the active head #" + std::to_string(round) + " ("
                   + addr[active] + "); restarting it as the standby");
    restart_as_standby(active);
  };
  int worker_kills = 0;
  at(0.10);
  for (int pid : children_of(nodes[0]->pid)) {
    ::kill(pid, SIGKILL);
    ++worker_kills;
    break;
  }
  progress(t0, "kill -9 of a worker process of n1");
  at(0.20);
  kill_active_head(1);
  at(0.30);
  nodes[2]->kill9();
  progress(t0, "kill -9 of node n3; starting it again");
  nodes[2] = std::make_unique<node_process>(both, "n3", dir,
                                            std::vector<std::string>{"--workers", "2"});
  at(0.35);
  const int stop_s = std::min(15, seconds / 6);
  ::kill(nodes[1]->pid, SIGSTOP);
  progress(t0, "SIGSTOP of node n2 for " + std::to_string(stop_s) + " s");
  std::this_thread::sleep_for(std::chrono::seconds(stop_s));
  ::kill(nodes[1]->pid, SIGCONT);
  at(0.55);
  {
    const int down_s = std::min(30, seconds / 6);
    const int before = active_head();
    const int postmaster = std::atoi(slurp(pg.dir() + "/data/postmaster.pid").c_str());
    REQUIRE(postmaster > 0);
    ::kill(postmaster, SIGQUIT); // immediate shutdown: a crash, recovery at start
    progress(t0, "Postgres crash-stopped for " + std::to_string(down_s) + " s");
    REQUIRE(eventually([&] { return ::kill(postmaster, 0) != 0; }, 30'000));
    std::this_thread::sleep_for(std::chrono::seconds(down_s));
    // The same port (Postgres binds it with SO_REUSEADDR; the closed
    // connections may still be in TIME_WAIT), so the same DSN.
    auto port = slurp(pg.dir() + "/port");
    port = port.substr(0, port.find('\n'));
    const auto again = std::system(
      (pg_script() + " start '" + pg.dir() + "' " + port + " >/dev/null").c_str());
    REQUIRE(again == 0);
    INFO(slurp(pg.dir() + "/dsn") << " vs " << dsn);
    REQUIRE(slurp(pg.dir() + "/dsn").find(dsn) == 0);
    progress(t0, "Postgres back; the head that stepped down starts again as the standby");
    // The active head lost its lock connection and stepped down (exit 3).
    if (before >= 0) {
      heads[before]->kill9(); // reaps it
      restart_as_standby(before);
    }
    REQUIRE(eventually([&] { return active_head() >= 0; }, 60'000));
  }
  at(0.75);
  kill_active_head(2);
  at(0.90);
  kill_active_head(3);
  at(1.0);
  stop = true;
  for (auto& t : submitters)
    t.join();
  ticker.join();
  if (partitioner.joinable())
    partitioner.join();
  const double submit_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  progress(t0, "load stopped: " + std::to_string(acked.size()) + " acknowledged in "
                 + std::to_string(static_cast<int>(submit_s)) + " s; waiting for them to end");
  REQUIRE(acked.size() > 0);

  // Every acknowledged task ends (await through whichever head is active).
  for (auto id : acked) {
    auto out = c.await(id, std::chrono::seconds(240));
    INFO("task " << id);
    REQUIRE(out);
    REQUIRE(is_terminal(out->state));
  }
  progress(t0, "every acknowledged task is final; checking the journal");

  // The journal, in commit order.
  pqxx::connection conn{dsn};
  pqxx::nontransaction tx{conn};
  std::map<int64_t, std::string> lock_of;
  std::map<int64_t, std::string> final_state;
  for (const auto& r : tx.exec("SELECT id, coalesce(lock, ''), state FROM tasks")) {
    lock_of[r[0].as<int64_t>()] = r[1].as<std::string>();
    final_state[r[0].as<int64_t>()] = r[2].as<std::string>();
  }
  struct per_task {
    std::set<int32_t> started;
    std::map<int32_t, int> tries_ended;
    int succeeded = 0;
  };
  std::map<int64_t, per_task> tasks;
  std::map<std::string, int64_t> running_in_lock; // lock -> task RUNNING under it
  int64_t lost = 0, retried = 0, stale = 0, rerun_after_lost = 0, lock_overlaps = 0;
  std::set<std::pair<int64_t, int32_t>> lost_attempts;
  // A task of a lock that started while the journal still showed another
  // task of that lock RUNNING: the other task (key) ends later in the journal
  // with the kind counted in overlap_ends.
  std::map<int64_t, int64_t> overlapped; // task -> commit of the other start
  int64_t same_commit = 0;
  std::map<std::string, int64_t> overlap_ends;
  for (const auto& r : tx.exec("SELECT task_id, attempt, kind, coalesce(from_state, ''), "
                               "coalesce(to_state, ''), xmin::text::bigint FROM task_events ORDER BY id")) {
    const auto id = r[0].as<int64_t>();
    const auto attempt = r[1].as<int32_t>();
    const auto kind = r[2].as<std::string>();
    const auto from = r[3].as<std::string>(), to = r[4].as<std::string>();
    const auto txn = r[5].as<int64_t>(); // events of one commit share it
    auto& t = tasks[id];
    const auto& lock = lock_of[id];
    if (kind == "start") {
      t.started.insert(attempt);
      if (lost_attempts.count({id, attempt - 1}))
        ++rerun_after_lost;
      if (!lock.empty()) {
        auto it = running_in_lock.find(lock);
        if (it != running_in_lock.end() && it->second != id)
          overlapped[it->second] = txn; // classified by how that task's attempt ends
        running_in_lock[lock] = id;
      }
    }
    if (from == "RUNNING" && to != "RUNNING") {
      if (kind != "requeue")
        ++t.tries_ended[attempt];
      if (!lock.empty() && running_in_lock[lock] == id)
        running_in_lock.erase(lock);
      auto o = overlapped.find(id);
      if (o != overlapped.end()) {
        // In one commit the events are written in the writer's order; only
        // a start committed before the other task's end was ever visible.
        if (o->second != txn)
          ++overlap_ends[kind];
        else
          ++same_commit;
        overlapped.erase(o);
      }
    }
    if (kind == "succeed")
      ++t.succeeded;
    if (kind == "lose") {
      ++lost;
      lost_attempts.insert({id, attempt});
    }
    if (kind == "retry")
      ++retried;
    if (kind == "stale_result")
      ++stale;
  }
  int64_t succeeded = 0, final_count = 0;
  for (auto id : acked) {
    INFO("task " << id);
    const auto& st = final_state[id];
    const auto& t = tasks[id];
    CHECK((st == "SUCCEEDED" || st == "FAILED" || st == "LOST" || st == "CANCELLED"));
    final_count += st != "QUEUED" && st != "RUNNING";
    succeeded += st == "SUCCEEDED";
    // Every policy allows 11 tries: a task that did not succeed used them all.
    if (st != "SUCCEEDED")
      CHECK(t.started.size() == 11);
    CHECK(t.succeeded <= 1);
    CHECK(t.succeeded == (st == "SUCCEEDED" ? 1 : 0));
    // Attempt numbers 1..n, each try ended once.
    int32_t expect = 1;
    for (auto a : t.started)
      CHECK(a == expect++);
    for (const auto& [a, n] : t.tries_ended) {
      INFO("attempt " << a);
      CHECK(n == 1);
    }
  }
  // Two tasks of one lock RUNNING at once in committed state: none. (A
  // FAILED or LOST attempt keeps its lock until its end and retry decision
  // commit, so the lock's next start can only commit after it.)
  std::string overlap_kinds;
  for (const auto& [kind, n] : overlap_ends) {
    overlap_kinds += " " + kind + "=" + std::to_string(n);
    lock_overlaps += n;
  }
  CHECK(lock_overlaps == 0);
  CHECK(overlapped.empty()); // every overlapped attempt ended
  char line[1024];
  std::snprintf(line, sizeof(line),
                "chaos %d s: %zu acknowledged (%.0f/s submitted), %lld final (%lld SUCCEEDED), "
                "%lld submits refused or unanswered (not acknowledged), %lld LOST attempts, %lld retries, "
                "%lld stale results fenced, %lld attempts re-run after a LOST one "
                "(duplicate executions), %d worker process killed, 3 head kills, 1 "
                "Postgres crash-stop, %s; a lock's next "
                "start committed before the previous task's end: %lld (ends:%s; %lld in one "
                "commit, not visible)",
                seconds, acked.size(), acked.size() / submit_s, (long long)final_count,
                (long long)succeeded, (long long)refused.load(), (long long)lost,
                (long long)retried, (long long)stale, (long long)rerun_after_lost,
                worker_kills,
                net ? ("1 network partition of " + std::to_string(cut_s) + " s").c_str()
                    : "no network partition",
                (long long)lock_overlaps, overlap_kinds.c_str(),
                (long long)same_commit);
  std::fprintf(stderr, "%s\n", line);
  WARN(line);
}

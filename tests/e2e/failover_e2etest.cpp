// One active head per journal and a hot standby that takes over (issue 13).
// Real processes on loopback against a real Postgres: two heads on one
// schema (the second with --standby), two worker nodes and a client that
// know both addresses. The active head is killed with SIGKILL while attempts
// run on the nodes; the standby must take over (recover, then listen), the
// nodes and the client must follow it by themselves, every acknowledged task
// must end SUCCEEDED with exactly one accepted result (from the journal), and
// the old head, started again, must stand by. A second plain `start --head`
// on a journal with an active head is refused with the active head's address.

#include "taskrt/cluster/client.hpp"
#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/persistence/leader_lock.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <csignal>
#include <thread>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// "ROLE ADDRESS" of every head session of the journal, active first.
std::vector<std::string> heads_of(const std::string& dsn) {
  std::vector<std::string> out;
  for (const auto& s : leader_lock::sessions(dsn))
    out.push_back(s.role + " " + s.address);
  return out;
}

} // namespace

TEST_CASE("standby head - kill -9 of the active head - the standby takes over, nodes and "
          "client follow, nothing acknowledged is lost or counted twice",
          "[e2e][failover]") {
  auto dsn = fresh_schema_dsn("e2e_failover");
  const auto pa = free_port(), pb = free_port();
  const auto addr_a = "127.0.0.1:" + pa, addr_b = "127.0.0.1:" + pb;
  const auto both = addr_a + "," + addr_b;
  head_process a{dsn, {"--workers", "0", "--port", pa}};
  const auto http_b = free_port();
  head_process b{dsn, {"--workers", "0", "--port", pb, "--standby", "--http-port", http_b}};
  REQUIRE(eventually([&] {
    return heads_of(dsn) == std::vector<std::string>{"active " + addr_a, "standby " + addr_b};
  }));
  // A standby opens no cluster port: clients and nodes move on to the next
  // address. Its HTTP server answers: live, not ready (Kubernetes keeps it
  // and routes nothing to it).
  CHECK_FALSE(client{addr_b}.connected());
  httplib::Client probe_b{"127.0.0.1", std::stoi(http_b)};
  auto standby_live = probe_b.Get("/healthz");
  REQUIRE(standby_live);
  CHECK(standby_live->status == 200);
  auto standby_ready = probe_b.Get("/readyz");
  REQUIRE(standby_ready);
  CHECK(standby_ready->status == 503);
  CHECK(standby_ready->body == "standby: waiting for the active head to go\n");
  auto status = run_cli({"status", "--db", dsn, "--address", both, "-o", "json"});
  INFO(status.out << status.err);
  auto sj = json::parse(status.out, nullptr, false);
  REQUIRE(sj.is_object());
  CHECK(sj["head"]["address"] == addr_a);
  REQUIRE(sj["heads"].size() == 2);
  CHECK(sj["heads"][0]["role"] == "active");
  CHECK(sj["heads"][1]["address"] == addr_b);

  node_process n1{both, "n1", a.data_dir()};
  node_process n2{both, "n2", a.data_dir()};
  client c{both};
  REQUIRE(c.connected());
  REQUIRE(eventually([&] {
    return node_state(c, "n1") == "ALIVE" && node_state(c, "n2") == "ALIVE";
  }));

  // Work in flight: sleeps long enough to be running on the nodes at the
  // kill (they must be adopted or retried), echoes that finish before it.
  std::vector<int64_t> acked;
  for (int i = 0; i < 12; ++i) {
    auto id = c.submit(spec("sleep", {{"ms", 1500 + 100 * i}}, R"({"retries":3})"));
    REQUIRE(id);
    acked.push_back(*id);
    auto e = c.submit(spec("echo", {{"i", i}}, R"({"retries":3})"));
    REQUIRE(e);
    acked.push_back(*e);
  }
  journal_store store{dsn};
  REQUIRE(eventually([&] {
    int running = 0;
    for (auto id : acked)
      running += store.get_task(id)->state == task_state::running ? 1 : 0;
    return running >= 2;
  }));

  const auto kill_at = std::chrono::steady_clock::now();
  a.kill9();
  // The same client follows the takeover: its next submit waits for
  // whichever address answers as the active head.
  auto first = c.submit(spec("echo", {{"after", "takeover"}}, R"({"retries":3})"));
  const auto takeover_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - kill_at)
                             .count();
  REQUIRE(first);
  acked.push_back(*first);
  CHECK(c.address() == addr_b);
  auto active_ready = probe_b.Get("/readyz"); // the same server, now the active head's
  REQUIRE(active_ready);
  CHECK(active_ready->status == 200);
  WARN("takeover: kill -9 of the active head to the first acknowledged submit on the standby: "
       << takeover_ms << " ms");
  CHECK(heads_of(dsn) == std::vector<std::string>{"active " + addr_b});
  for (int i = 0; i < 10; ++i) {
    auto id = c.submit(spec("echo", {{"post", i}}, R"({"retries":3})"));
    REQUIRE(id);
    acked.push_back(*id);
  }

  // Every acknowledged task ends SUCCEEDED, with one accepted result.
  for (auto id : acked) {
    auto out = c.await(id, std::chrono::seconds(120));
    INFO("task " << id);
    REQUIRE(out);
    CHECK(out->state == task_state::succeeded);
  }
  int adopted = 0, lost = 0, stale = 0;
  for (auto id : acked) {
    INFO("task " << id);
    std::map<int64_t, int> succeeds;
    int succeeded = 0;
    for (const auto& e : store.events(id)) {
      succeeded += e.kind == transition_kind::succeed ? 1 : 0;
      adopted += e.kind == note_kind::adopted ? 1 : 0;
      lost += e.kind == transition_kind::lose ? 1 : 0;
      stale += e.kind == note_kind::stale_result ? 1 : 0;
    }
    CHECK(succeeded == 1);
    CHECK(store.get_task(id)->state == task_state::succeeded);
  }
  WARN(acked.size() << " acknowledged tasks, all SUCCEEDED once; across the takeover: "
                    << adopted << " attempts adopted, " << lost << " LOST and retried, "
                    << stale << " stale results fenced");
  CHECK(node_state(c, "n1") == "ALIVE");
  CHECK(node_state(c, "n2") == "ALIVE");

  // The old head, started again, stands by behind the new active one.
  a.restart({"--standby"});
  REQUIRE(eventually([&] {
    return heads_of(dsn) == std::vector<std::string>{"active " + addr_b, "standby " + addr_a};
  }));
  auto nodes = run_cli({"nodes", "--db", dsn});
  INFO(nodes.out << nodes.err);
  CHECK(nodes.exit_code == 0);
  CHECK(nodes.out.find("active " + addr_b) != std::string::npos);
  CHECK(nodes.out.find("standby " + addr_a) != std::string::npos);
}

TEST_CASE("a standby killed while it waits for the leadership lock leaves no session waiting in "
          "its place",
          "[e2e][failover]") {
  // The window: the standby's Postgres backend blocks in pg_advisory_lock,
  // where it reads nothing from its socket; a standby killed then must not
  // stay in line for the lock (nor be listed as a head) until the lock is
  // granted to its dead session.
  auto dsn = fresh_schema_dsn("e2e_standby_gone");
  const auto pa = free_port(), pb = free_port();
  const auto addr_a = "127.0.0.1:" + pa, addr_b = "127.0.0.1:" + pb;
  head_process a{dsn, {"--workers", "0", "--port", pa}};
  std::optional<head_process> b;
  b.emplace(dsn, std::vector<std::string>{"--workers", "0", "--port", pb, "--standby"});
  REQUIRE(eventually([&] {
    return heads_of(dsn) == std::vector<std::string>{"active " + addr_a, "standby " + addr_b};
  }));
  b->kill9();
  const auto killed = std::chrono::steady_clock::now();
  CHECK(eventually([&] { return heads_of(dsn) == std::vector<std::string>{"active " + addr_a}; },
                   10'000));
  std::printf("standby session gone %.1f s after its kill -9\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count());
}

TEST_CASE("a second start --head on a journal with an active head is refused, naming it",
          "[e2e][failover]") {
  auto dsn = fresh_schema_dsn("e2e_one_head");
  head_process a{dsn, {"--workers", "1"}};
  REQUIRE(eventually([&] { return heads_of(dsn).size() == 1; }));
  char tpl[] = "/tmp/taskrt-e2e-second.XXXXXX";
  REQUIRE(::mkdtemp(tpl));
  auto r = run_cli({"start", "--head", "--db", dsn, "--data-dir", tpl, "--workers", "0"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("another head is active") != std::string::npos);
  CHECK(r.err.find(a.address()) != std::string::npos);
  CHECK(heads_of(dsn) == std::vector<std::string>{"active " + a.address()});
  ::rmdir(tpl);
  // The active head still serves.
  auto id = a.connect().submit(spec("echo", {{"x", 1}}));
  REQUIRE(id);
  auto out = a.connect().await(*id, std::chrono::seconds(30));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
}

TEST_CASE("active head paused (SIGSTOP) with its connections up - the standby ends its silent "
          "lock session and takes over - the woken head steps down and writes nothing",
          "[e2e][failover]") {
  // The window: the active head (A) is paused while it runs an attempt on its
  // local worker; its sockets stay open, so Postgres keeps its lock. The
  // standby (B, --takeover-after 3) sees A's lock session silent, ends it and
  // takes over; the attempt on A ends LOST (A's node never comes back) and is
  // retried on B. A, woken, must not record the result its worker finished
  // meanwhile, and must exit 3.
  auto dsn = fresh_schema_dsn("e2e_failover_paused");
  head_process a{dsn, {"--workers", "1", "--node-id", "ha"}};
  const auto pb = free_port();
  head_process b{dsn, {"--workers", "1", "--node-id", "hb", "--standby", "--port", pb,
                       "--takeover-after", "3"}};
  REQUIRE(eventually([&] { return heads_of(dsn).size() == 2; }));
  auto& ca = a.connect();
  auto id = ca.submit(spec("sleep", {{"ms", 3000}}, R"({"retries":3})"));
  REQUIRE(id);
  journal_store store{dsn};
  REQUIRE(eventually([&] { return store.get_task(*id)->state == task_state::running; }, 20'000));
  const auto paused_at = std::chrono::steady_clock::now();
  REQUIRE(::kill(a.pid(), SIGSTOP) == 0);
  // B takes over: it recovers, then listens and serves submits.
  INFO(b.log());
  REQUIRE(eventually([&] { return b.log().find("listening on") != std::string::npos; }, 30'000));
  auto& cb2 = b.connect();
  auto after = cb2.submit(spec("echo", {{"after", "takeover"}}));
  REQUIRE(after);
  const auto takeover_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - paused_at).count();
  CHECK(b.log().find("has been silent on its lock session") != std::string::npos);
  WARN("takeover from a paused active head (--takeover-after 3): SIGSTOP to the first "
       "acknowledged submit on the standby: " << takeover_ms << " ms");
  // A's worker has finished meanwhile (3 s); wake A.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  REQUIRE(::kill(a.pid(), SIGCONT) == 0);
  const int status = a.wait_exit_code(30);
  INFO(a.log());
  CHECK(status == 3);
  CHECK(a.log().find("stepping down (exit 3)") != std::string::npos);
  auto out = cb2.await(*id, std::chrono::seconds(90));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
  // The one accepted result is B's (A's, finished while it was blind, never).
  CHECK(result_nodes(dsn, *id) == std::vector<std::string>{"hb"});
  CHECK(cb2.await(*after, std::chrono::seconds(60)));
}

TEST_CASE("active head stopped inside a write transaction - the standby takes over within the "
          "idle-in-transaction bound - the woken head steps down",
          "[e2e][failover]") {
  // The window: the active head (A) stops (SIGSTOP, fault point
  // stop_in_commit) inside its first commit of a transition, after it took
  // the head generation row FOR SHARE. The standby (B, --takeover-after 3)
  // ends A's silent lock session; its next_head_generation then waits for
  // A's transaction, which Postgres ends after the journal's
  // idle_in_transaction bound (2 s). Without that bound B waits as long as
  // A stays stopped.
  auto dsn = fresh_schema_dsn("e2e_failover_stopped_tx");
  head_process a{dsn, {"--workers", "1", "--node-id", "ha"}, {"TASKRT_FAULT=stop_in_commit"}};
  const auto pb = free_port();
  head_process b{dsn, {"--workers", "1", "--node-id", "hb", "--standby", "--port", pb,
                       "--takeover-after", "3"}};
  REQUIRE(eventually([&] { return heads_of(dsn).size() == 2; }));
  auto& ca = a.connect();
  auto id = ca.submit(spec("echo", {{"before", "stop"}}));
  REQUIRE(id); // the submit commits on the submit lane; its start stops A
  INFO(a.log());
  REQUIRE(eventually([&] {
    return a.log().find("fault stop_in_commit: stopped inside a commit") != std::string::npos;
  }, 20'000));
  const auto stopped_at = std::chrono::steady_clock::now();
  INFO(b.log());
  REQUIRE(eventually([&] { return b.log().find("listening on") != std::string::npos; }, 30'000));
  auto& cb = b.connect();
  // B serves: the task A never started runs there.
  auto out = cb.await(*id, std::chrono::seconds(30));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
  const auto takeover_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - stopped_at).count();
  WARN("takeover from a head stopped inside a write transaction: stop to the task's "
       "end on the standby: " << takeover_ms << " ms");
  CHECK(result_nodes(dsn, *id) == std::vector<std::string>{"hb"});
  // A, woken, finds its transaction's session ended, then the journal
  // fenced: it steps down.
  REQUIRE(::kill(a.pid(), SIGCONT) == 0);
  const int status = a.wait_exit_code(30);
  CHECK(status == 3);
  CHECK(result_nodes(dsn, *id) == std::vector<std::string>{"hb"});
}

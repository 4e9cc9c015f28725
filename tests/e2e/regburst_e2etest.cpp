// A burst of node registrations against a real head: taskrt_node_sim starts
// 250 simulated nodes at once (each its own CAF actor system and TCP
// connection, each first probing the port with a TCP connect and close as
// every node does), they register, heartbeat for a second and drop, and this
// is repeated 4 times on the same head.
//
// The window it hits: CAF 0.17 names a connection by its file descriptor and
// cleans up after a closed one later, queued behind its BASP workers; the
// next accepted connection gets the same descriptor (cluster/
// connection_reuse.hpp). Before the guard the queued cleanup erased a live
// node's route, the node went DEAD while connected, its registration was
// never answered, and a registration that came without a sender made the
// head call monitor() on a null handle and die (SIGSEGV) in most runs.
// The outcome proven: after every round the head process is alive and
// answers /healthz, every simulated node got its registration answered,
// none lost the head, and the head journaled all 1000 nodes.

#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <set>
#include <string>

#include <sys/wait.h>

using namespace taskrt;
using namespace taskrt::test;

namespace {

/// What one taskrt_node_sim run printed and returned.
struct sim_run {
  int exit_code = -1;
  nlohmann::json registered; ///< its {"event":"registered",...} line
  nlohmann::json done;       ///< its {"event":"done",...} line
};

sim_run run_sim(const std::string& address, const std::string& prefix, int nodes) {
  const std::string cmd = std::string{NODE_SIM_BIN} + " --address " + address + " --nodes "
                          + std::to_string(nodes) + " --prefix " + prefix
                          + " --seconds 1 --timeout 60 2>/dev/null";
  sim_run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char line[4096];
  while (std::fgets(line, sizeof(line), p)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("event", "") == "registered")
      r.registered = j;
    else if (j.is_object() && j.value("event", "") == "done")
      r.done = j;
  }
  const int st = ::pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

} // namespace

TEST_CASE("registration burst - 4 rounds of 250 simulated nodes registering at once and "
          "dropping - the head stays up, answers /healthz and registers every node",
          "[e2e][nodes]") {
  auto dsn = fresh_schema_dsn("e2e_regburst");
  head_process head{dsn, {"--workers", "0", "--http-port", "0"}};
  auto sf = nlohmann::json::parse(slurp(head.data_dir() + "/head.json"));
  const auto url = sf.value("http_url", "");
  REQUIRE(!url.empty());
  httplib::Client http{"127.0.0.1", std::stoi(url.substr(url.rfind(':') + 1))};
  http.set_connection_timeout(5, 0);
  http.set_read_timeout(10, 0);

  constexpr int rounds = 4;
  constexpr int nodes = 250;
  for (int round = 0; round < rounds; ++round) {
    const auto prefix = "burst" + std::to_string(round);
    auto r = run_sim(head.address(), prefix, nodes);
    const auto log = head.log();
    INFO("round " << round << ": " << r.registered.dump() << " " << r.done.dump() << "\n"
                  << log.substr(log.size() > 3000 ? log.size() - 3000 : 0));
    REQUIRE(head.wait_exit_code(1) == -1); // -1: still running (else its exit status)
    auto hz = http.Get("/healthz");
    REQUIRE(hz);
    CHECK(hz->status == 200);
    // Every node connected, had its registration answered, and kept the head.
    CHECK(r.registered.value("connect_failed", -1) == 0);
    CHECK(r.registered.value("registered", -1) == nodes);
    CHECK(r.done.value("head_lost", -1) == 0);
    CHECK(r.exit_code == 0);
  }

  // The head journaled every node that registered (rows are written after
  // the answer, so wait for them).
  std::set<std::string> ids;
  const bool all = eventually([&] {
    auto out = run_cli({"nodes", "--db", dsn, "-o", "json"});
    auto rows = nlohmann::json::parse(out.out, nullptr, false);
    ids.clear();
    if (rows.is_array())
      for (auto& row : rows)
        if (row.value("id", "").rfind("burst", 0) == 0)
          ids.insert(row.value("id", ""));
    return ids.size() == static_cast<size_t>(rounds * nodes);
  });
  INFO("journaled " << ids.size() << " simulated nodes");
  CHECK(all);
  CHECK(head.wait_exit_code(1) == -1);
}

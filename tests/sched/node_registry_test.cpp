/// The node registry: registration, heartbeat timeouts (ALIVE → SUSPECT →
/// DEAD), nodes known from before a restart, drain and leave, forgetting
/// long-gone nodes, and which task names an ALIVE node runs.

#include "taskrt/sched/node_registry.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>

using namespace taskrt::sched;

namespace {

constexpr int64_t s = 1'000'000; // µs per second

node_announcement node(const std::string& id, int32_t slots = 2,
                       std::vector<std::string> tasks = {}) {
  node_announcement a;
  a.id = id;
  a.host = "h-" + id;
  a.slots = slots;
  a.tasks = std::move(tasks);
  return a;
}

} // namespace

TEST_CASE("node states follow heartbeats - ALIVE, SUSPECT after silence, DEAD later",
          "[sched][node_registry]") {
  node_registry r("head", 2, {"echo"}, 0);
  const node_timeouts t{3, 8, 15};
  CHECK_FALSE(r.register_node(node("n1"), 0).has_value()); // new
  CHECK(r.find("n1")->state == node_state::alive);
  CHECK(r.find("n1")->connected);
  CHECK(r.check(3 * s, t).empty()); // exactly 3 s: not yet
  auto v = r.check(3 * s + 1, t);
  REQUIRE(v.size() == 1);
  CHECK(v[0].id == "n1");
  CHECK(v[0].to == node_state::suspect);
  CHECK(r.set_state("n1", node_state::suspect));
  CHECK_FALSE(r.set_state("n1", node_state::suspect)); // no change
  CHECK(r.check(5 * s, t).empty()); // SUSPECT: nothing more until dead_after
  r.heard("n1", 5 * s);             // heard again: the caller sets ALIVE
  CHECK(r.set_state("n1", node_state::alive));
  v = r.check(14 * s, t);
  REQUIRE(v.size() == 1);
  CHECK(v[0].to == node_state::dead);
  CHECK(v[0].reason == "no heartbeat for 9 s");
  r.set_state("n1", node_state::dead);
  CHECK(r.check(100 * s, t).empty()); // DEAD is not watched
  CHECK(r.register_node(node("n1"), 100 * s) == node_state::dead); // a rejoin
  CHECK(r.find("n1")->state == node_state::alive);
  CHECK(r.find("head")->state == node_state::alive);
  CHECK(r.check(1000 * s, t).size() == 1); // the head's own node never times out
}

TEST_CASE("nodes known from before a restart are DEAD unless they re-register in time",
          "[sched][node_registry]") {
  node_registry r("head", 0, {}, 0);
  const node_timeouts t{3, 8, 15};
  CHECK(r.restore("n1", "h1", 4, 0, node_state::alive, 10 * s));
  CHECK(r.restore("n2", "h2", 4, 0, node_state::left, 10 * s));
  CHECK_FALSE(r.restore("n1", "h1", 4, 0, node_state::alive, 10 * s)); // known already
  CHECK_FALSE(r.restore("head", "", 0, 0, node_state::dead, 10 * s));  // the head's own
  r.set_state("n1", node_state::suspect);
  r.set_state("n3", node_state::alive); // unknown: nothing happens
  CHECK(r.find("n3") == nullptr);
  CHECK(r.check(20 * s, t).empty()); // not connected: neither suspect_after nor dead_after count
  auto v = r.check(25 * s + 1, t);
  REQUIRE(v.size() == 1);
  CHECK(v[0].id == "n1");
  CHECK(v[0].to == node_state::dead);
  CHECK(v[0].reason == "did not re-register after the head restarted");
  // It re-registers in time in another run of the same story:
  r.register_node(node("n1"), 20 * s);
  CHECK(r.check(22 * s, t).empty());
}

TEST_CASE("a node whose connection dropped is not timed out again - gone nodes are forgotten after the ttl",
          "[sched][node_registry]") {
  node_registry r("head", 0, {}, 0);
  const node_timeouts t{3, 8, 15};
  r.register_node(node("n1"), 0);
  r.register_node(node("n2"), 0);
  r.set_connected("n1", false);
  r.set_state("n1", node_state::dead);
  r.set_state("n2", node_state::draining);
  auto v = r.check(9 * s, t);
  REQUIRE(v.size() == 1); // a DRAINING node that goes silent still dies
  CHECK(v[0].id == "n2");
  r.set_state("n2", node_state::left);
  CHECK(r.expire(50 * s, 100 * s).empty());
  auto gone = r.expire(101 * s, 100 * s);
  CHECK(gone == std::vector<std::string>{"n1"}); // n2 is LEFT but still connected
  r.set_connected("n2", false);
  CHECK(r.expire(101 * s, 100 * s) == std::vector<std::string>{"n2"});
  CHECK(r.nodes().size() == 1);
  CHECK(r.count_by_state() == std::map<std::string, int64_t>{{"ALIVE", 1}});
}

TEST_CASE("runnable - only an ALIVE node with slots that runs the name counts",
          "[sched][node_registry]") {
  node_registry r("head", 0, {"echo"}, 0); // a pure head: no workers
  CHECK_FALSE(r.runnable("echo"));
  CHECK(r.known_names().count("echo"));
  r.register_node(node("n1", 2, {"resize"}), 0);
  CHECK(r.runnable("resize"));
  CHECK_FALSE(r.runnable("echo"));
  CHECK(r.known_names().count("resize"));
  r.set_state("n1", node_state::suspect);
  CHECK_FALSE(r.runnable("resize"));
  r.set_state("n1", node_state::alive);
  r.register_node(node("n1", 2, {"other"}), 1); // registers again with other names
  CHECK_FALSE(r.runnable("resize"));
  CHECK(r.runnable("other"));
  CHECK(r.known_names().count("resize")); // still known: a submit is accepted and waits
  r.register_node(node("n2", 0, {}), 0);     // no slots
  CHECK_FALSE(r.runnable("anything"));
  r.register_node(node("n3", 1, {}), 0); // runs every name
  CHECK(r.runnable("anything"));
  r.set_state("n3", node_state::left);
  CHECK_FALSE(r.runnable("anything"));
  CHECK(to_string(node_state::draining) == std::string("DRAINING"));
  CHECK(parse_node_state("SUSPECT") == node_state::suspect);
  CHECK_FALSE(parse_node_state("alive").has_value());
}

TEST_CASE("node registry figure - heartbeats and checks with 1000 nodes",
          "[sched][node_registry]") {
  using clock = std::chrono::steady_clock;
  node_registry r("head", 2, {"echo"}, 0);
  const node_timeouts t{3, 8, 15};
  for (int i = 0; i < 1000; ++i)
    r.register_node(node("node-" + std::to_string(i), 4, {"echo"}), 0);
  // Each node beats once a second; the head checks every 20 ms: 50 checks
  // and 1000 heartbeats per simulated second, for 60 s.
  auto t0 = clock::now();
  size_t verdicts = 0;
  for (int64_t ms = 0; ms < 60'000; ms += 20) {
    const int64_t now = 1000 + ms * 1000;
    for (int i = static_cast<int>((ms / 20) % 50); i < 1000; i += 50) // each once a second
      r.heard("node-" + std::to_string(i), now);
    verdicts += r.check(now, t).size();
  }
  auto t1 = clock::now();
  CHECK(verdicts == 0);
  std::printf("node_registry: 60 s of 1000 nodes (60k heartbeats, 3000 checks) in %.1f ms\n",
              std::chrono::duration<double, std::milli>(t1 - t0).count());
}

/// The slot table: which free slot gets the next attempt (least loaded,
/// then least recently dispatched), prefetch, node open/closed, and a
/// randomized comparison against the scan it replaced; plus a figure.

#include "taskrt/sched/slot_table.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <cstdio>
#include <map>
#include <random>
#include <set>

using namespace taskrt::sched;

namespace {

slot_info on(const std::string& node, int32_t capacity = 1) {
  slot_info i;
  i.node = node;
  i.capacity = capacity;
  return i;
}

} // namespace

TEST_CASE("the next attempt goes to the least loaded slot, least recently dispatched first",
          "[sched][slot_table]") {
  slot_table t;
  t.set_node_open("n1", true);
  t.announce(1, on("n1", 2));
  t.announce(2, on("n1", 2));
  CHECK(t.next() == 1); // both idle, never dispatched: the lower id
  t.assign(1);
  t.dispatched(1);
  CHECK(t.next() == 2); // idle before prefetching
  t.assign(2);
  t.dispatched(2);
  CHECK(t.next() == 1); // both hold one: the one dispatched longer ago
  t.assign(1);
  t.dispatched(1);
  CHECK(t.next() == 2);
  t.assign(2);
  t.dispatched(2);
  CHECK(t.next() == 0); // both full (capacity 2)
  CHECK(t.free_count() == 0);
  t.unassign(2);
  CHECK(t.next() == 2);
  t.park(2); // nothing to run for it this round
  CHECK(t.next() == 0);
  t.unpark_all();
  CHECK(t.next() == 2);
  CHECK(t.ready_and_busy() == std::pair<int32_t, int32_t>{2, 2});
}

TEST_CASE("a slot that handed a prefetched attempt back takes one at a time until idle",
          "[sched][slot_table]") {
  slot_table t;
  t.set_node_open("n1", true);
  t.announce(7, on("n1", 3));
  t.assign(7);
  CHECK(t.next() == 7);
  t.stop_prefetch(7);
  CHECK(t.find(7)->free() == 0);
  CHECK(t.next() == 0);
  t.unassign(7); // idle: prefetch again
  CHECK(t.find(7)->prefetch);
  CHECK(t.find(7)->free() == 3);
  CHECK(t.next() == 7);
}

TEST_CASE("only slots that are ready on an open node are free", "[sched][slot_table]") {
  slot_table t;
  t.announce(1, on("n1"));
  CHECK(t.next() == 0); // n1 not ALIVE yet
  t.set_node_open("n1", true);
  CHECK(t.next() == 1);
  t.set_node_open("n1", false); // SUSPECT, DRAINING, ...
  CHECK(t.next() == 0);
  t.set_node_open("n1", true);
  t.set_unready(1);
  CHECK(t.next() == 0);
  t.announce(1, on("n1"));
  CHECK(t.next() == 1);
  t.assign(9); // an adopted attempt's worker: known, not ready, on no node
  CHECK(t.find(9) != nullptr);
  CHECK(t.find(9)->assigned == 1);
  CHECK(t.next() == 1);
  t.announce(9, on("n2")); // it announces itself later, on n2 (closed)
  t.set_node_open("n2", true);
  CHECK(t.next() == 1); // 9 holds one attempt: 1 is idle
  t.announce(3, on("n2"));
  t.announce(4, on("n2"));
  auto gone = t.erase_node("n2");
  std::sort(gone.begin(), gone.end());
  CHECK(gone == std::vector<slot_id>{3, 4, 9});
  CHECK(t.find(9) == nullptr);
  t.erase(1);
  CHECK(t.next() == 0);
  CHECK(t.size() == 0);
}

TEST_CASE("slot table agrees with a scan of every slot on random operations",
          "[sched][slot_table]") {
  std::mt19937 rng(777);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  slot_table t;
  struct model_slot {
    std::string node;
    int32_t capacity = 1;
    bool ready = false;
    int32_t assigned = 0;
    bool prefetch = true;
    uint64_t last = 0;
  };
  std::map<slot_id, model_slot> model;
  std::map<std::string, bool> open;
  std::set<slot_id> parked;
  uint64_t seq = 0;
  const std::vector<std::string> nodes{"a", "b", "c"};
  for (int step = 0; step < 20000; ++step) {
    const slot_id id = 1 + pick(12);
    switch (pick(8)) {
      case 0: {
        auto node = nodes[pick(3)];
        const int32_t cap = 1 + pick(3);
        t.announce(id, on(node, cap));
        auto& m = model[id];
        m.node = node;
        m.capacity = cap;
        m.ready = true;
        break;
      }
      case 1:
        t.set_unready(id);
        if (model.count(id))
          model[id].ready = false;
        break;
      case 2:
        t.assign(id);
        ++model[id].assigned;
        break;
      case 3:
        if (model.count(id)) {
          t.unassign(id);
          auto& m = model[id];
          if (--m.assigned <= 0) {
            m.assigned = 0;
            m.prefetch = true;
          }
        }
        break;
      case 4:
        if (model.count(id)) {
          t.dispatched(id);
          model[id].last = ++seq;
        }
        break;
      case 5:
        if (model.count(id)) {
          t.stop_prefetch(id);
          model[id].prefetch = false;
        }
        break;
      case 6: {
        auto node = nodes[pick(3)];
        const bool o = pick(2);
        t.set_node_open(node, o);
        open[node] = o;
        break;
      }
      default:
        if (pick(10) == 0) {
          t.erase(id);
          model.erase(id);
          parked.erase(id);
        } else if (pick(3) == 0) {
          t.unpark_all();
          parked.clear();
        } else if (const auto n = t.next()) {
          t.park(n);
          parked.insert(n);
        }
        break;
    }
    slot_id want = 0;
    const model_slot* best = nullptr;
    for (const auto& [sid, m] : model) {
      const int32_t free = (m.prefetch ? m.capacity : 1) - m.assigned;
      if (!m.ready || free <= 0 || !open[m.node] || parked.count(sid))
        continue;
      if (!best || m.assigned < best->assigned
          || (m.assigned == best->assigned && m.last < best->last)) {
        best = &m;
        want = sid;
      }
    }
    REQUIRE(t.next() == want);
  }
}

TEST_CASE("slot table figure - 10k slots, 200k dispatches and ends", "[sched][slot_table]") {
  using clock = std::chrono::steady_clock;
  slot_table t;
  for (int n = 0; n < 100; ++n) {
    t.set_node_open("node" + std::to_string(n), true);
    for (int s = 0; s < 100; ++s)
      t.announce(static_cast<slot_id>(n * 100 + s + 1), on("node" + std::to_string(n), 2));
  }
  const int rounds = 200000;
  std::deque<slot_id> busy;
  auto t0 = clock::now();
  for (int i = 0; i < rounds; ++i) {
    const auto id = t.next();
    REQUIRE(id != 0);
    t.assign(id);
    t.dispatched(id);
    busy.push_back(id);
    if (busy.size() >= 5000) { // results come back
      t.unassign(busy.front());
      busy.pop_front();
    }
  }
  auto t1 = clock::now();
  std::printf("slot_table: %.2f us per pick+assign+dispatch(+end) with 10k slots on 100 nodes\n",
              std::chrono::duration<double, std::micro>(t1 - t0).count() / rounds);
}

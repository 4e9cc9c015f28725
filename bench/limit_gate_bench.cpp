/// limit_gate_bench: the head's dispatch core (sched/ready_queue behind
/// sched/limit_gate, as actors/scheduler_dispatch.cpp wires them) with N
/// tasks over K distinct limit keys against the same N tasks with no keys.
/// Each round frees `slots` workers and starts tasks until they are busy;
/// an attempt ends at once. Prints tasks started per second for each case
/// and the ratio (the target: >= 0.8 with 10,000 keys).
///
/// This measures only the scheduling core, without CAF and the journal,
/// so the gate's share here is an upper bound of its share in a whole head.
///
/// Usage: limit_gate_bench [tasks=200000] [keys=10000] [slots=64]

#include "taskrt/sched/limit_gate.hpp"
#include "taskrt/sched/ready_queue.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace taskrt::sched;

namespace {

double run(int64_t tasks, int64_t keys, size_t slots, bool with_limits) {
  limit_gate gate;
  ready_queue queue;
  std::vector<std::string> names;
  for (int64_t k = 0; k < keys; ++k) {
    names.push_back("tenant:" + std::to_string(k));
    if (with_limits)
      gate.set_limit(names.back(), {1e6, 1e6, 1000}, 0);
  }
  const auto t0 = std::chrono::steady_clock::now();
  int64_t now = 1;
  for (int64_t id = 1; id <= tasks; ++id) {
    if (keys == 0)
      queue.push({id, "q", "n", "", 0, now}, now);
    else
      gate.push(id, {names[static_cast<size_t>(id % keys)]}, {0, now, id}, now);
  }
  int64_t started = 0;
  std::vector<int64_t> running;
  while (started < tasks) {
    ++now;
    for (auto id : running)
      gate.ended(id);
    running.clear();
    auto feed = [&] {
      for (const auto& r : gate.poll(now))
        queue.push({r.id, "q", "n", "", 0, r.release_us}, r.release_us);
    };
    feed();
    while (running.size() < slots) {
      const auto id = queue.peek();
      if (id == 0)
        break;
      queue.remove(id);
      if (keys != 0) {
        gate.started(id, now);
        feed();
      }
      running.push_back(id);
      ++started;
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(tasks) / s;
}

} // namespace

int main(int argc, char** argv) {
  const int64_t tasks = argc > 1 ? std::atoll(argv[1]) : 200000;
  const int64_t keys = argc > 2 ? std::atoll(argv[2]) : 10000;
  const size_t slots = argc > 3 ? static_cast<size_t>(std::atoll(argv[3])) : 64;
  if (tasks <= 0 || keys <= 0 || slots == 0) {
    std::fprintf(stderr, "usage: limit_gate_bench [tasks>0] [keys>0] [slots>0]\n");
    return 2;
  }
  run(tasks / 10, 0, slots, false); // warm up the allocator
  const double none = run(tasks, 0, slots, false);
  const double open = run(tasks, keys, slots, false);
  const double limited = run(tasks, keys, slots, true);
  std::printf("dispatch core, %lld tasks, %zu slots:\n", static_cast<long long>(tasks), slots);
  std::printf("  no keys:                         %10.0f tasks/s\n", none);
  std::printf("  %lld keys, no limit set:         %10.0f tasks/s  ratio %.2f\n",
              static_cast<long long>(keys), open, open / none);
  std::printf("  %lld keys, rate+concurrency set: %10.0f tasks/s  ratio %.2f\n",
              static_cast<long long>(keys), limited, limited / none);
  return 0;
}

/// The ready queue: order (priority desc, run_at, id), queue and name
/// filters, lock wait lists, scheduled tasks, and a randomized comparison
/// against the scan it replaced; plus a figure for 100k tasks.

#include "taskrt/sched/ready_queue.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <malloc.h>
#include <random>
#include <set>
#include <unordered_map>

using namespace taskrt::sched;

namespace {

queued_task task(int64_t id, int32_t priority = 0, int64_t run_at = 0,
                 const std::string& lock = "", const std::string& queue = "q",
                 const std::string& name = "n") {
  return {id, queue, name, lock, priority, run_at};
}

/// Takes the best task `f` admits out of `q`; 0 when none.
int64_t pop(ready_queue& q, const task_filter& f = {}) {
  const auto id = q.peek(f);
  if (id != 0)
    q.remove(id);
  return id;
}

} // namespace

TEST_CASE("ready queue order is priority desc then run_at then id", "[sched][ready_queue]") {
  ready_queue q;
  q.push(task(5, 0, 100), 1000);
  q.push(task(3, 0, 100), 1000);
  q.push(task(4, 0, 50), 1000);
  q.push(task(9, 7, 900), 1000);
  q.push(task(1, -1, 0), 1000);
  std::vector<int64_t> order;
  while (auto id = pop(q))
    order.push_back(id);
  CHECK(order == std::vector<int64_t>{9, 4, 3, 5, 1});
  CHECK(q.size() == 0);
  CHECK_FALSE(q.has_ready());
}

TEST_CASE("a worker is offered only its queues and the task names it runs",
          "[sched][ready_queue]") {
  ready_queue q;
  q.push(task(1, 5, 0, "", "a", "x"), 10);
  q.push(task(2, 4, 0, "", "b", "y"), 10);
  q.push(task(3, 3, 0, "", "a", "y"), 10);
  const std::vector<std::string> only_b{"b"}, only_a{"a"}, none_such{"zzz"};
  const std::unordered_set<std::string> runs_y{"y"};
  CHECK(q.peek() == 1);
  CHECK(q.peek({&only_b, nullptr}) == 2);
  CHECK(q.peek({nullptr, &runs_y}) == 2);
  CHECK(q.peek({&only_a, &runs_y}) == 3);
  CHECK(q.peek({&none_such, nullptr}) == 0);
  const std::vector<std::string> all{};
  const std::unordered_set<std::string> any{};
  CHECK(q.peek({&all, &any}) == 1); // empty filters: everything
}

TEST_CASE("tasks of a held lock wait on its list and come back when it is released",
          "[sched][ready_queue]") {
  ready_queue q;
  q.push(task(1, 9, 0, "L"), 10);
  q.push(task(2, 8, 0, "L"), 10);
  q.push(task(3, 1, 0), 10);
  q.push(task(4, 0, 0, "M"), 10);
  REQUIRE(pop(q) == 1); // starts: its lock is now held
  q.hold("L");
  CHECK(q.held("L"));
  CHECK(q.peek() == 3); // 2 waits on L, however high its priority
  REQUIRE(pop(q) == 3);
  q.hold("M"); // e.g. held by a task recovered as RUNNING
  CHECK(q.peek() == 0);
  CHECK_FALSE(q.has_ready());
  CHECK(q.size() == 2);
  q.release("L");
  CHECK(q.peek() == 2);
  q.push(task(5, 9, 0, "L"), 10); // a better waiter replaces the offered one
  CHECK(q.peek() == 5);
  q.remove(5);
  CHECK(q.peek() == 2); // the next waiter is offered again
  q.release("M");
  REQUIRE(pop(q) == 2);
  CHECK(pop(q) == 4);
  CHECK_FALSE(q.held("L"));
}

TEST_CASE("a lock's waiters in other queues and names are offered per lane",
          "[sched][ready_queue]") {
  ready_queue q;
  q.push(task(1, 9, 0, "L", "a", "x"), 10);
  q.push(task(2, 1, 0, "L", "b", "x"), 10);
  q.push(task(3, 5, 0, "L", "a", "y"), 10);
  const std::vector<std::string> only_b{"b"};
  const std::unordered_set<std::string> runs_y{"y"};
  CHECK(q.peek({&only_b, nullptr}) == 2); // the best of L overall is in queue a
  CHECK(q.peek({nullptr, &runs_y}) == 3);
  q.hold("L");
  CHECK(q.peek({&only_b, nullptr}) == 0);
  CHECK(q.peek({nullptr, &runs_y}) == 0);
  q.release("L");
  CHECK(q.peek() == 1);
}

TEST_CASE("a task scheduled for later is offered once its run_at has come",
          "[sched][ready_queue]") {
  ready_queue q;
  q.push(task(1, 0, 5000), 1000);
  q.push(task(2, 0, 3000), 1000);
  CHECK(q.peek() == 0);
  CHECK(q.scheduled() == 2);
  CHECK(q.next_due_us() == 3000);
  CHECK(q.promote_due(2999) == 0);
  CHECK(q.promote_due(3000) == 1);
  CHECK(q.peek() == 2);
  CHECK(q.remove(1)); // a scheduled task can be taken out (cancel, retry-now)
  CHECK(q.scheduled() == 0);
  CHECK(q.next_due_us() == 0);
  CHECK_FALSE(q.remove(1));
  // Pushed again with new values: it moves (a manual retry with a priority).
  q.push(task(2, 0, 3000, "", "other"), 4000);
  q.push(task(2, 3, 0, "", "q"), 4000);
  CHECK(q.size() == 1);
  const std::vector<std::string> other{"other"};
  CHECK(q.peek({&other, nullptr}) == 0);
  CHECK(q.peek() == 2);
}

TEST_CASE("ready queue agrees with a full scan on random operations",
          "[sched][ready_queue]") {
  // The scan the scheduler did before: every task of the worker's queues in
  // order, skipping held locks and names it does not run.
  struct model_task {
    queued_task t;
    bool scheduled;
  };
  std::mt19937 rng(12345);
  ready_queue q;
  std::map<int64_t, model_task> model;
  std::set<std::string> held;
  const std::vector<std::string> queues{"a", "b", "c"}, names{"x", "y"},
    locks{"", "", "L1", "L2", "L3"};
  int64_t now = 1000, next_id = 1;
  auto pick = [&](int n) { return static_cast<size_t>(rng() % n); };
  for (int step = 0; step < 20000; ++step) {
    switch (pick(7)) {
      case 0:
      case 1: { // push (sometimes replacing a task)
        const int64_t id = !model.empty() && pick(5) == 0 ? model.begin()->first : next_id++;
        auto t = task(id, static_cast<int32_t>(pick(4)), now + static_cast<int64_t>(pick(40)) - 20,
                      locks[pick(5)], queues[pick(3)], names[pick(2)]);
        q.push(t, now);
        model[id] = {t, t.run_at_us > now};
        break;
      }
      case 2: { // remove
        if (model.empty())
          break;
        auto it = model.begin();
        std::advance(it, pick(static_cast<int>(model.size())));
        CHECK(q.remove(it->first));
        model.erase(it);
        break;
      }
      case 3: { // hold or release a lock
        const auto& l = locks[2 + pick(3)];
        if (held.count(l)) {
          q.release(l);
          held.erase(l);
        } else {
          q.hold(l);
          held.insert(l);
        }
        break;
      }
      case 4: { // time passes
        now += static_cast<int64_t>(pick(15));
        size_t due = 0;
        for (auto& [id, m] : model)
          if (m.scheduled && m.t.run_at_us <= now) {
            m.scheduled = false;
            ++due;
          }
        CHECK(q.promote_due(now) == due);
        break;
      }
      default: { // a worker asks, with a random filter
        std::vector<std::string> wq;
        std::unordered_set<std::string> wn;
        for (const auto& x : queues)
          if (pick(2))
            wq.push_back(x);
        for (const auto& x : names)
          if (pick(2))
            wn.insert(x);
        const model_task* best = nullptr;
        for (const auto& [id, m] : model) {
          if (m.scheduled || (!m.t.lock.empty() && held.count(m.t.lock)))
            continue;
          if (!wq.empty() && std::find(wq.begin(), wq.end(), m.t.queue) == wq.end())
            continue;
          if (!wn.empty() && !wn.count(m.t.name))
            continue;
          const ready_key k{m.t.priority, m.t.run_at_us, id};
          if (!best || k < ready_key{best->t.priority, best->t.run_at_us, best->t.id})
            best = &m;
        }
        CHECK(q.peek({&wq, &wn}) == (best ? best->t.id : 0));
        break;
      }
    }
    REQUIRE(q.size() == model.size());
  }
}

TEST_CASE("ready queue figure - 100k tasks pushed and popped, and a lock with 10k waiters",
          "[sched][ready_queue]") {
  using clock = std::chrono::steady_clock;
  const int n = 100000;
  const auto heap_before = mallinfo2().uordblks;
  ready_queue q;
  auto t0 = clock::now();
  for (int i = 1; i <= n; ++i)
    q.push(task(i, i % 10, i % 1000, i % 3 == 0 ? "lock" + std::to_string(i % 500) : "",
                "q" + std::to_string(i % 4)),
           1000);
  auto t1 = clock::now();
  const auto heap_held = mallinfo2().uordblks - heap_before;
  int popped = 0;
  while (auto id = pop(q)) {
    (void) id;
    ++popped;
  }
  auto t2 = clock::now();
  CHECK(popped == n);
  // One lock, 10k waiters: each start holds it, each end releases it.
  for (int i = 1; i <= 10000; ++i)
    q.push(task(i, 0, i, "one"), 20000);
  auto t3 = clock::now();
  int cycles = 0;
  while (auto id = pop(q)) {
    (void) id;
    q.hold("one");
    CHECK(q.peek() == 0);
    q.release("one");
    ++cycles;
  }
  auto t4 = clock::now();
  CHECK(cycles == 10000);
  auto us = [](auto d) { return std::chrono::duration<double, std::micro>(d).count(); };
  std::printf("ready_queue: push %.2f us/task, peek+remove %.2f us/task (100k, 4 queues, "
              "500 locks, %.0f heap bytes per task held); one lock with 10k waiters: %.2f us "
              "per start/end cycle\n",
              us(t1 - t0) / n, us(t2 - t1) / n, static_cast<double>(heap_held) / n,
              us(t4 - t3) / cycles);
}

TEST_CASE("ready queue figure - a lock-heavy backlog against the scan it replaced",
          "[sched][ready_queue]") {
  // 20k QUEUED tasks on 20 locks, 20 running at a time: after each result
  // the freed slot asks for work. The scan (the scheduler's pick_for before
  // sched/) walks past every task whose lock is held; the ready queue does
  // not see them.
  using clock = std::chrono::steady_clock;
  const int n = 20000, locks = 20, slots = 20;
  auto lock_of = [](int i) { return "L" + std::to_string(i % 20); };
  std::mt19937 rng(5);
  std::vector<int32_t> prio(n + 1);
  for (auto& p : prio)
    p = static_cast<int32_t>(rng() % 4);

  auto run = [&](auto pick, auto start, auto finish) {
    std::deque<int64_t> running;
    int done = 0;
    while (done < n) {
      while (static_cast<int>(running.size()) < slots) {
        const auto id = pick();
        if (id == 0)
          break;
        start(id);
        running.push_back(id);
      }
      REQUIRE(!running.empty());
      finish(running.front());
      running.pop_front();
      ++done;
    }
  };

  // The ready queue.
  ready_queue q;
  for (int i = 1; i <= n; ++i)
    q.push(task(i, prio[i], 0, lock_of(i)), 10);
  auto t0 = clock::now();
  run([&] { return q.peek(); },
      [&](int64_t id) {
        q.remove(id);
        q.hold(lock_of(static_cast<int>(id)));
      },
      [&](int64_t id) { q.release(lock_of(static_cast<int>(id))); });
  auto t1 = clock::now();

  // The scan: one ordered set, a lock lookup per task passed over.
  std::set<ready_key> ready;
  std::unordered_map<int64_t, std::string> lock_by_id;
  std::unordered_set<std::string> held;
  for (int i = 1; i <= n; ++i) {
    ready.insert({prio[i], 0, i});
    lock_by_id[i] = lock_of(i);
  }
  size_t passed_over = 0;
  auto t2 = clock::now();
  run(
    [&]() -> int64_t {
      for (const auto& k : ready) {
        if (held.count(lock_by_id.at(k.id))) {
          ++passed_over;
          continue;
        }
        return k.id;
      }
      return 0;
    },
    [&](int64_t id) {
      ready.erase({prio[id], 0, id});
      held.insert(lock_by_id.at(id));
    },
    [&](int64_t id) { held.erase(lock_by_id.at(id)); });
  auto t3 = clock::now();
  (void) locks;
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf("ready_queue: 20k tasks on 20 locks, 20 slots: %.1f ms with lock wait lists, "
              "%.1f ms with the scan (%zu tasks passed over)\n",
              ms(t1 - t0), ms(t3 - t2), passed_over);
  CHECK(q.size() == 0);
  CHECK(ready.empty());
}

/// The limit gate: token buckets, concurrency counts, one pending task per
/// key, round-robin release across keys (with the ready queue behind it, as
/// the head uses it), and a randomized comparison against a naive model that
/// scans every waiting task.

#include "taskrt/sched/limit_gate.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace taskrt::sched;

namespace {

ready_key rk(int64_t id, int32_t priority = 0, int64_t run_at = 0) {
  return {priority, run_at, id};
}

std::vector<int64_t> ids(const std::vector<released_task>& r) {
  std::vector<int64_t> out;
  for (const auto& t : r)
    out.push_back(t.id);
  return out;
}

/// Starts every released task at `now` and returns their ids.
std::vector<int64_t> start_all(limit_gate& g, int64_t now) {
  auto r = g.poll(now);
  for (const auto& t : r)
    REQUIRE(g.started(t.id, now));
  return ids(r);
}

} // namespace

TEST_CASE("a key with no limit releases one task at a time, in order", "[sched][limit_gate]") {
  limit_gate g;
  for (int64_t id = 1; id <= 3; ++id)
    g.push(id, {"k"}, rk(id), 0);
  CHECK(ids(g.poll(0)) == std::vector<int64_t>{1});
  CHECK(g.poll(0).empty()); // 1 is pending: the key waits for its start
  CHECK(g.pending(1));
  REQUIRE(g.started(1, 0));
  CHECK(ids(g.poll(0)) == std::vector<int64_t>{2});
  REQUIRE(g.started(2, 0));
  CHECK(ids(g.poll(0)) == std::vector<int64_t>{3});
  CHECK(g.started(3, 0));
  CHECK(g.size() == 0);
  CHECK(g.running("k") == 3);
  for (int64_t id = 1; id <= 3; ++id)
    CHECK(g.ended(id));
  g.poll(0);
  CHECK(g.keys() == 0); // nothing left of a key without a limit
}

TEST_CASE("a rate with burst 1 spaces starts by 1/rate", "[sched][limit_gate]") {
  limit_gate g;
  g.set_limit("api", {20, 1, 0}, 0);
  for (int64_t id = 1; id <= 6; ++id)
    g.push(id, {"api"}, rk(id), 0);
  CHECK(start_all(g, 0) == std::vector<int64_t>{1});
  CHECK(start_all(g, 0).empty());
  CHECK(g.next_wake_us() == 50'000);
  auto w = g.why(2, 10'000);
  CHECK(w.what == wait_reason::kind::rate);
  CHECK(w.key == "api");
  CHECK(w.next_token_us == 50'000);
  CHECK(start_all(g, 49'999).empty());
  CHECK(start_all(g, 50'000) == std::vector<int64_t>{2});
  // A late poll does not bank tokens beyond the burst, but for the start's
  // slack (20 ms worth at 20/s): the next token comes 20 ms early.
  CHECK(start_all(g, 1'000'000) == std::vector<int64_t>{3});
  CHECK(start_all(g, 1'000'000).empty());
  CHECK(start_all(g, 1'029'999).empty());
  CHECK(start_all(g, 1'030'000) == std::vector<int64_t>{4});
  // Lateness below the slack is kept whole: 5 ms late, the next is 5 ms early.
  CHECK(start_all(g, 1'085'000) == std::vector<int64_t>{5});
  CHECK(start_all(g, 1'085'000).empty());
  CHECK(g.next_wake_us() >= 1'129'999);
  CHECK(g.next_wake_us() <= 1'130'001);
}

TEST_CASE("a burst lets that many start at once, then the rate holds", "[sched][limit_gate]") {
  limit_gate g;
  g.set_limit("b", {10, 3, 0}, 0);
  for (int64_t id = 1; id <= 6; ++id)
    g.push(id, {"b"}, rk(id), 0);
  std::vector<int64_t> got;
  for (int i = 0; i < 5; ++i)
    for (auto id : start_all(g, 0))
      got.push_back(id);
  CHECK(got == std::vector<int64_t>{1, 2, 3});
  CHECK(start_all(g, 99'999).empty());
  CHECK(start_all(g, 100'000) == std::vector<int64_t>{4});
  CHECK(start_all(g, 100'000).empty());
}

TEST_CASE("concurrency holds tasks until an attempt ends", "[sched][limit_gate]") {
  limit_gate g;
  g.set_limit("c", {0, 1, 2}, 0);
  for (int64_t id = 1; id <= 4; ++id)
    g.push(id, {"c"}, rk(id), 0);
  CHECK(start_all(g, 0) == std::vector<int64_t>{1});
  CHECK(start_all(g, 0) == std::vector<int64_t>{2});
  CHECK(start_all(g, 0).empty());
  auto w = g.why(3, 0);
  CHECK(w.what == wait_reason::kind::concurrency);
  CHECK(w.running == 2);
  CHECK(g.ended(1));
  CHECK(start_all(g, 0) == std::vector<int64_t>{3});
  CHECK(start_all(g, 0).empty());
  // A retry of 1 waits for a place like a first attempt.
  g.push(1, {"c"}, rk(1), 0);
  CHECK(start_all(g, 0).empty());
  CHECK(g.ended(2));
  CHECK(start_all(g, 0) == std::vector<int64_t>{1});
}

TEST_CASE("a key at its limit does not hold other keys", "[sched][limit_gate]") {
  limit_gate g;
  g.set_limit("a", {0, 1, 1}, 0);
  g.push(1, {"a"}, rk(1), 0);
  g.push(2, {"a"}, rk(2), 0);
  g.push(3, {"b"}, rk(3), 0);
  CHECK(start_all(g, 0) == std::vector<int64_t>{1, 3});
  g.push(4, {"b"}, rk(4), 0);
  CHECK(start_all(g, 0) == std::vector<int64_t>{4});
  CHECK(g.why(2, 0).what == wait_reason::kind::concurrency);
}

TEST_CASE("a task with two keys waits for both", "[sched][limit_gate]") {
  limit_gate g;
  g.set_limit("x", {0, 1, 1}, 0);
  g.set_limit("y", {0, 1, 1}, 0);
  g.push(1, {"x"}, rk(1), 0);
  g.push(2, {"x", "y"}, rk(2), 0);
  g.push(3, {"y"}, rk(3), 0);
  // 1 takes x; 2 is y's candidate but x is full, so 3 waits behind it on y.
  CHECK(start_all(g, 0) == std::vector<int64_t>{1});
  CHECK(g.why(2, 0).what == wait_reason::kind::concurrency);
  CHECK(g.why(2, 0).key == "x");
  CHECK(g.why(3, 0).what == wait_reason::kind::behind);
  CHECK(g.why(3, 0).other == 2);
  CHECK(g.ended(1));
  CHECK(start_all(g, 0) == std::vector<int64_t>{2});
  CHECK(g.running("x") == 1);
  CHECK(g.running("y") == 1);
  CHECK(g.ended(2));
  CHECK(start_all(g, 0) == std::vector<int64_t>{3});
}

TEST_CASE("removing a pending or waiting task hands the key on", "[sched][limit_gate]") {
  limit_gate g;
  g.push(1, {"k"}, rk(1), 0);
  g.push(2, {"k"}, rk(2), 0);
  g.push(3, {"k"}, rk(3), 0);
  CHECK(ids(g.poll(0)) == std::vector<int64_t>{1});
  CHECK(g.remove(2));
  CHECK(g.remove(1)); // a cancel of the pending one
  CHECK(ids(g.poll(0)) == std::vector<int64_t>{3});
  CHECK_FALSE(g.remove(42));
  CHECK_FALSE(g.started(42, 0));
  CHECK_FALSE(g.ended(3)); // pending, not running
}

TEST_CASE("a scheduled task enters its keys when due", "[sched][limit_gate]") {
  limit_gate g;
  g.push(1, {"k"}, rk(1, 0, 500), 0);
  CHECK(g.poll(0).empty());
  CHECK(g.next_wake_us() == 500);
  CHECK(g.why(1, 0).what == wait_reason::kind::scheduled);
  CHECK(ids(g.poll(500)) == std::vector<int64_t>{1});
}

TEST_CASE("changing and clearing a limit takes effect at the next poll", "[sched][limit_gate]") {
  limit_gate g;
  g.set_limit("k", {0, 1, 1}, 0);
  for (int64_t id = 1; id <= 3; ++id)
    g.push(id, {"k"}, rk(id), 0);
  CHECK(start_all(g, 0) == std::vector<int64_t>{1});
  CHECK(start_all(g, 0).empty());
  g.set_limit("k", {0, 1, 2}, 0);
  CHECK(start_all(g, 0) == std::vector<int64_t>{2});
  CHECK(start_all(g, 0).empty());
  g.clear_limit("k");
  CHECK_FALSE(g.limit_of("k"));
  CHECK(start_all(g, 0) == std::vector<int64_t>{3});
}

TEST_CASE("adopted attempts count against concurrency", "[sched][limit_gate]") {
  limit_gate g;
  g.set_limit("k", {0, 1, 1}, 0);
  g.adopt_running(7, {"k"});
  g.push(1, {"k"}, rk(1), 0);
  CHECK(start_all(g, 0).empty());
  CHECK(g.ended(7));
  CHECK(start_all(g, 0) == std::vector<int64_t>{1});
}

TEST_CASE("parse_rate and format_rate", "[sched][limit_gate]") {
  CHECK(parse_rate("20/s") == Approx(20));
  CHECK(parse_rate("30/m") == Approx(0.5));
  CHECK(parse_rate("7200/h") == Approx(2));
  CHECK(parse_rate("0.5/s") == Approx(0.5));
  for (const char* bad : {"", "20", "/s", "20/", "20/d", "0/s", "-1/s", "x/s", "20/ss",
                          "nan/s", "inf/s", " 1/s", "+1/s"})
    CHECK_FALSE(parse_rate(bad));
  CHECK(format_rate(20) == "20/s");
  CHECK(format_rate(0.5) == "30/m");
  CHECK(format_rate(1.0 / 3600) == "1/h");
}

namespace {

/// The head's dispatch loop in small: a ready queue behind the gate and
/// `slots` workers; a start hands the next task of its key in.
struct mini_head {
  limit_gate gate;
  ready_queue queue;
  std::vector<int64_t> order;

  void feed(int64_t now) {
    for (const auto& r : gate.poll(now))
      queue.push({r.id, "q", "n", "", 0, r.release_us}, r.release_us);
  }
  /// Starts up to `n` tasks; returns how many started.
  size_t dispatch(size_t n, int64_t now) {
    size_t started = 0;
    feed(now);
    while (started < n) {
      const auto id = queue.peek();
      if (id == 0)
        break;
      queue.remove(id);
      gate.started(id, now);
      order.push_back(id);
      ++started;
      feed(now);
    }
    return started;
  }
};

} // namespace

TEST_CASE("keys are served round-robin: a small key is not starved by a backlog",
          "[sched][limit_gate]") {
  mini_head h;
  // Key A has 1,000 tasks submitted first, then key B 10; no limits at all,
  // the workers are the bottleneck (one start per round).
  for (int64_t id = 1; id <= 1000; ++id)
    h.gate.push(id, {"A"}, rk(id), 0);
  for (int64_t id = 1001; id <= 1010; ++id)
    h.gate.push(id, {"B"}, rk(id), 0);
  int64_t now = 0;
  while (h.order.size() < 1010) {
    REQUIRE(h.dispatch(1, ++now) == 1);
    h.gate.ended(h.order.back());
  }
  size_t last_b = 0;
  for (size_t i = 0; i < h.order.size(); ++i)
    if (h.order[i] > 1000)
      last_b = i;
  CHECK(last_b < 21); // A and B alternate until B is empty
  // Within a key the order is kept.
  std::vector<int64_t> a;
  for (auto id : h.order)
    if (id <= 1000)
      a.push_back(id);
  CHECK(std::is_sorted(a.begin(), a.end()));
}

TEST_CASE("round-robin also when several workers free up at once", "[sched][limit_gate]") {
  mini_head h;
  for (int64_t id = 1; id <= 100; ++id)
    h.gate.push(id, {"A"}, rk(id), 0);
  for (int64_t id = 101; id <= 103; ++id)
    h.gate.push(id, {"B"}, rk(id), 0);
  h.gate.push(200, {"C"}, rk(200), 0);
  CHECK(h.dispatch(7, 1) == 7);
  CHECK(h.order == std::vector<int64_t>{1, 101, 200, 2, 102, 3, 103});
}

namespace {

/// The naive model: every task, scanned in full on every step.
struct model {
  struct task {
    std::vector<std::string> keys;
    ready_key k;
    int state = 0; // 0 waiting, 1 pending, 2 running, 3 gone
  };
  std::map<std::string, key_limit> limits;
  std::map<std::string, std::vector<int64_t>> starts; // start times per key
  std::map<int64_t, task> tasks;

  int32_t running(const std::string& key) const {
    int32_t n = 0;
    for (const auto& [id, t] : tasks)
      n += t.state == 2 && std::count(t.keys.begin(), t.keys.end(), key);
    return n;
  }
  bool pending(const std::string& key) const {
    for (const auto& [id, t] : tasks)
      if (t.state == 1 && std::count(t.keys.begin(), t.keys.end(), key))
        return true;
    return false;
  }
  /// The best waiting task of `key`, or 0.
  int64_t best(const std::string& key) const {
    int64_t out = 0;
    for (const auto& [id, t] : tasks)
      if (t.state == 0 && std::count(t.keys.begin(), t.keys.end(), key)
          && (out == 0 || t.k < tasks.at(out).k))
        out = id;
    return out;
  }
  /// Tokens of `key` at `now` by replaying its starts through a bucket
  /// (limits do not change in this test).
  double tokens(const std::string& key, int64_t now) const {
    auto l = limits.find(key);
    if (l == limits.end() || l->second.rate_per_s <= 0)
      return 1e9;
    double tok = l->second.burst;
    int64_t at = 0;
    auto s = starts.find(key);
    if (s != starts.end())
      for (auto t : s->second) {
        tok = std::min(l->second.burst + start_slack(l->second.rate_per_s),
                       tok + (t - at) * l->second.rate_per_s / 1e6) - 1;
        at = t;
      }
    return std::min(l->second.burst, tok + (now - at) * l->second.rate_per_s / 1e6);
  }
  bool eligible(int64_t id, int64_t now) const {
    const auto& t = tasks.at(id);
    for (const auto& k : t.keys) {
      if (pending(k) || best(k) != id)
        return false;
      auto l = limits.find(k);
      if (l != limits.end() && l->second.concurrency > 0
          && running(k) >= l->second.concurrency)
        return false;
      if (tokens(k, now) < 1 - 1e-9)
        return false;
    }
    return true;
  }
};

} // namespace

TEST_CASE("randomized: the gate releases exactly what a naive scan allows",
          "[sched][limit_gate]") {
  std::mt19937 rng(GENERATE(1u, 2u, 3u, 4u, 5u));
  const std::vector<std::string> names{"a", "b", "c", "d"};
  limit_gate g;
  model m;
  m.limits["a"] = {0, 1, 2};
  m.limits["b"] = {100, 2, 0};
  m.limits["c"] = {50, 1, 1};
  for (const auto& [k, l] : m.limits)
    g.set_limit(k, l, 0);
  int64_t now = 0, next_id = 1;
  for (int step = 0; step < 3000; ++step) {
    now += std::uniform_int_distribution<int64_t>(0, 4000)(rng);
    const int op = std::uniform_int_distribution<int>(0, 9)(rng);
    if (op < 4) { // submit with one or two keys
      std::vector<std::string> keys{names[rng() % names.size()]};
      if (rng() % 3 == 0)
        keys.push_back(names[rng() % names.size()]);
      if (keys.size() == 2 && keys[0] == keys[1])
        keys.pop_back();
      const auto k = rk(next_id, static_cast<int32_t>(rng() % 3), now);
      g.push(next_id, keys, k, now);
      m.tasks[next_id] = {keys, k, 0};
      ++next_id;
    } else if (op < 7) { // start one pending task
      std::vector<int64_t> pend;
      for (const auto& [id, t] : m.tasks)
        if (t.state == 1)
          pend.push_back(id);
      if (!pend.empty()) {
        const auto id = pend[rng() % pend.size()];
        REQUIRE(g.started(id, now));
        m.tasks[id].state = 2;
        for (const auto& k : m.tasks[id].keys) {
          REQUIRE(m.tokens(k, now) >= 1 - 1e-9); // the bucket allows this start
          m.starts[k].push_back(now);
          auto l = m.limits.find(k);
          if (l != m.limits.end() && l->second.concurrency > 0)
            REQUIRE(m.running(k) <= l->second.concurrency);
        }
      }
    } else if (op < 9) { // end one running attempt
      std::vector<int64_t> run;
      for (const auto& [id, t] : m.tasks)
        if (t.state == 2)
          run.push_back(id);
      if (!run.empty()) {
        const auto id = run[rng() % run.size()];
        REQUIRE(g.ended(id));
        m.tasks[id].state = 3;
      }
    } else { // cancel a waiting or pending task
      std::vector<int64_t> held;
      for (const auto& [id, t] : m.tasks)
        if (t.state == 0 || t.state == 1)
          held.push_back(id);
      if (!held.empty()) {
        const auto id = held[rng() % held.size()];
        REQUIRE(g.remove(id));
        m.tasks[id].state = 3;
      }
    }
    // A token may come due between steps: poll at every wake time passed.
    auto released = g.poll(now);
    // Everything released was eligible; afterwards nothing eligible waits.
    for (const auto& r : released) {
      INFO("step " << step << " task " << r.id);
      REQUIRE(m.tasks.at(r.id).state == 0);
      REQUIRE(m.eligible(r.id, now));
      m.tasks[r.id].state = 1;
    }
    for (const auto& [id, t] : m.tasks)
      if (t.state == 0) {
        INFO("step " << step << " task " << id << " eligible but held");
        REQUIRE_FALSE(m.eligible(id, now));
      }
    // The wake time is never later than a token the model sees due.
    const auto wake = g.next_wake_us();
    for (const auto& [id, t] : m.tasks)
      if (t.state == 0 && wake != 0)
        REQUIRE(wake > now);
  }
}

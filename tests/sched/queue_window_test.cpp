/// The queue window: spill, refill, frontier and eviction, and a randomized
/// run against a model journal (submits acknowledged late, refills answered
/// late from an older snapshot, starts and cancels meanwhile) that checks
/// the head never holds a task the journal no longer has QUEUED, never
/// loses one, and always offers the best task of the queue.

#include "taskrt/sched/queue_window.hpp"

#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <random>
#include <set>

using namespace taskrt::sched;

namespace {

ready_key key(int64_t id, int32_t priority = 0, int64_t run_at = 0) {
  return {priority, run_at, id};
}

} // namespace

TEST_CASE("a queue spills past its capacity and keeps its best tasks", "[sched][window]") {
  queue_window w(4);
  for (int64_t id = 1; id <= 4; ++id)
    CHECK(w.admit("q", key(id)).held);
  CHECK_FALSE(w.spilled("q"));
  // A fifth, worse than every held one, stays in the journal.
  auto r = w.admit("q", key(5));
  CHECK_FALSE(r.held);
  CHECK(r.evicted == 0);
  CHECK(w.spilled("q"));
  CHECK(w.outside("q") == 1);
  // A better one is held and the worst held one leaves memory.
  r = w.admit("q", key(6, 9));
  CHECK(r.held);
  CHECK(r.evicted == 4);
  CHECK(w.held("q") == 4);
  CHECK(w.outside("q") == 2);
  // Worse than the frontier now: journal only.
  CHECK_FALSE(w.admit("q", key(7)).held);
  CHECK(w.outside("q") == 3);
}

TEST_CASE("a refill reads after the frontier and the queue becomes whole", "[sched][window]") {
  queue_window w(4);
  for (int64_t id = 1; id <= 10; ++id)
    w.admit("q", key(id));
  CHECK(w.held("q") == 4);
  CHECK(w.outside("q") == 6);
  CHECK_FALSE(w.want_refill("q")); // not under half its capacity
  for (int64_t id = 1; id <= 3; ++id)
    w.leave("q", key(id));
  auto rq = w.want_refill("q");
  REQUIRE(rq);
  CHECK(rq->limit == 3);
  REQUIRE(rq->after);
  CHECK(rq->after->id == 4); // the frontier: after task 4
  CHECK_FALSE(w.want_refill("q")); // one in flight
  auto take = w.refilled("q", {key(5), key(6), key(7)}, [](int64_t) { return false; }).take;
  CHECK(take.size() == 3);
  CHECK(w.frontier("q")->id == 7);
  CHECK(w.outside("q") == 3);
  for (int64_t id = 4; id <= 7; ++id)
    w.leave("q", key(id));
  rq = w.want_refill("q");
  REQUIRE(rq);
  take = w.refilled("q", {key(8), key(9), key(10)}, [](int64_t) { return false; }).take;
  CHECK(take.size() == 3);
  CHECK_FALSE(w.spilled("q")); // fewer than asked (4): whole again
  CHECK(w.outside("q") == 0);
}

TEST_CASE("a refill in flight neither brings back what left nor drops arrivals",
          "[sched][window]") {
  queue_window w(4);
  for (int64_t id = 1; id <= 8; ++id)
    w.admit("q", key(id));
  for (int64_t id = 1; id <= 3; ++id)
    w.leave("q", key(id));
  auto rq = w.want_refill("q");
  REQUIRE(rq);
  // While it is in flight: task 4 starts, a worse task 9 arrives (held).
  w.leave("q", key(4));
  CHECK(w.admit("q", key(9)).held);
  CHECK(w.trim("q").empty()); // no eviction while in flight
  // The snapshot predates both: it has 5, 6, 7 (and 4 was before the frontier).
  auto got = w.refilled("q", {key(5), key(6), key(7)}, [](int64_t id) { return id == 9; });
  CHECK(got.take == std::vector<size_t>{0, 1, 2});
  // Task 9 ranks after the new frontier (7), where tasks only in the
  // journal are (8): it leaves memory.
  CHECK(got.evicted == std::vector<int64_t>{9});
  CHECK(w.outside("q") == 2);
  for (int64_t id = 5; id <= 7; ++id)
    w.leave("q", key(id));
  rq = w.want_refill("q");
  REQUIRE(rq);
  w.leave("q", key(8)); // started while this one is in flight
  auto take = w.refilled("q", {key(8), key(9)}, [](int64_t) { return false; }).take;
  CHECK(take == std::vector<size_t>{1}); // 8 started while in flight
  CHECK_FALSE(w.spilled("q"));
}

TEST_CASE("recovery of a full window spills the queue", "[sched][window]") {
  queue_window w(3);
  w.recovered("a", {key(1), key(2), key(3)}, 10);
  w.recovered("b", {key(4)}, 1);
  CHECK(w.spilled("a"));
  CHECK(w.outside("a") == 7);
  CHECK(w.frontier("a")->id == 3);
  CHECK_FALSE(w.spilled("b"));
  CHECK(w.outside_total() == 7);
  CHECK_FALSE(w.admit("a", key(11)).held);
  CHECK(w.admit("a", key(12, 5)).held); // better than the frontier
}

TEST_CASE("queue window against a model journal, randomized", "[sched][window]") {
  std::mt19937_64 rng(20261201);
  for (int round = 0; round < 40; ++round) {
    const size_t cap = 2 + rng() % 12;
    queue_window w(cap);
    std::map<int64_t, ready_key> journal; // QUEUED and due in the journal
    std::set<ready_key> memory;           // what the head holds
    std::deque<ready_key> unacked;        // committed, not yet admitted
    std::optional<std::pair<refill_request, std::vector<ready_key>>> refill;
    std::set<int64_t> started, cancelled;
    int64_t next_id = 1, clock = 0;
    int64_t submitted = 0;
    int64_t max_acked = 0; // ids are acknowledged in order (one submit lane)

    auto answer_refill = [&] {
      auto take = w.refilled("q", refill->second,
                             [&](int64_t id) {
                               // held already, or its submit not acknowledged
                               // yet (the ack admits it, maybe after a start)
                               return id > max_acked
                                      || (journal.count(id) && memory.count(journal[id]));
                             });
      for (auto i : take.take)
        memory.insert(refill->second[i]);
      for (auto id : take.evicted)
        memory.erase(journal.at(id));
      refill.reset();
      for (auto id : w.trim("q"))
        memory.erase(journal.at(id));
    };
    auto snapshot = [&](const refill_request& rq) {
      std::set<ready_key> all;
      for (auto& kv : journal)
        if (!rq.after || *rq.after < kv.second)
          all.insert(kv.second);
      std::vector<ready_key> rows(all.begin(), all.end());
      if (rows.size() > rq.limit)
        rows.resize(rq.limit);
      return rows;
    };
    auto admit_one = [&] {
      auto k = unacked.front();
      unacked.pop_front();
      max_acked = k.id;
      auto r = w.admit("q", k);
      if (r.held)
        memory.insert(k);
      if (r.evicted)
        memory.erase(journal.at(r.evicted));
    };

    for (int step = 0; step < 3000; ++step) {
      const auto op = rng() % 100;
      if (op < 35 && submitted < 600) { // a submit commits; its ack comes later
        ready_key k{static_cast<int32_t>(rng() % 3), ++clock, next_id++};
        journal[k.id] = k;
        unacked.push_back(k);
        ++submitted;
      } else if (op < 55 && !unacked.empty()) {
        admit_one();
      } else if (op < 80 && !memory.empty()) { // the best held task starts
        auto best = *memory.begin();
        if (!refill && unacked.empty())
          for (auto& kv : journal) // no better task hides in the journal
            REQUIRE_FALSE(kv.second < best);
        memory.erase(best);
        journal.erase(best.id);
        w.leave("q", best);
        REQUIRE(started.insert(best.id).second); // never twice
      } else if (op < 85 && !journal.empty()) { // a cancel of a journal-only task
        auto it = journal.begin();
        std::advance(it, rng() % journal.size());
        auto k = it->second;
        if (!memory.count(k) && std::find(unacked.begin(), unacked.end(), k) == unacked.end()) {
          journal.erase(k.id);
          w.left_journal("q", k.id);
          cancelled.insert(k.id);
        }
      } else if (op < 93 && !refill) {
        if (auto rq = w.want_refill("q"))
          refill.emplace(*rq, snapshot(*rq));
      } else if (refill) {
        answer_refill();
      }
      // Always: the head holds only tasks the journal has QUEUED.
      for (auto& k : memory)
        REQUIRE(journal.count(k.id));
      // At rest, every task only in the journal ranks after the frontier.
      if (!refill && unacked.empty()) {
        auto f = w.frontier("q");
        for (auto& kv : journal)
          if (!memory.count(kv.second))
            REQUIRE((f && *f < kv.second));
        REQUIRE(memory.size() <= cap);
      }
    }
    // Drain: acks, refills and starts until the journal is empty.
    while (!unacked.empty())
      admit_one();
    for (int guard = 0; !journal.empty(); ++guard) {
      REQUIRE(guard < 100000);
      if (refill) {
        answer_refill();
      } else if (!memory.empty()) {
        auto best = *memory.begin();
        memory.erase(best);
        journal.erase(best.id);
        w.leave("q", best);
        REQUIRE(started.insert(best.id).second);
      } else if (auto rq = w.want_refill("q")) {
        refill.emplace(*rq, snapshot(*rq));
      } else {
        FAIL("tasks left in the journal that no refill reads");
      }
    }
    CHECK(started.size() + cancelled.size() == static_cast<size_t>(submitted));
    CHECK(w.outside("q") == 0);
  }
}

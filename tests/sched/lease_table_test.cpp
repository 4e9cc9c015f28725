/// The lease table: the lease encoding (generation << 32 | counter),
/// uniqueness across head lifetimes, fencing by (task, attempt, lease), and
/// the indexes by node and worker.

#include "taskrt/sched/lease_table.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace taskrt::sched;

TEST_CASE("leases are generation << 32 | counter, unique across head lifetimes",
          "[sched][lease_table]") {
  std::set<int64_t> seen;
  int64_t last_of_first = 0;
  {
    lease_table l;
    l.set_generation(1);
    CHECK(l.issue(0) == (int64_t{1} << 32 | 1));
    CHECK(l.issue(0) == (int64_t{1} << 32 | 2));
    for (int i = 0; i < 1000; ++i) {
      last_of_first = l.issue(0);
      CHECK(seen.insert(last_of_first).second);
    }
  }
  lease_table next_life; // the head restarted: its generation grew
  next_life.set_generation(2);
  const auto first = next_life.issue(0);
  CHECK(first == (int64_t{2} << 32 | 1));
  CHECK(first > last_of_first);
  CHECK(seen.insert(first).second);
  // A task's new lease is always above its previous one, whatever the counter.
  const int64_t previous = (int64_t{5} << 32) | 77;
  CHECK(next_life.issue(previous) == previous + 1);
}

TEST_CASE("only the current (task, attempt, lease) is the holder - anything else is fenced",
          "[sched][lease_table]") {
  lease_table l;
  l.set_generation(3);
  const auto lease = l.issue(0);
  l.add({10, 1, lease, "n1", 4, true});
  REQUIRE(l.current(10, 1, lease) != nullptr);
  CHECK(l.current(10, 2, lease) == nullptr);     // another attempt
  CHECK(l.current(10, 1, lease + 1) == nullptr); // another lease
  CHECK(l.current(11, 1, lease) == nullptr);     // another task
  CHECK(l.by_lease(lease)->task_id == 10);
  // Handed back and started again: the same attempt under a new lease.
  const auto again = l.issue(lease);
  l.add({10, 1, again, "n2", 5, false});
  CHECK(l.current(10, 1, lease) == nullptr);
  CHECK(l.by_lease(lease) == nullptr);
  REQUIRE(l.current(10, 1, again) != nullptr);
  CHECK_FALSE(l.find(10)->began);
  l.mark_began(10);
  CHECK(l.find(10)->began);
  CHECK(l.remove(10));
  CHECK_FALSE(l.remove(10));
  CHECK(l.current(10, 1, again) == nullptr);
  CHECK(l.size() == 0);
}

TEST_CASE("running attempts are listed by node and by worker", "[sched][lease_table]") {
  lease_table l;
  l.add({1, 1, 101, "n1", 7, true});
  l.add({2, 1, 102, "n1", 8, true});
  l.add({3, 1, 103, "n2", 0, true}); // recovered: no worker until adopted
  l.add({4, 2, 104, "n2", 8, true});
  CHECK(l.on_node("n1") == std::vector<int64_t>{1, 2});
  CHECK(l.on_node("n2") == std::vector<int64_t>{3, 4});
  CHECK(l.count_on("n2") == 2);
  CHECK(l.count_on("n9") == 0);
  CHECK(l.on_worker(8) == std::vector<int64_t>{2, 4});
  CHECK(l.on_worker(0).empty());
  CHECK(l.move_to(3, 9) == 0); // adopted by worker 9
  CHECK(l.on_worker(9) == std::vector<int64_t>{3});
  CHECK(l.move_to(3, 9) == 9);
  l.remove(2);
  CHECK(l.on_worker(8) == std::vector<int64_t>{4});
  CHECK(l.on_node("n1") == std::vector<int64_t>{1});
  l.remove(1);
  CHECK(l.on_node("n1").empty());
  CHECK(l.size() == 2);
}

TEST_CASE("node grants - the latest counts, never before the head started",
          "[sched][lease_table][lease]") {
  lease_table l;
  l.set_grant_floor(1000);
  CHECK(l.last_grant("n1") == 1000); // granted by an earlier head, if at all
  l.granted("n1", 5000);
  l.granted("n1", 4000); // processed out of order: the later one stays
  CHECK(l.last_grant("n1") == 5000);
  CHECK(l.last_grant("n2") == 1000);
}

TEST_CASE("lock fences - held until the latest fence, then handed on once",
          "[sched][lease_table][lease]") {
  lease_table l;
  CHECK(l.lock_fence("L") == 0);
  l.fence_lock("L", 100);
  l.fence_lock("L", 90); // an earlier fence never shortens it
  l.fence_lock("M", 50);
  CHECK(l.lock_fence("L") == 100);
  CHECK(l.expired_fences(49).empty());
  CHECK(l.expired_fences(50) == std::vector<std::string>{"M"});
  CHECK(l.expired_fences(99).empty());
  CHECK(l.expired_fences(100) == std::vector<std::string>{"L"});
  CHECK(l.lock_fence("L") == 0);
  CHECK(l.expired_fences(1000).empty());
}

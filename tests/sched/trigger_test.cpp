/// The trigger rules (sched/trigger.hpp): each rule against each parent
/// outcome, a parent retried after LOST keeping its children waiting, and
/// the checks of a batch's parent references.

#include "taskrt/sched/trigger.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;
using namespace taskrt::sched;

namespace {

trigger_outcome over(trigger_rule r, std::vector<task_state> parents) {
  return decide(r, count_parents(parents));
}

constexpr auto S = task_state::succeeded;
constexpr auto F = task_state::failed;
constexpr auto C = task_state::cancelled;
constexpr auto L = task_state::lost;
constexpr auto Q = task_state::queued;
constexpr auto R = task_state::running;
constexpr auto W = task_state::waiting;

} // namespace

TEST_CASE("all_success: released when every parent SUCCEEDED, cancelled by any other end") {
  const auto r = trigger_rule::all_success;
  CHECK(over(r, {S, S}) == trigger_outcome::release);
  CHECK(over(r, {S, R}) == trigger_outcome::wait);
  CHECK(over(r, {S, W}) == trigger_outcome::wait);
  CHECK(over(r, {F, R}) == trigger_outcome::cancel); // no need to wait for the rest
  CHECK(over(r, {S, C}) == trigger_outcome::cancel);
  CHECK(over(r, {S, L}) == trigger_outcome::cancel);
}

TEST_CASE("all_done: released once every parent is final, whatever the outcome") {
  const auto r = trigger_rule::all_done;
  CHECK(over(r, {S, S}) == trigger_outcome::release);
  CHECK(over(r, {F, R}) == trigger_outcome::wait);
  CHECK(over(r, {F, S}) == trigger_outcome::release);
  CHECK(over(r, {C, C}) == trigger_outcome::release);
  CHECK(over(r, {L, F}) == trigger_outcome::release);
  CHECK(over(r, {Q}) == trigger_outcome::wait);
}

TEST_CASE("any_success: released by the first SUCCEEDED, cancelled when every parent ended otherwise") {
  const auto r = trigger_rule::any_success;
  CHECK(over(r, {S, R}) == trigger_outcome::release);
  CHECK(over(r, {F, R}) == trigger_outcome::wait);
  CHECK(over(r, {F, S}) == trigger_outcome::release);
  CHECK(over(r, {F, F}) == trigger_outcome::cancel);
  CHECK(over(r, {C, L}) == trigger_outcome::cancel);
  CHECK(over(r, {C, S}) == trigger_outcome::release);
}

TEST_CASE("a parent LOST and retried is pending until its retry ends: children wait, then follow the retry's outcome") {
  // The retry decision re-queues the parent in the transaction that ends the
  // lost attempt, so its children see QUEUED (then RUNNING), never LOST.
  for (auto r : {trigger_rule::all_success, trigger_rule::all_done, trigger_rule::any_success}) {
    INFO("rule " << static_cast<int>(r));
    CHECK(over(r, {Q}) == trigger_outcome::wait);
    CHECK(over(r, {R}) == trigger_outcome::wait);
    CHECK(over(r, {S}) == trigger_outcome::release);
  }
  // The same parent LOST for good instead.
  CHECK(over(trigger_rule::all_success, {L}) == trigger_outcome::cancel);
  CHECK(over(trigger_rule::all_done, {L}) == trigger_outcome::release);
  CHECK(over(trigger_rule::any_success, {L}) == trigger_outcome::cancel);
}

TEST_CASE("every rule against every single parent outcome") {
  struct row {
    task_state parent;
    trigger_outcome all_success, all_done, any_success;
  };
  const row rows[] = {
    {S, trigger_outcome::release, trigger_outcome::release, trigger_outcome::release},
    {F, trigger_outcome::cancel, trigger_outcome::release, trigger_outcome::cancel},
    {C, trigger_outcome::cancel, trigger_outcome::release, trigger_outcome::cancel},
    {L, trigger_outcome::cancel, trigger_outcome::release, trigger_outcome::cancel},
    {Q, trigger_outcome::wait, trigger_outcome::wait, trigger_outcome::wait},
    {R, trigger_outcome::wait, trigger_outcome::wait, trigger_outcome::wait},
    {W, trigger_outcome::wait, trigger_outcome::wait, trigger_outcome::wait},
  };
  for (const auto& x : rows) {
    INFO("parent state " << static_cast<int>(x.parent));
    CHECK(over(trigger_rule::all_success, {x.parent}) == x.all_success);
    CHECK(over(trigger_rule::all_done, {x.parent}) == x.all_done);
    CHECK(over(trigger_rule::any_success, {x.parent}) == x.any_success);
  }
}

TEST_CASE("a fan-in of 10,000 parents waits for the last one") {
  parent_counts c{10'000, 9'999, 0};
  CHECK(decide(trigger_rule::all_success, c) == trigger_outcome::wait);
  c.succeeded = 10'000;
  CHECK(decide(trigger_rule::all_success, c) == trigger_outcome::release);
}

TEST_CASE("parent references of a batch: earlier tasks only, no duplicates, not zero") {
  CHECK_FALSE(check_parents({}, 0));
  CHECK_FALSE(check_parents({5, 7}, 0));
  CHECK_FALSE(check_parents({-1, -2}, 2));
  CHECK(check_parents({-1}, 0)); // the first task names itself
  CHECK(check_parents({-3}, 2)); // a later one
  CHECK(check_parents({0}, 1));
  CHECK(check_parents({4, 4}, 0));
  CHECK(check_parents(std::vector<int64_t>(max_parents + 1, 1), 0));
}

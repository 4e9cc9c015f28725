#pragma once
/// The trigger rules of dependencies: when a WAITING task may run, and when
/// it never can, from the outcomes of its parents. Pure logic (no journal,
/// no CAF): the journal's graph writer (persistence/detail/graph_writer.cpp)
/// counts the parents' states in the transaction that ends a parent and asks
/// decide().
///
/// ```
///                  all_success          all_done          any_success
///  release when    every parent         every parent      one parent
///                  SUCCEEDED            final             SUCCEEDED
///  cancel when     one parent final     never             every parent final,
///  (upstream_      but not SUCCEEDED                      none SUCCEEDED
///   failed)
///  else            WAITING              WAITING           WAITING
/// ```
///
/// "Final" means SUCCEEDED, FAILED, CANCELLED or LOST with no retry to follow:
/// a parent whose failure is retried is QUEUED again in the same transaction,
/// so its children keep waiting until its last attempt ends.

#include "taskrt/runtime/task_state.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace taskrt::sched {

/// The parents of one WAITING task, counted by outcome.
struct parent_counts {
  int64_t total = 0;     ///< parents
  int64_t succeeded = 0; ///< SUCCEEDED
  int64_t failed = 0;    ///< final but not SUCCEEDED (FAILED, CANCELLED, LOST)
};

/// Counts parents in `states` (their current states): QUEUED, RUNNING and
/// WAITING ones are still pending. The graph writer's SQL counts the same
/// way (FILTER clauses over the parents' rows).
parent_counts count_parents(const std::vector<task_state>& states);

/// What becomes of a WAITING task.
enum class trigger_outcome : uint8_t {
  wait = 1,    ///< stays WAITING
  release = 2, ///< WAITING → QUEUED
  cancel = 3,  ///< WAITING → CANCELLED (upstream_failed)
};

/// The outcome of `rule` over parents `c` (see the table above). A task
/// without parents is released.
trigger_outcome decide(trigger_rule rule, const parent_counts& c);

/// The most parents one task may have.
constexpr size_t max_parents = 10'000;

/// Checks the parents of the `index`-th task of a batch submit: each one a
/// task id (> 0) or -N for the N-th task of the same batch, N <= index (an
/// earlier one, so a batch is never a cycle), no duplicates, at most
/// max_parents. An error names the problem; nothing when they are fine.
std::optional<std::string> check_parents(const std::vector<int64_t>& after, size_t index);

} // namespace taskrt::sched

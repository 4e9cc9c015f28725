#pragma once
/// Task states and the one table of legal transitions that every component asks.
///
/// ```
///             submit                   start (attempt n)
///    ───────► QUEUED ───────────────────────────► RUNNING ──► SUCCEEDED
///               ▲  │ cancel                        │  │  │
///               │  ▼                               │  │  └──► CANCELLED (cooperative)
///               │ CANCELLED                        │  └─────► FAILED  (error)
///               │                                  └────────► LOST    (worker/node died,
///               │                                                      stuck past timeout)
///               ├── retry        (FAILED/LOST → QUEUED, attempt n+1, run_at = now + delay)
///               ├── manual_retry (FAILED/LOST/CANCELLED → QUEUED, history kept;
///               │                 QUEUED → QUEUED: run now a task waiting
///               │                 out its retry delay or scheduled later)
///               └── requeue      (RUNNING → QUEUED: a lease handed back before
///                                 its attempt began, or at drain; not a try:
///                                 the attempt number goes back, the lease
///                                 does not)
///
///   Dependencies (a task submitted with parents, sched/trigger.hpp):
///
///    ─submit─► WAITING ──release (its trigger is met)──► QUEUED
///                │  ▲
///                │  └── rewait (CANCELLED → WAITING: a manual retry of the
///                │              parent whose failure cancelled it)
///                └───── cancel (an operator, or its trigger can no longer
///                               be met: reason upstream_failed) ──► CANCELLED
/// ```

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// The state of a task. The wire (CAF) carries the underlying values and
/// Postgres stores the names (to_string; a CHECK constraint lists them):
/// never renumber nor rename them.
enum class task_state : uint8_t {
  queued = 1,
  running = 2,
  succeeded = 3,
  failed = 4,
  cancelled = 5,
  lost = 6,
  waiting = 7, ///< parents not final yet (a task submitted with --after)
};

/// What caused a transition; each one is a journaled event.
enum class transition_kind : uint8_t {
  submit = 1,       ///< (none) → QUEUED
  start = 2,        ///< QUEUED → RUNNING
  succeed = 3,      ///< RUNNING → SUCCEEDED
  fail = 4,         ///< RUNNING → FAILED
  cancel = 5,       ///< QUEUED/RUNNING → CANCELLED
  lose = 6,         ///< RUNNING → LOST
  retry = 7,        ///< FAILED/LOST → QUEUED (retry actor)
  manual_retry = 8, ///< FAILED/LOST/CANCELLED/QUEUED → QUEUED (operator)
  requeue = 9,      ///< RUNNING → QUEUED (lease handed back; not a try)
  release = 10,     ///< WAITING → QUEUED (its parents' trigger is met)
  rewait = 11,      ///< CANCELLED → WAITING (a parent that cancelled it is retried)
};

/// When a task with parents (WAITING) may run.
enum class trigger_rule : uint8_t {
  all_success = 1, ///< every parent SUCCEEDED (the default)
  all_done = 2,    ///< every parent is final, whatever its outcome
  any_success = 3, ///< one parent SUCCEEDED
};

/// "all_success", "all_done", "any_success".
const char* to_string(trigger_rule r);

/// Parses a trigger rule's name.
std::optional<trigger_rule> parse_trigger_rule(const std::string& name);

/// "QUEUED", "RUNNING", ...
const char* to_string(task_state s);

/// "submit", "start", ...
const char* to_string(transition_kind k);

/// Parses a state name, case-insensitively ("failed" or "FAILED").
std::optional<task_state> parse_task_state(const std::string& name);

/// Parses a transition name as printed by to_string(transition_kind).
std::optional<transition_kind> parse_transition_kind(const std::string& name);

/// Every transition kind, in the order of the transition table.
std::vector<transition_kind> all_transition_kinds();

/// True for SUCCEEDED, FAILED, CANCELLED and LOST: states that end an attempt.
/// FAILED and LOST stay final only if no retry follows. QUEUED, RUNNING and
/// WAITING are not.
bool is_terminal(task_state s);

/// The state a transition leads to.
task_state target_state(transition_kind k);

/// Checks `kind` against the transition table, starting from `from`
/// (`std::nullopt` for a task that does not exist yet). Returns an error
/// message naming both ends when the transition is illegal, nothing when legal.
std::optional<std::string> check_transition(std::optional<task_state> from,
                                            transition_kind kind);

} // namespace taskrt

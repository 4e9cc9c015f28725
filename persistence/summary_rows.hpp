#pragma once
/// Rows of the aggregate read queries behind `taskrt summary` and `taskrt status`.

#include "taskrt/runtime/event_kind.hpp"
#include "taskrt/runtime/task_state.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace taskrt {

/// How many tasks named `name` are in `state`.
struct name_state_count {
  std::string name;
  task_state state = task_state::queued;
  int64_t tasks = 0;
};

/// Failed attempts (journal "fail" events) with one error kind.
struct error_kind_count {
  std::string kind;  ///< detail.error.kind; empty when the event had none
  int64_t attempts = 0; ///< fail events
  int64_t tasks = 0;    ///< distinct tasks among them
};

/// Lost attempts (journal "lose" events) with one cause.
struct lost_cause_count {
  std::string reason; ///< detail.reason ("worker process died", ...); may be empty
  std::string signal; ///< detail.signal ("SIGSEGV", ...); may be empty
  int64_t attempts = 0; ///< lose events
  int64_t tasks = 0;    ///< distinct tasks among them
};

/// The QUEUED tasks split into those ready to run now and the scheduled ones
/// (run_at in the future: a retry delay, --in/--at).
struct queue_age {
  int64_t ready = 0;      ///< QUEUED with run_at <= now
  int64_t scheduled = 0;  ///< QUEUED with run_at > now
  /// Since when the longest-waiting ready task is ready (the later of its
  /// creation and its run_at), in µs; empty when none is ready.
  std::optional<int64_t> oldest_ready_since_us;
  /// The earliest run_at of the scheduled ones; empty when none.
  std::optional<int64_t> next_scheduled_us;
};

/// How many journal events of one kind.
struct event_kind_count {
  event_kind kind = transition_kind::submit;
  int64_t events = 0;
};

/// Tasks per state: QUEUED and RUNNING counted exactly (index of live
/// tasks); the final states too while the table is small, else estimated
/// from Postgres' statistics (`estimated`).
struct state_counts {
  int64_t queued = 0, running = 0, succeeded = 0, failed = 0, cancelled = 0, lost = 0;
  int64_t waiting = 0; ///< WAITING (parents not final); estimated with the final states
  bool estimated = false; ///< the final states are estimates
};

} // namespace taskrt

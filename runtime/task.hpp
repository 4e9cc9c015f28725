#pragma once
/// The task model: what a user submits (task_spec) and what the journal keeps
/// as the current row of a task (task_record).

#include "taskrt/runtime/task_state.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace taskrt {

/// Queue a task lands in when the submitter names none.
inline constexpr const char* default_queue = "default";

/// What a submitter gives: the task name and its JSON arguments plus
/// scheduling hints. Empty strings mean "not given".
struct task_spec {
  std::string name;
  std::string args = "{}";   ///< JSON text
  std::string queue;         ///< empty: the registration's queue or "default"
  int32_t priority = 0;      ///< higher runs first
  std::string lock;          ///< at most one RUNNING task per lock; empty: none
  int64_t run_at_us = 0;     ///< earliest start (µs since epoch); 0: now
  std::string policy;        ///< retry policy JSON; empty: registration or cluster default
  double time_limit_s = 0;   ///< per-attempt limit; 0: registration's or none
  int64_t parent_id = 0;     ///< the submitting task, for child tasks
  std::string origin;        ///< who submitted: "cli user@host", "actor", ...
  /// Idempotency key: a second submit with the same key creates nothing and
  /// returns the first task's id (across client retries and head restarts).
  /// Empty: none.
  std::string key;
  /// Rate/concurrency limit keys (`taskrt limits`); a key may be a template
  /// such as "tenant:{args.tenant}", filled in from the args at submit.
  std::vector<std::string> limits;
  /// Parents: the task is WAITING until `trigger` is met by their final
  /// states, then QUEUED (sched/trigger.hpp). In a batch submit, -N names the
  /// N-th task of the same batch (a graph in one commit). Empty: none.
  std::vector<int64_t> after;
  trigger_rule trigger = trigger_rule::all_success; ///< with `after` only
};

/// The current row of a task, as the journal keeps it.
struct task_record {
  int64_t id = 0;
  std::string name;
  std::string args = "{}";
  std::string queue = default_queue;
  int32_t priority = 0;
  std::string lock;
  task_state state = task_state::queued;
  int32_t attempt = 0;       ///< attempts started so far (0 before the first)
  int32_t retry_base = 0;    ///< attempts before the current retry budget
  int32_t unstarted = 0;     ///< attempts handed back before they began
  int64_t lease_epoch = 0;   ///< grows on every start; fences stale results
  std::string policy;        ///< the resolved retry policy JSON
  int64_t run_at_us = 0;
  double time_limit_s = 0;
  std::string node;          ///< node of the current/last attempt
  std::string result;        ///< JSON text of the result (SUCCEEDED)
  std::string last_error;    ///< JSON text of the last error_info
  int64_t parent_id = 0;
  int64_t created_us = 0;
  int64_t updated_us = 0;
  std::string key;           ///< idempotency key; empty: none
  bool cancel_requested = false; ///< a cancel of the running attempt is pending
  std::vector<std::string> limit_keys; ///< resolved limit keys; empty: none
  /// With parents: a JSON array of {id, name, state, result} as they were
  /// when it was released (ctx.parents()); empty: none.
  std::string parents;
};

} // namespace taskrt

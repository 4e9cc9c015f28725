#pragma once
/// Fault injection for tests: named points where a test build of the head
/// ends itself (or skips a safeguard) to open one failure window on purpose.
///
/// The points exist only when taskrt is configured with
/// -DTASKRT_FAULT_HOOKS=ON (scripts/build does, for the tests); the default,
/// and so the image, the packages and `cmake --install`, is OFF, where
/// TASKRT_FAULT_ACTIVE is `false`, TASKRT_FAULT_HOOK expands to nothing and
/// no fault name is compiled in (tests/install/fault_hooks_test.sh checks).
/// A test picks the point with $TASKRT_FAULT=NAME, read by the CLI only
/// (cluster/env_config.hpp) and handed down as head_options::fault.
///
/// A new point: an enumerator below, its name in parse_fault_point (and in
/// tests/install/fault_hooks_test.sh's list), and at the window
/// `TASKRT_FAULT_HOOK(TASKRT_FAULT_ACTIVE(cfg.fault, fault_point::NAME), ...);`
/// with everything the point does (log lines included) inside the macro.

#include <cstdint>
#include <optional>
#include <string>

#if defined(TASKRT_FAULT_HOOKS) && TASKRT_FAULT_HOOKS
/// True when the fault point `active` (a fault_point) is `point`.
#define TASKRT_FAULT_ACTIVE(active, point) ((active) == (point))
/// Runs the statements after `cond` when `cond` holds; nothing at all in a
/// build without fault hooks (`cond` is not even evaluated).
#define TASKRT_FAULT_HOOK(cond, ...)                                                              \
  do {                                                                                            \
    if (cond) {                                                                                   \
      __VA_ARGS__                                                                                 \
    }                                                                                             \
  } while (0)
#else
#define TASKRT_FAULT_ACTIVE(active, point) false
#define TASKRT_FAULT_HOOK(cond, ...)                                                              \
  do {                                                                                            \
  } while (0)
#endif

namespace taskrt {

/// The fault points (see where each is used for its window).
enum class fault_point : uint8_t {
  none,
  /// The head exits (137) right after its first dispatch to a worker node,
  /// before the start transition is journaled (actors/scheduler_dispatch.cpp).
  exit_after_dispatch,
  /// The head exits (137) after a cancel of a running task is journaled,
  /// before it reaches the worker (actors/scheduler_api.cpp).
  exit_before_cancel_delivery,
  /// The head exits (137) right after it sent a dispatch batch of two or
  /// more attempts to a worker node, before any of them is acknowledged by
  /// the node (actors/scheduler_dispatch.cpp, flush_dispatches).
  exit_after_dispatch_batch,
  /// The head exits (137) while it applies a worker node's report of two or
  /// more results: after the first result, before the others
  /// (actors/scheduler_attempts.cpp, on_node_report).
  exit_mid_node_report,
  /// A worker node exits (137) when its coalescing buffer holds a result it
  /// is about to send: the results of the window never leave the node
  /// (cluster/worker_node.cpp, flush_report).
  node_exit_before_report,
  /// The head does not watch its leadership lock (cluster/leadership.hpp),
  /// to prove the journal's generation fence on its own.
  no_lock_watch,
  /// The head exits (137) once a commit that ended a parent released a
  /// WAITING child (same transaction), before the head held the child
  /// (actors/scheduler_graph.cpp).
  exit_after_release,
  /// The head stops itself (SIGSTOP) inside its first journal commit that
  /// writes a transition, right after it took the head generation row FOR
  /// SHARE (persistence/journal_store.cpp): a head paused inside a write
  /// transaction, which the next head's next_head_generation waits for.
  stop_in_commit,
};

/// True in a build with fault hooks (TASKRT_FAULT_HOOKS=ON).
bool fault_hooks_built();

/// The fault point named `name` ($TASKRT_FAULT); fault_point::none for "".
/// Nothing when the name is unknown, and for every name but "" in a build
/// without fault hooks.
std::optional<fault_point> parse_fault_point(const std::string& name);

/// Ends the process at once with status 137 (as SIGKILL would), after
/// flushing stdio; what the exit-style fault points do.
[[noreturn]] void fault_exit();

} // namespace taskrt

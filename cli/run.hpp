#pragma once
/// taskrt::run: the whole taskrt command line (start, stop, up, down, submit,
/// status, nodes, tasks, summary, retry-plan, certs) with the caller's tasks,
/// so a team's own binary is a complete taskrt:
///
///   int main(int argc, char** argv) {
///     taskrt::task_registry tasks;
///     tasks.add("user.hello", [](taskrt::task_context&, const nlohmann::json&) {
///       return nlohmann::json{{"hello", "world"}};
///     });
///     return taskrt::run(argc, argv, tasks);
///   }
///
/// Worker processes re-execute this same binary (/proc/self/exe) as the hidden
/// `worker-process` command, so they see the same tasks.

#include "taskrt/runtime/retry_policy.hpp"
#include "taskrt/runtime/task_registry.hpp"

// The embedded-Postgres helper (scripts/pg) this build of taskrt knows: the
// source tree's when built in the tree, PREFIX/libexec/taskrt/pg when found
// through find_package(taskrt) (both set by the CMake targets).
#ifndef TASKRT_PG_HELPER
#define TASKRT_PG_HELPER ""
#endif

namespace taskrt {

namespace detail {

/// run() with the helper path compiled into the caller; use run().
int run_cli(int argc, char** argv, const task_registry& tasks,
            const strategy_registry& strategies, const char* pg_helper);

} // namespace detail

/// Runs the taskrt CLI with `tasks` and the custom retry `strategies`;
/// returns the exit code (0 success, 1 failed or not found, 2 usage error).
inline int run(int argc, char** argv, const task_registry& tasks,
               const strategy_registry& strategies) {
  return detail::run_cli(argc, argv, tasks, strategies, TASKRT_PG_HELPER);
}

/// Runs the taskrt CLI with `tasks` and no custom retry strategies.
inline int run(int argc, char** argv, const task_registry& tasks) {
  return run(argc, argv, tasks, strategy_registry{});
}

} // namespace taskrt

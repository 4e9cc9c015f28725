#pragma once
/// The worker process: the taskrt binary re-executed as `taskrt worker-process`
/// by a worker actor. User code runs here, so a segfault or abort() kills only
/// this process.
///
/// Commands come on fd 3 (run, cancel, submit replies, lease renewals), events go out on fd
/// 4 (ready, progress, checkpoint, submit, done), one JSON line each, in the
/// one codec both ends use: runtime/worker_wire.hpp. A result and the
/// "ready" after it go out in one write. The process exits when fd 3 closes
/// (its node is gone), and fences itself: once a lease renewal arrived, a
/// watchdog thread of its own (CLOCK_MONOTONIC) ends the process with exit
/// code lease::fenced_exit_code when an attempt runs and its lease is over
/// but for the margin (runtime/lease.hpp) — the node may be the thing that
/// is stopped.

#include "taskrt/runtime/task_registry.hpp"

namespace taskrt {

/// Fd on which a worker process reads commands.
inline constexpr int worker_in_fd = 3;

/// Fd on which a worker process writes events.
inline constexpr int worker_out_fd = 4;

/// Runs the worker loop until the command pipe closes; returns the exit code.
int run_worker_process(const task_registry& registry);

} // namespace taskrt

#pragma once
/// The worker process: the taskrt binary re-executed as `taskrt worker-process`
/// by a worker actor. User code runs here, so a segfault or abort() kills only
/// this process.
///
/// Wire (JSON, one object per line):
///   fd 3 (in):  {"op":"run", dispatch fields...} | {"op":"cancel","task_id":N}
///               | {"op":"submitted","req":N,"id":ID} | {"op":"submit_failed","req":N,"error":"..."}
///   fd 4 (out): {"op":"ready"} | {"op":"progress",...} | {"op":"checkpoint",...}
///               | {"op":"submit","req":N,"spec":{...}} | {"op":"done",...}
/// The process exits when fd 3 closes (its node is gone).

#include "runtime/task_registry.hpp"

namespace taskrt {

/// Fd on which a worker process reads commands.
inline constexpr int worker_in_fd = 3;

/// Fd on which a worker process writes events.
inline constexpr int worker_out_fd = 4;

/// Runs the worker loop until the command pipe closes; returns the exit code.
int run_worker_process(const task_registry& registry);

} // namespace taskrt

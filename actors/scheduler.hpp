#pragma once
/// The scheduler: owns the in-memory queues, locks, delayed tasks and free
/// worker slots; dispatches, accepts results, fences stale attempts, and asks
/// the retry actor what to do with failures. It also answers the head_actor
/// interface (submit, await, cancel, mretry, status, stop), so clients hold a
/// head_actor handle to it.
///
/// Ready order within a queue: priority desc, run_at, id. A task whose lock is
/// held by a RUNNING task waits; one with run_at in the future sits in the
/// delayed set until then.
///
/// Every state change is first journaled through the persistence actor; replies
/// that acknowledge something (submit, final outcomes) go out after the commit.

#include "actors/local_messages.hpp"
#include "runtime/protocol.hpp"
#include "runtime/task_registry.hpp"

#include <string>

namespace taskrt {

/// Settings of the scheduler.
struct scheduler_config {
  std::string node_id = "head";
  double stuck_timeout_s = 300;          ///< no progress this long → LOST
  double drain_grace_s = 30;             ///< `stop`: wait this long for attempts
  const task_registry* registry = nullptr; ///< names known to the workers
  caf::actor persistence;
  caf::actor retry;
};

/// Spawns the scheduler. The caller recovers it with (load_atom) — the
/// scheduler asks persistence for unfinished tasks itself before it serves.
caf::actor spawn_scheduler(caf::actor_system& sys, scheduler_config cfg);

} // namespace taskrt

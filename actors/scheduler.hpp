#pragma once
/// The scheduler: owns the in-memory queues, locks, delayed tasks and free
/// worker slots; dispatches, accepts results, fences stale attempts, and asks
/// the retry actor what to do with failures. It also answers the head_actor
/// interface (submit, await, cancel, mretry, status, stop), so clients hold a
/// head_actor handle to it.
///
/// It is a thin CAF shell (scheduler.cpp wires messages to handlers; see
/// scheduler_state.hpp for its files) around the CAF-free scheduling core in
/// sched/: ready_queue (order within a queue: priority desc, run_at, id; a
/// task whose lock is held waits on the lock's list; one with run_at in the
/// future waits in a timer set), slot_table (free worker slots), lease_table
/// (running attempts, leases) and node_registry (node states, drawn there).
///
/// Every state change is first journaled through the persistence actor; replies
/// that acknowledge something (submit, final outcomes) go out after the commit.
///
/// Nodes: ALIVE, SUSPECT (no heartbeat suspect_after_s), DEAD (dead_after_s,
/// or its connection dropped), DRAINING, LEFT (sched/node_registry.hpp).
/// A DEAD node's RUNNING attempts end LOST and go to the retry actor; its late
/// results are fenced by (task, attempt, lease epoch) and journaled as
/// stale_result; on re-registration it is told to drop the attempts it still
/// runs. After a head restart, RUNNING attempts of remote nodes wait
/// adopt_grace_s for their node to re-register and report them, else end LOST.

#include "taskrt/actors/local_messages.hpp"
#include "taskrt/runtime/fault.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/task_registry.hpp"

#include <string>

namespace taskrt {

/// Settings of the scheduler.
struct scheduler_config {
  std::string node_id = "head";
  double stuck_timeout_s = 300;          ///< no progress this long → LOST
  double drain_grace_s = 30;             ///< `stop`: wait this long for attempts
  double heartbeat_s = 1;                ///< worker nodes send one this often
  double suspect_after_s = 3;            ///< no heartbeat this long → SUSPECT
  double dead_after_s = 8;               ///< no heartbeat this long → DEAD
  double adopt_grace_s = 15;             ///< after a restart, RUNNING attempts of
                                         ///< remote nodes wait this long to be adopted
  /// Every answered heartbeat renews a node's lease for this long; a worker
  /// process fences itself lease_margin_s before its lease ends, and a lock
  /// whose attempt was lost with its node stays held until lease_margin_s
  /// after the lease ends (runtime/lease.hpp).
  double lease_s = 10;
  double lease_margin_s = 1;
  int32_t local_slots = 0;               ///< worker processes of the head itself
  /// Due QUEUED tasks held in memory per queue; the rest stays in the
  /// journal and is read back in order (sched/queue_window.hpp).
  int32_t queue_window = 10000;
  /// QUEUED tasks scheduled further ahead than this stay in the journal and
  /// are read as the horizon moves (every QUEUED task due within it is held).
  double schedule_horizon_s = 300;
  /// Dispatching pauses while this many transitions wait for their commit
  /// (two group commits of persistence_options::max_batch_items): workers
  /// faster than the journal then wait in the ready queue, not as ends
  /// queued behind seconds of commits, so an end commits (and releases its
  /// children) within about two commits of when it arrived.
  size_t journal_backlog = 2000;
  const task_registry* registry = nullptr; ///< names known to the workers
  caf::actor persistence;
  caf::actor retry;
  /// Fault injection for tests only (runtime/fault.hpp; a point only in a
  /// build with TASKRT_FAULT_HOOKS): exit_after_dispatch,
  /// exit_before_cancel_delivery.
  fault_point fault = fault_point::none;
  /// With TLS: checks that a remote registration's certificate allows its
  /// node id (cluster/node_authority.hpp); null: no check (plaintext).
  caf::actor node_authority;
};

/// Spawns the scheduler. The caller recovers it with (load_atom) — the
/// scheduler asks persistence for unfinished tasks itself before it serves.
caf::actor spawn_scheduler(caf::actor_system& sys, scheduler_config cfg);

} // namespace taskrt

#pragma once
/// The worker actor: owns one worker process and runs one attempt at a time,
/// with up to `prefetch` more dispatched attempts waiting behind it (so the
/// slot never idles for a round trip to the head).
///
/// ```
///   spawn child ──► STARTING ──ready──► IDLE ──dispatch──► BUSY ──done──► IDLE
///                      ▲                                 │  │    (or the next
///                      │ restart (backoff while it keeps │  │     prefetched one)
///                      └──────────── crashing) ◄─────────┘  │
///                           exit / signal / killed for       └─ prefetched attempt waited
///                           timeout or stuck                    > prefetch_wait_s: handed back
/// ```
/// An attempt whose process dies ends LOST with the signal recorded; one over
/// its time limit ends FAILED ("taskrt.timeout"); one without progress for the
/// stuck timeout ends LOST ("stuck"). The process is then restarted. Attempts
/// that never started (prefetched, or the process was down) are handed back
/// (RUNNING → QUEUED, no retry budget spent). Lease renewals (lease_atom)
/// go down the pipe, also to every new process before its first attempt; a
/// process whose lease ran out exits by itself (lease::fenced_exit_code) and
/// its attempt ends LOST ("lease expired").

#include "taskrt/actors/process_spawner.hpp"
#include "taskrt/runtime/protocol.hpp"

#include <string>
#include <vector>

namespace taskrt {

/// How to start a worker actor.
struct worker_config {
  std::string node;                 ///< node id, recorded on attempts
  int32_t index = 0;                ///< slot number within the node
  std::vector<std::string> queues;  ///< queues served; empty: all
  std::string exe;                  ///< binary to re-execute
  std::vector<std::string> argv;    ///< its arguments (e.g. {"worker-process"})
  caf::actor scheduler;             ///< where results go
  caf::actor head;                  ///< where child tasks are submitted
  int32_t prefetch = 1;             ///< attempts that may wait behind the running one
  double prefetch_wait_s = 0.1;     ///< a prefetched attempt waiting longer is handed back
  /// Starts and kills the process; null: fork/exec (default_process_spawner).
  std::shared_ptr<process_spawner_interface> spawner;
};

/// Spawns a worker actor (a scheduled actor; its process I/O runs on a thread
/// of its own).
caf::actor spawn_worker(caf::actor_system& sys, worker_config cfg);

/// Spawns `count` workers of node `node` that re-execute `exe worker-process`
/// and report to `scheduler` (which also takes their child-task submits).
std::vector<caf::actor> spawn_workers(caf::actor_system& sys, const std::string& node,
                                      int count, const std::vector<std::string>& queues,
                                      const std::string& exe, const caf::actor& scheduler,
                                      int32_t prefetch);

} // namespace taskrt

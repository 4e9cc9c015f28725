#pragma once
/// A worker node: `taskrt start --address HOST:PORT`. Its node supervisor
/// registers with the head (id, slots, queues, task names), starts and
/// restarts worker processes, sends heartbeats, and forwards its workers'
/// results. When the head goes away the node keeps its running attempts,
/// reconnects with backoff, re-registers and reports them: the head adopts
/// them or tells the node to drop the ones it fenced. Results produced while
/// the head was away are delivered after re-registration (and fenced there if
/// stale). SIGTERM drains: DRAINING, attempts get a grace period, the rest are
/// handed back, then the node leaves. Each answered heartbeat renews the
/// node's lease (counted from when it was sent); the node passes the lease's
/// end down to every worker process, which kills itself when it runs out
/// (runtime/lease.hpp): away from the head for longer than the lease, the
/// node runs nothing.

#include "taskrt/cluster/net_config.hpp"
#include "taskrt/cluster/tls.hpp"
#include "taskrt/logging/log_setup.hpp"
#include "taskrt/runtime/fault.hpp"
#include "taskrt/runtime/task_registry.hpp"

#include "taskrt/cluster/head_addresses.hpp"

#include "taskrt/runtime/protocol.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace taskrt {

/// Options of `taskrt start --address ...`.
struct worker_node_options {
  std::string head_host;
  uint16_t head_port = 0;
  /// Every head address (active and standbys), tried in turn whenever the
  /// head is lost; empty: head_host:head_port only.
  std::vector<head_address> heads;
  std::string node_id;             ///< default: hostname-pid
  int workers = 0;                 ///< 0: number of cores
  std::vector<std::string> queues; ///< empty: all
  int prefetch = 1;                ///< attempts queued per worker behind the running one
  double drain_grace_s = 30;
  std::string exe;                 ///< binary re-executed for worker processes
  tls_options tls;                 ///< empty dir: plaintext
  std::string http_host = "127.0.0.1"; ///< where /healthz, /readyz, /metrics listen
  int http_port = -1;              ///< -1: no HTTP server; 0: any free port
  logging::log_format log_format = logging::log_format::text;
  net_options net; ///< --heartbeat-ms, --connection-timeout-ms (as the head's)
  fault_point fault = fault_point::none; ///< tests only (runtime/fault.hpp)
  /// --report-window-ms: the longest results and events wait to go to the
  /// head together; at most 1 ms, a result that leaves its worker idle goes
  /// at once.
  std::chrono::microseconds report_window = node_report_window;
};

/// Runs a worker node until it is drained; returns the process exit code.
int run_worker_node(worker_node_options opts, const task_registry& registry);

} // namespace taskrt

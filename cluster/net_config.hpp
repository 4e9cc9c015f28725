#pragma once
/// Network settings every taskrt process applies the same way: CAF's
/// middleman heartbeats must match on all nodes (a timeout on one side only
/// causes false DOWNs), so head, worker nodes and clients share this.

#include "taskrt/cluster/env_config.hpp"

#include <caf/actor_system_config.hpp>

#include <cstdint>

#include <csignal>

namespace taskrt {

/// CAF's middleman timing, the same on every process of a cluster.
struct net_options {
  int64_t heartbeat_ms = 500;            ///< --heartbeat-ms, $TASKRT_HEARTBEAT_MS
  int64_t connection_timeout_ms = 5000;  ///< --connection-timeout-ms, $TASKRT_CONNECTION_TIMEOUT_MS
};

/// The defaults with $TASKRT_HEARTBEAT_MS and $TASKRT_CONNECTION_TIMEOUT_MS
/// of `env` applied (a value that is not a positive number keeps the default).
net_options net_options_from(const env_config& env);

/// Checks the cluster port's frame guard (cluster/frame_guard.hpp), loads
/// the middleman, registers the protocol, and sets
/// middleman.heartbeat-interval and middleman.connection-timeout from `net`
/// (by default: as this process's environment says, for clients).
void configure_network(caf::actor_system_config& cfg,
                       const net_options& net = net_options_from(process_env()));

/// Blocks SIGTERM and SIGINT in the calling thread (and every thread it starts
/// later, CAF's included) and ignores SIGPIPE. Returns the blocked set, for
/// the one thread that sigwait()s on it and asks the node to drain.
sigset_t block_stop_signals();

} // namespace taskrt

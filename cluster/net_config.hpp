#pragma once
/// Network settings every taskrt process applies the same way: CAF's
/// middleman heartbeats must match on all nodes (a timeout on one side only
/// causes false DOWNs), so head, worker nodes and clients share this.

#include <caf/actor_system_config.hpp>

#include <csignal>

namespace taskrt {

/// Checks the cluster port's frame guard (cluster/frame_guard.hpp), loads
/// the middleman, registers the protocol, and sets
/// middleman.heartbeat-interval (default 500 ms; $TASKRT_HEARTBEAT_MS) and
/// middleman.connection-timeout (default 5 s; $TASKRT_CONNECTION_TIMEOUT_MS).
void configure_network(caf::actor_system_config& cfg);

/// Blocks SIGTERM and SIGINT in the calling thread (and every thread it starts
/// later, CAF's included) and ignores SIGPIPE. Returns the blocked set, for
/// the one thread that sigwait()s on it and asks the node to drain.
sigset_t block_stop_signals();

} // namespace taskrt

#pragma once
/// Network settings every taskrt process applies the same way: CAF's
/// middleman heartbeats must match on all nodes (a timeout on one side only
/// causes false DOWNs), so head, worker nodes and clients share this.

#include <caf/actor_system_config.hpp>

namespace taskrt {

/// Loads the middleman, registers the protocol, and sets
/// middleman.heartbeat-interval (default 500 ms; $TASKRT_HEARTBEAT_MS) and
/// middleman.connection-timeout (default 5 s; $TASKRT_CONNECTION_TIMEOUT_MS).
void configure_network(caf::actor_system_config& cfg);

} // namespace taskrt

#pragma once
/// A row of the node registry.

#include <cstdint>
#include <string>

namespace taskrt {

/// One node as the registry journals it.
struct node_row {
  std::string id;             ///< node id (unique)
  std::string address;        ///< host:port the head reaches it at
  int32_t slots = 0;          ///< worker slots
  int32_t running = 0;        ///< attempts running at the last heartbeat
  std::string state = "ALIVE"; ///< ALIVE, SUSPECT, DEAD, DRAINING or LEFT
  int64_t last_heartbeat_us = 0;
  int64_t started_us = 0;
};

} // namespace taskrt

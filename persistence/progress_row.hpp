#pragma once
/// The latest progress value an attempt reported (ctx.progress), as kept on
/// its task's row (tasks.progress, migration 15).

#include <cstdint>
#include <string>

namespace taskrt {

/// A task's latest progress: written by the head at most once a second per
/// task (the newest value wins), so it may trail the task by that much.
struct progress_row {
  int32_t attempt = 0; ///< the attempt that reported it
  std::string value;   ///< its JSON text
  int64_t at_us = 0;   ///< when the head received it
};

} // namespace taskrt

#pragma once
/// A checkpoint a task saved during an attempt.

#include <cstdint>
#include <string>

namespace taskrt {

/// One saved checkpoint; the latest one per task is what a retry resumes from.
struct checkpoint_row {
  int64_t id = 0;
  int64_t task_id = 0;
  int32_t attempt = 0;
  std::string data; ///< opaque text (no NUL bytes)
  int64_t at_us = 0;
};

} // namespace taskrt

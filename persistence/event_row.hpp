#pragma once
/// A row of the append-only task journal.

#include "taskrt/runtime/event_kind.hpp"
#include "taskrt/runtime/task_state.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace taskrt {

/// One journaled event of a task: a transition or a note.
struct event_row {
  int64_t id = 0;       ///< journal order
  int64_t task_id = 0;
  int32_t attempt = 0;
  /// A transition (start, ...) or a note (stale_result, ...); a name read
  /// from the journal that this taskrt does not know is a read error.
  event_kind kind = transition_kind::submit;
  std::optional<task_state> from_state; ///< transitions only (none for submit)
  std::optional<task_state> to_state;   ///< transitions only
  int64_t at_us = 0;
  std::string node;
  std::string detail = "{}"; ///< JSON text
};

} // namespace taskrt

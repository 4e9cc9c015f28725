#pragma once
/// Which tasks a listing (or a purge) selects.

#include "taskrt/runtime/task_state.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace taskrt {

/// Order of a task listing.
enum class task_order : uint8_t {
  id_desc,      ///< newest first (default)
  id_asc,       ///< oldest first
  updated_desc, ///< most recently changed first
  updated_asc,  ///< least recently changed first
  name_asc,     ///< by name, then id
  name_desc,    ///< by name descending, then id descending
  priority_desc, ///< highest priority first, then id
  priority_asc,  ///< lowest priority first, then id
};

/// A conjunction of conditions; empty fields do not filter.
struct task_filter {
  std::vector<task_state> states; ///< any of these
  std::string name;
  std::string queue;
  std::string lock;
  std::string node;        ///< node of the current/last attempt
  std::string error_kind;  ///< "kind" of the error that ended a FAILED or LOST task
  int64_t since_us = 0;    ///< created at or after; 0: no bound
  int64_t until_us = 0;    ///< created before; 0: no bound
  int64_t updated_until_us = 0; ///< last changed before; 0: no bound
  int64_t id_after = 0;    ///< id greater than this (cursor paging); 0: no bound
  int64_t id_before = 0;   ///< id less than this (cursor paging); 0: no bound
  int64_t limit = 0;       ///< at most this many; 0: no limit
  task_order order = task_order::id_desc;
};

} // namespace taskrt

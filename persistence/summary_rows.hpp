#pragma once
/// Rows of the aggregate read queries behind `taskrt summary` and `taskrt status`.

#include "runtime/task_state.hpp"

#include <cstdint>
#include <string>

namespace taskrt {

/// How many tasks named `name` are in `state`.
struct name_state_count {
  std::string name;
  task_state state = task_state::queued;
  int64_t tasks = 0;
};

/// Failed attempts (journal "fail" events) with one error kind.
struct error_kind_count {
  std::string kind;  ///< detail.error.kind; empty when the event had none
  int64_t attempts = 0; ///< fail events
  int64_t tasks = 0;    ///< distinct tasks among them
};

/// Lost attempts (journal "lose" events) with one cause.
struct lost_cause_count {
  std::string reason; ///< detail.reason ("worker process died", ...); may be empty
  std::string signal; ///< detail.signal ("SIGSEGV", ...); may be empty
  int64_t attempts = 0; ///< lose events
  int64_t tasks = 0;    ///< distinct tasks among them
};

/// How many journal events of one kind.
struct event_kind_count {
  std::string kind;
  int64_t events = 0;
};

} // namespace taskrt

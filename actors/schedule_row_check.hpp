#pragma once
/// Turns a schedule as users give it (`taskrt schedules add` options, or a
/// schedule_definition declared in C++) into the row the journal keeps,
/// checking every field: the name, the rule and zone (sched::schedule_spec),
/// the policies, the durations and the args JSON.

#include "taskrt/persistence/schedule_store.hpp"
#include "taskrt/runtime/task_registry.hpp"
#include "taskrt/sched/schedule_spec.hpp"

#include <string>
#include <variant>

namespace taskrt {

/// The row for `def`, with next_tick the first tick after `now_s` (Unix
/// seconds); or why it is refused (naming the schedule and the field).
std::variant<schedule_row, std::string> make_schedule_row(const schedule_definition& def,
                                                          int64_t now_s);

/// The rule of a stored row; or why it is bad (a zone gone from tzdata, ...).
std::variant<sched::schedule_spec, std::string> spec_of(const schedule_row& row);

/// The idempotency key of a tick: schedule:NAME:TICK (RFC 3339, UTC).
std::string tick_key(const std::string& name, int64_t tick_us);

} // namespace taskrt

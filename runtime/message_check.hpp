#pragma once
/// Checks of messages from peers (worker nodes) whose fields carry JSON
/// text: CAF checks the C++ types, not what the text holds. A field of the
/// wrong shape must end in an error for that one attempt, never in an
/// exception inside the scheduler (which would stop the head).

#include "taskrt/runtime/protocol.hpp"

#include <optional>
#include <string>

namespace taskrt {

/// Makes an attempt result safe to journal and to read with json::value():
/// a result, error or detail that is not valid JSON of the expected shape,
/// or breaks the limits, turns the outcome into FAILED with error kind
/// taskrt.bad_result naming the problem; a detail that is not an object
/// becomes {}. Returns the problem found, if any (for the log).
std::optional<std::string> sanitize_attempt_done(attempt_done_msg& msg);

/// Why a progress/checkpoint/began event cannot be used (it is dropped),
/// or nothing.
std::optional<std::string> check_attempt_event(const attempt_event_msg& ev);

} // namespace taskrt

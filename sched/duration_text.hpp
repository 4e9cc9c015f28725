#pragma once
/// Durations as users write them for schedules: a sequence of NUMBER+UNIT
/// with units d, h, m, s ("1s", "90s", "5m", "1h30m", "2d"). A bare number
/// is seconds.

#include <cstdint>
#include <string>
#include <variant>

namespace taskrt::sched {

/// Parses `text` into whole seconds (>= 0); an error names the bad part.
/// `what` names the option in the message ("--every").
std::variant<int64_t, std::string> parse_duration(const std::string& text,
                                                  const std::string& what);

/// The shortest text of `seconds` in the units above ("1h30m", "0s").
std::string duration_text(int64_t seconds);

} // namespace taskrt::sched

#pragma once
/// Times and durations given on the command line.

#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/time.hpp"

#include <optional>
#include <string>

namespace taskrt::cli {

/// Parses a duration "90s", "15m", "1h", "7d", "2w" (a bare number is
/// seconds) into seconds; nothing when malformed or negative.
std::optional<double> parse_duration(const std::string& text);

/// Parses an RFC 3339 time, or a duration meaning that long before `now`
/// ("1h" = one hour ago).
std::optional<timestamp> parse_time_arg(const std::string& text, timestamp now);

/// `--at TEXT` (`flag` names the option in errors): an RFC 3339 time from
/// 1970 up to 100 years (runtime/limits.hpp max_seconds) after `now`, the
/// bound `--in` has; errc::bad_request ("--at: before 1970: …") otherwise.
caf::expected<timestamp> parse_run_at(const std::string& text, timestamp now,
                                      const std::string& flag = "--at");

/// A short human age: "42s", "5m", "3h", "2d".
std::string human_duration(double seconds);

} // namespace taskrt::cli

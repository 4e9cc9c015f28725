#pragma once
/// Wall-clock time for taskrt: microseconds since the Unix epoch, UTC.
///
/// Microseconds (not nanoseconds) so that every instant up to 9999-12-31 fits,
/// matching Postgres timestamptz precision.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace taskrt {

/// An instant in UTC with microsecond resolution.
using timestamp = std::chrono::time_point<std::chrono::system_clock,
                                          std::chrono::microseconds>;

/// The latest instant taskrt represents: 9999-12-31T23:59:59Z.
timestamp max_timestamp();

/// The current wall-clock time.
timestamp now();

/// `t + seconds`, clamped to [epoch, max_timestamp()]; never overflows.
timestamp add_seconds_clamped(timestamp t, double seconds);

/// Formats as RFC 3339 UTC: "2026-01-01T00:00:05Z", with ".ffffff" only when
/// the instant has a fractional second.
std::string to_rfc3339(timestamp t);

/// Parses "YYYY-MM-DDTHH:MM:SS[.f+](Z|+HH:MM|-HH:MM)" (a space may replace T).
/// Returns nothing for anything else.
std::optional<timestamp> parse_rfc3339(const std::string& text);

/// Microseconds since the epoch, for storage and the wire.
inline int64_t to_micros(timestamp t) { return t.time_since_epoch().count(); }

/// The inverse of to_micros.
inline timestamp from_micros(int64_t us) {
  return timestamp{std::chrono::microseconds{us}};
}

} // namespace taskrt

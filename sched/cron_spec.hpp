#pragma once
/// Cron expressions for periodic schedules: 5 fields (minute hour
/// day-of-month month day-of-week) or 6 with seconds first. Each field takes
/// `*`, a value, a range `a-b`, a step `*/n` or `a-b/n` or `a/n`, and lists of
/// those separated by commas; months and days of the week also take names
/// (JAN..DEC, SUN..SAT, case-insensitive); day-of-week 7 is Sunday too. As in
/// Vixie cron, when both day-of-month and day-of-week are restricted a day
/// matches when either matches. The macros @yearly (@annually), @monthly,
/// @weekly, @daily (@midnight) and @hourly are accepted.
///
/// Matching is on a civil (local) date and time; time zones are the business
/// of schedule_spec.

#include <bitset>
#include <cstdint>
#include <string>
#include <variant>

namespace taskrt::sched {

/// A civil date and time, second resolution, no time zone.
struct civil_time {
  int32_t year = 1970;
  uint32_t month = 1;  ///< 1..12
  uint32_t day = 1;    ///< 1..31
  uint32_t hour = 0;   ///< 0..23
  uint32_t minute = 0; ///< 0..59
  uint32_t second = 0; ///< 0..59
};

/// A parsed cron expression.
struct cron_spec {
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     ///< 1..31
  std::bitset<13> months;   ///< 1..12
  std::bitset<7> weekdays;  ///< 0 = Sunday .. 6
  bool days_restricted = false;     ///< day-of-month was not `*`
  bool weekdays_restricted = false; ///< day-of-week was not `*`
  std::string text;                 ///< the expression as given

  /// True when `t` (a valid civil time) matches.
  bool matches(const civil_time& t) const;

  /// True when the date of `t` matches (month and day rules).
  bool matches_date(int32_t year, uint32_t month, uint32_t day) const;
};

/// Parses `text`; on failure the error names the field and the bad part.
/// Expressions that can never fire (e.g. `0 0 30 2 *`) are refused.
std::variant<cron_spec, std::string> parse_cron(const std::string& text);

/// The first civil time at or after `from` that `spec` matches, searching at
/// most `max_years` calendar years ahead; false when there is none.
bool next_cron_match(const cron_spec& spec, const civil_time& from, civil_time& out,
                     int32_t max_years = 9);

} // namespace taskrt::sched

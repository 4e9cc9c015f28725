#pragma once
/// When a periodic schedule fires: a cron expression read in an IANA time
/// zone, or a fixed interval. Instants are Unix seconds (UTC).
///
/// Daylight-saving rules (docs/tasks.md, "Schedules"):
/// - a cron local time that does not exist (the spring-forward gap) fires
///   once, at the first instant after the gap (the transition itself);
///   several such local times in one gap fire that one instant once;
/// - a cron local time that occurs twice (fall back) fires once, at its first
///   occurrence;
/// - `every` is a fixed interval in absolute time, aligned to the Unix epoch
///   (`--every 5m` fires at :00, :05, ... UTC), whatever the zone.
///
/// Zones come from the system tz database (tzdata) through Howard Hinnant's
/// date/tz library.

#include "taskrt/sched/cron_spec.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace date {
class time_zone;
}

namespace taskrt::sched {

/// A schedule's timing rule.
class schedule_spec {
public:
  /// The two kinds of rule.
  enum class kind : uint8_t { cron = 0, every = 1 };

  /// Builds a rule from exactly one of `cron` and `every` (the other empty)
  /// in zone `tz` (empty: UTC); the error says what is wrong.
  static std::variant<schedule_spec, std::string>
  make(const std::string& cron, const std::string& every, const std::string& tz);

  /// The first fire instant strictly after `t`; nothing when the rule never
  /// fires again within the search horizon (about 9 years).
  std::optional<int64_t> next_after(int64_t t) const;

  /// cron or every.
  kind rule_kind() const { return kind_; }

  /// The cron expression or the interval as text ("5m").
  const std::string& rule_text() const { return text_; }

  /// The interval in seconds (every only).
  int64_t every_seconds() const { return every_s_; }

  /// The zone name ("UTC" by default).
  const std::string& tz() const { return tz_; }

private:
  kind kind_ = kind::every;
  cron_spec cron_;
  int64_t every_s_ = 0;
  std::string text_;
  std::string tz_ = "UTC";
  const date::time_zone* zone_ = nullptr;
};

} // namespace taskrt::sched

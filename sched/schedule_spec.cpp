#include "taskrt/sched/schedule_spec.hpp"

#include "taskrt/sched/duration_text.hpp"

#include <date/tz.h>

#include <algorithm>
#include <stdexcept>

namespace taskrt::sched {

namespace {

using std::chrono::seconds;

civil_time to_civil(date::local_seconds l) {
  auto days = date::floor<date::days>(l);
  date::year_month_day ymd{days};
  date::hh_mm_ss<seconds> hms{l - days};
  civil_time c;
  c.year = static_cast<int>(ymd.year());
  c.month = static_cast<unsigned>(ymd.month());
  c.day = static_cast<unsigned>(ymd.day());
  c.hour = static_cast<uint32_t>(hms.hours().count());
  c.minute = static_cast<uint32_t>(hms.minutes().count());
  c.second = static_cast<uint32_t>(hms.seconds().count());
  return c;
}

date::local_seconds from_civil(const civil_time& c) {
  return date::local_days{date::year{c.year} / date::month{c.month} / date::day{c.day}}
         + std::chrono::hours{c.hour} + std::chrono::minutes{c.minute} + seconds{c.second};
}

/// The instant a matching local time fires at, by the DST rules above.
int64_t fire_instant(const date::time_zone& zone, date::local_seconds l) {
  auto info = zone.get_info(l);
  switch (info.result) {
    case date::local_info::nonexistent:
      return info.second.begin.time_since_epoch().count();
    case date::local_info::ambiguous:
    case date::local_info::unique:
    default:
      return (l.time_since_epoch() - info.first.offset).count();
  }
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    --q;
  return q;
}

} // namespace

std::variant<schedule_spec, std::string>
schedule_spec::make(const std::string& cron, const std::string& every, const std::string& tz) {
  schedule_spec s;
  if (cron.empty() == every.empty())
    return std::string{"give exactly one of --cron and --every"};
  s.tz_ = tz.empty() ? "UTC" : tz;
  try {
    s.zone_ = date::locate_zone(s.tz_);
  } catch (const std::exception&) {
    return "--tz: unknown time zone \"" + s.tz_
           + "\" (an IANA name such as Europe/Berlin, America/New_York or UTC)";
  }
  if (!cron.empty()) {
    auto parsed = parse_cron(cron);
    if (auto e = std::get_if<std::string>(&parsed))
      return *e;
    s.kind_ = kind::cron;
    s.cron_ = std::get<cron_spec>(parsed);
    s.text_ = s.cron_.text;
    return s;
  }
  auto d = parse_duration(every, "--every");
  if (auto e = std::get_if<std::string>(&d))
    return *e;
  s.every_s_ = std::get<int64_t>(d);
  if (s.every_s_ < 1)
    return "--every: the interval must be at least 1s, got \"" + every + "\"";
  s.kind_ = kind::every;
  s.text_ = duration_text(s.every_s_);
  return s;
}

std::optional<int64_t> schedule_spec::next_after(int64_t t) const {
  if (kind_ == kind::every)
    return (floor_div(t, every_s_) + 1) * every_s_;
  const date::sys_seconds st{seconds{t}};
  // Start the local-time search low enough that no local time firing after
  // t is passed over: t plus the smallest offset in force around t.
  auto info = zone_->get_info(st);
  auto min_off = info.offset;
  if (info.begin > date::sys_seconds::min() + seconds{1})
    min_off = std::min(min_off, zone_->get_info(info.begin - seconds{1}).offset);
  if (info.end < date::sys_seconds::max())
    min_off = std::min(min_off, zone_->get_info(info.end).offset);
  date::local_seconds l{st.time_since_epoch() + min_off};
  for (int guard = 0; guard < 100000; ++guard) {
    civil_time match;
    if (!next_cron_match(cron_, to_civil(l), match))
      return std::nullopt;
    const auto ml = from_civil(match);
    const int64_t f = fire_instant(*zone_, ml);
    if (f > t)
      return f;
    l = ml + seconds{1};
  }
  return std::nullopt;
}

} // namespace taskrt::sched

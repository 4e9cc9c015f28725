#include "taskrt/sched/cron_spec.hpp"

#include <date/date.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>
#include <vector>

namespace taskrt::sched {

namespace {

struct field_def {
  const char* name;
  uint32_t lo, hi;
  const char* const* names; ///< names for lo..hi (or nullptr)
};

const char* const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const weekday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"};

bool parse_number(const std::string& s, const field_def& f, uint32_t& out) {
  if (s.empty())
    return false;
  if (std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (s.size() > 4)
      return false;
    out = static_cast<uint32_t>(std::stoul(s));
    return true;
  }
  if (f.names == nullptr)
    return false;
  std::string up = s;
  for (auto& c : up)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (uint32_t v = f.lo; v <= f.hi; ++v)
    if (up == f.names[v - f.lo]) {
      out = v;
      return true;
    }
  return false;
}

/// Parses one field into `bits` (indexed by value); `star` tells whether it
/// was a bare `*` (or `?`).
template <size_t N>
std::string parse_field(const std::string& text, const field_def& f, std::bitset<N>& bits,
                        bool& star) {
  star = text == "*" || text == "?";
  std::stringstream ss{text};
  std::string item;
  auto bad = [&](const std::string& why) {
    return std::string{"cron "} + f.name + " field \"" + text + "\": " + why;
  };
  if (text.empty() || text.front() == ',' || text.back() == ',')
    return bad("empty list item");
  while (std::getline(ss, item, ',')) {
    if (item.empty())
      return bad("empty list item");
    uint32_t step = 1;
    auto slash = item.find('/');
    std::string range = item;
    bool has_step = slash != std::string::npos;
    if (has_step) {
      range = item.substr(0, slash);
      std::string st = item.substr(slash + 1);
      if (st.empty() || st.size() > 4
          || !std::all_of(st.begin(), st.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return bad("bad step \"" + st + "\"");
      step = static_cast<uint32_t>(std::stoul(st));
      if (step == 0)
        return bad("step must be at least 1");
    }
    uint32_t lo = f.lo, hi = f.hi;
    if (range == "*" || range == "?") {
      // the whole range
    } else {
      auto dash = range.find('-');
      if (dash == std::string::npos) {
        if (!parse_number(range, f, lo))
          return bad("bad value \"" + range + "\"");
        hi = has_step ? f.hi : lo; // "a/n" runs from a to the end
      } else {
        if (!parse_number(range.substr(0, dash), f, lo)
            || !parse_number(range.substr(dash + 1), f, hi))
          return bad("bad range \"" + range + "\"");
      }
    }
    if (lo < f.lo || hi > f.hi || lo > f.hi || hi < f.lo)
      return bad("value out of range " + std::to_string(f.lo) + "-" + std::to_string(f.hi));
    if (lo > hi)
      return bad("range \"" + range + "\" runs backwards");
    for (uint32_t v = lo; v <= hi; v += step)
      bits.set(v);
  }
  return {};
}

const field_def second_field{"second", 0, 59, nullptr};
const field_def minute_field{"minute", 0, 59, nullptr};
const field_def hour_field{"hour", 0, 23, nullptr};
const field_def day_field{"day-of-month", 1, 31, nullptr};
const field_def month_field{"month", 1, 12, month_names};
const field_def weekday_field{"day-of-week", 0, 7, weekday_names};

uint32_t days_in_month(int32_t y, uint32_t m) {
  return static_cast<unsigned>(
    (date::year{y} / date::month{m} / date::last).day());
}

uint32_t weekday_of(int32_t y, uint32_t m, uint32_t d) {
  return date::weekday{date::sys_days{date::year{y} / date::month{m} / date::day{d}}}
    .c_encoding();
}

} // namespace

bool cron_spec::matches_date(int32_t year, uint32_t month, uint32_t day) const {
  if (!months.test(month))
    return false;
  const bool dom = days.test(day);
  const bool dow = weekdays.test(weekday_of(year, month, day));
  if (days_restricted && weekdays_restricted)
    return dom || dow;
  return dom && dow;
}

bool cron_spec::matches(const civil_time& t) const {
  return seconds.test(t.second) && minutes.test(t.minute) && hours.test(t.hour)
         && matches_date(t.year, t.month, t.day);
}

std::variant<cron_spec, std::string> parse_cron(const std::string& input) {
  std::string text = input;
  // Trim.
  auto b = text.find_first_not_of(" \t");
  auto e = text.find_last_not_of(" \t");
  text = b == std::string::npos ? std::string{} : text.substr(b, e - b + 1);
  static const std::array<std::pair<const char*, const char*>, 7> macros{{
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
  }};
  std::string expr = text;
  if (!text.empty() && text[0] == '@') {
    expr.clear();
    for (auto& [name, value] : macros)
      if (text == name)
        expr = value;
    if (expr.empty())
      return std::string{"unknown cron macro \""} + text
             + "\" (known: @yearly @annually @monthly @weekly @daily @midnight @hourly)";
  }
  std::vector<std::string> fields;
  std::stringstream ss{expr};
  for (std::string f; ss >> f;)
    fields.push_back(f);
  if (fields.size() != 5 && fields.size() != 6)
    return "cron expression \"" + input + "\" has " + std::to_string(fields.size())
           + " fields; expected 5 (minute hour day-of-month month day-of-week) or 6 "
             "(second first)";
  cron_spec spec;
  spec.text = text;
  size_t i = 0;
  bool star = false;
  std::string err;
  if (fields.size() == 6) {
    if (!(err = parse_field(fields[i++], second_field, spec.seconds, star)).empty())
      return err;
  } else {
    spec.seconds.set(0);
  }
  if (!(err = parse_field(fields[i++], minute_field, spec.minutes, star)).empty())
    return err;
  if (!(err = parse_field(fields[i++], hour_field, spec.hours, star)).empty())
    return err;
  if (!(err = parse_field(fields[i++], day_field, spec.days, star)).empty())
    return err;
  spec.days_restricted = !star;
  if (!(err = parse_field(fields[i++], month_field, spec.months, star)).empty())
    return err;
  std::bitset<8> wd;
  if (!(err = parse_field(fields[i++], weekday_field, wd, star)).empty())
    return err;
  spec.weekdays_restricted = !star;
  for (size_t d = 0; d < 7; ++d)
    spec.weekdays.set(d, wd.test(d));
  if (wd.test(7))
    spec.weekdays.set(0);
  // A day-of-month rule alone must fit some allowed month (Feb counts 29).
  if (spec.days_restricted && !spec.weekdays_restricted) {
    bool any = false;
    for (uint32_t m = 1; m <= 12 && !any; ++m)
      if (spec.months.test(m))
        for (uint32_t d = 1; d <= days_in_month(2000, m) && !any; ++d)
          any = spec.days.test(d);
    if (!any)
      return "cron expression \"" + input + "\" never fires (no allowed month has "
             "that day)";
  }
  return spec;
}

bool next_cron_match(const cron_spec& spec, const civil_time& from, civil_time& out,
                     int32_t max_years) {
  civil_time t = from;
  const int32_t last_year = from.year + max_years;
  auto next_day = [&] {
    t.hour = t.minute = t.second = 0;
    if (++t.day > days_in_month(t.year, t.month)) {
      t.day = 1;
      if (++t.month > 12) {
        t.month = 1;
        ++t.year;
      }
    }
  };
  while (t.year <= last_year) {
    if (!spec.months.test(t.month)) {
      t.day = 1;
      t.hour = t.minute = t.second = 0;
      if (++t.month > 12) {
        t.month = 1;
        ++t.year;
      }
      continue;
    }
    if (!spec.matches_date(t.year, t.month, t.day)) {
      next_day();
      continue;
    }
    // The date matches: find the first allowed h:m:s at or after t's.
    bool found = false;
    for (uint32_t h = t.hour; h < 24 && !found; ++h) {
      if (!spec.hours.test(h))
        continue;
      const uint32_t m0 = h == t.hour ? t.minute : 0;
      for (uint32_t m = m0; m < 60 && !found; ++m) {
        if (!spec.minutes.test(m))
          continue;
        const uint32_t s0 = (h == t.hour && m == t.minute) ? t.second : 0;
        for (uint32_t s = s0; s < 60; ++s)
          if (spec.seconds.test(s)) {
            out = t;
            out.hour = h;
            out.minute = m;
            out.second = s;
            found = true;
            break;
          }
      }
    }
    if (found)
      return true;
    next_day();
  }
  return false;
}

} // namespace taskrt::sched

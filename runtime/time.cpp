#include "taskrt/runtime/time.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>

namespace taskrt {

namespace {

// Days since 1970-01-01 for a proleptic Gregorian civil date
// (H. Hinnant's days_from_civil algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct civil {
  int64_t y;
  unsigned m, d;
};

civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

constexpr int64_t micros_per_second = 1'000'000;
constexpr int64_t seconds_per_day = 86'400;

bool read_int(const std::string& s, size_t& pos, size_t digits, int& out) {
  if (pos + digits > s.size())
    return false;
  int v = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = s[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
    v = v * 10 + (c - '0');
  }
  pos += digits;
  out = v;
  return true;
}

bool expect(const std::string& s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c)
    return false;
  ++pos;
  return true;
}

} // namespace

timestamp max_timestamp() {
  const int64_t days = days_from_civil(9999, 12, 31);
  return from_micros((days * seconds_per_day + 86'399) * micros_per_second);
}

timestamp now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(
    std::chrono::system_clock::now());
}

timestamp add_seconds_clamped(timestamp t, double seconds) {
  const double cur = static_cast<double>(to_micros(t));
  const double max = static_cast<double>(to_micros(max_timestamp()));
  if (std::isnan(seconds))
    return t;
  const double sum = cur + seconds * static_cast<double>(micros_per_second);
  if (sum >= max)
    return max_timestamp();
  if (sum <= 0)
    return from_micros(0);
  return from_micros(static_cast<int64_t>(std::llround(sum)));
}

std::string to_rfc3339(timestamp t) {
  int64_t us = to_micros(t);
  int64_t secs = us / micros_per_second;
  int64_t frac = us % micros_per_second;
  if (frac < 0) {
    frac += micros_per_second;
    --secs;
  }
  int64_t days = secs / seconds_per_day;
  int64_t rem = secs % seconds_per_day;
  if (rem < 0) {
    rem += seconds_per_day;
    --days;
  }
  const civil c = civil_from_days(days);
  char buf[48];
  if (frac == 0)
    std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                  static_cast<long long>(c.y), c.m, c.d,
                  static_cast<long long>(rem / 3600),
                  static_cast<long long>(rem / 60 % 60),
                  static_cast<long long>(rem % 60));
  else
    std::snprintf(buf, sizeof(buf),
                  "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                  static_cast<long long>(c.y), c.m, c.d,
                  static_cast<long long>(rem / 3600),
                  static_cast<long long>(rem / 60 % 60),
                  static_cast<long long>(rem % 60),
                  static_cast<long long>(frac));
  return buf;
}

std::optional<timestamp> parse_rfc3339(const std::string& s) {
  size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (!read_int(s, pos, 4, y) || !expect(s, pos, '-')
      || !read_int(s, pos, 2, mo) || !expect(s, pos, '-')
      || !read_int(s, pos, 2, d))
    return std::nullopt;
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' '))
    return std::nullopt;
  ++pos;
  if (!read_int(s, pos, 2, h) || !expect(s, pos, ':')
      || !read_int(s, pos, 2, mi) || !expect(s, pos, ':')
      || !read_int(s, pos, 2, se))
    return std::nullopt;
  static constexpr unsigned mdays[] = {31, 29, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > mdays[mo - 1]
      || h > 23 || mi > 59 || se > 60)
    return std::nullopt;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo == 2 && d == 29 && !leap)
    return std::nullopt;
  int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t scale = 100000;
    size_t start = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      frac += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start)
      return std::nullopt;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int sign = s[pos] == '+' ? 1 : -1;
    ++pos;
    int oh, om;
    if (!read_int(s, pos, 2, oh) || !expect(s, pos, ':')
        || !read_int(s, pos, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  if (pos != s.size())
    return std::nullopt;
  const int64_t secs = days_from_civil(y, static_cast<unsigned>(mo),
                                       static_cast<unsigned>(d))
                         * seconds_per_day
                       + h * 3600 + mi * 60 + (se == 60 ? 59 : se) - offset;
  return from_micros(secs * micros_per_second + frac);
}

} // namespace taskrt

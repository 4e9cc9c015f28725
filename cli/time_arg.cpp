#include "taskrt/cli/time_arg.hpp"

#include "taskrt/runtime/limits.hpp"

#include <cmath>
#include <cstdlib>

namespace taskrt::cli {

std::optional<double> parse_duration(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(v) || v < 0 || text[0] == '+' || text[0] == '-')
    return std::nullopt;
  const std::string unit{end};
  double mult = 0;
  if (unit.empty() || unit == "s")
    mult = 1;
  else if (unit == "m")
    mult = 60;
  else if (unit == "h")
    mult = 3600;
  else if (unit == "d")
    mult = 86400;
  else if (unit == "w")
    mult = 7 * 86400;
  else
    return std::nullopt;
  return v * mult;
}

std::optional<timestamp> parse_time_arg(const std::string& text, timestamp now) {
  if (auto t = parse_rfc3339(text))
    return t;
  if (auto d = parse_duration(text))
    return add_seconds_clamped(now, -*d);
  return std::nullopt;
}

caf::expected<timestamp> parse_run_at(const std::string& text, timestamp now,
                                      const std::string& flag) {
  auto t = parse_rfc3339(text);
  if (!t)
    return make_error(errc::bad_request, flag + ": not an RFC 3339 time: " + text);
  if (to_micros(*t) < 0)
    return make_error(errc::bad_request, flag + ": before 1970: " + text);
  const double ahead = static_cast<double>(to_micros(*t) - to_micros(now)) / 1e6;
  if (ahead > max_seconds)
    return make_error(errc::bad_request, flag + ": more than 100 years ahead: " + text);
  return *t;
}

std::string human_duration(double seconds) {
  if (seconds < 0)
    seconds = 0;
  auto fmt = [](double v, const char* unit) {
    return std::to_string(static_cast<long long>(std::floor(v))) + unit;
  };
  if (seconds < 120)
    return fmt(seconds, "s");
  if (seconds < 7200)
    return fmt(seconds / 60, "m");
  if (seconds < 2 * 86400)
    return fmt(seconds / 3600, "h");
  return fmt(seconds / 86400, "d");
}

} // namespace taskrt::cli

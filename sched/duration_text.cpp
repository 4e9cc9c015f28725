#include "taskrt/sched/duration_text.hpp"

#include <cctype>

namespace taskrt::sched {

namespace {
/// Ten years: longer than any schedule needs, short enough to never overflow.
constexpr int64_t max_seconds = 10LL * 366 * 86400;
} // namespace

std::variant<int64_t, std::string> parse_duration(const std::string& text,
                                                  const std::string& what) {
  auto bad = [&](const std::string& why) {
    return what + ": bad duration \"" + text + "\": " + why
           + " (write e.g. 1s, 90s, 5m, 1h30m, 2d)";
  };
  if (text.empty())
    return bad("empty");
  int64_t total = 0;
  size_t i = 0;
  std::string last_unit;
  static const std::string order = "dhms";
  size_t last_rank = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i])))
      return bad("expected a number at \"" + text.substr(i) + "\"");
    int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > max_seconds)
        return bad("too long");
      ++i;
    }
    int64_t unit = 1;
    if (i < text.size()) {
      const char u = text[i++];
      auto rank = order.find(u);
      if (rank == std::string::npos)
        return bad(std::string{"unknown unit '"} + u + "'");
      if (rank + 1 <= last_rank)
        return bad("units must go from larger to smaller, each once");
      last_rank = rank + 1;
      unit = u == 'd' ? 86400 : u == 'h' ? 3600 : u == 'm' ? 60 : 1;
    } else if (last_rank != 0) {
      return bad("a number without a unit after other units");
    }
    total += n * unit;
    if (total > max_seconds)
      return bad("too long (at most 10 years)");
  }
  return total;
}

std::string duration_text(int64_t s) {
  if (s == 0)
    return "0s";
  std::string out;
  const int64_t units[] = {86400, 3600, 60, 1};
  const char names[] = {'d', 'h', 'm', 's'};
  for (int i = 0; i < 4; ++i)
    if (s >= units[i]) {
      out += std::to_string(s / units[i]) + names[i];
      s %= units[i];
    }
  return out;
}

} // namespace taskrt::sched

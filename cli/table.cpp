#include "cli/table.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#include <sys/ioctl.h>
#include <unistd.h>

namespace taskrt::cli {

namespace {

constexpr size_t gap = 2;      // spaces between columns
constexpr size_t min_col = 10; // never shrink a column below this

/// Shrinks the widest columns (down to min_col) until the line fits `width`;
/// lines still too wide are cut at the end by print().
void fit(std::vector<size_t>& w, size_t width) {
  if (width == 0 || w.empty())
    return;
  auto total = [&] { return std::accumulate(w.begin(), w.end(), size_t{0}) + gap * (w.size() - 1); };
  while (total() > width) {
    auto widest = std::max_element(w.begin(), w.end());
    if (*widest <= min_col)
      break;
    *widest -= 1;
  }
}

std::string clip(const std::string& s, size_t w) {
  if (s.size() <= w)
    return s;
  return w == 0 ? std::string{} : s.substr(0, w - 1) + "~";
}

} // namespace

void table::print(size_t width, bool colour) const {
  std::vector<size_t> w(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < w.size(); ++i)
      w[i] = std::max(w[i], row[i].size());
  };
  measure(header);
  for (const auto& r : rows)
    measure(r);
  fit(w, width);
  auto line = [&](const std::vector<std::string>& row, bool is_header) {
    std::string out;
    size_t shown = 0; // visible characters so far (colour escapes excluded)
    for (size_t i = 0; i < row.size() && i < w.size(); ++i) {
      auto c = clip(row[i], w[i]);
      if (width > 0 && shown + c.size() > width) {
        c = clip(c, width > shown ? width - shown : 0);
        if (c.empty())
          break;
      }
      shown += c.size() + (i + 1 < row.size() ? w[i] - std::min(w[i], c.size()) + gap : 0);
      const size_t pad = w[i] - std::min(w[i], c.size());
      const char* col = !is_header && colour && static_cast<int>(i) == state_column
                          ? state_colour(c) : "";
      out += *col ? std::string{col} + c + "\033[0m" : c;
      if (i + 1 < row.size()) {
        if (width > 0 && shown >= width)
          break;
        out += std::string(pad + gap, ' ');
      }
    }
    std::printf("%s\n", out.c_str());
  };
  line(header, true);
  for (const auto& r : rows)
    line(r, false);
}

size_t terminal_width() {
  if (!::isatty(STDOUT_FILENO))
    return 0;
  if (const char* c = std::getenv("COLUMNS"); c && *c) {
    const long v = std::strtol(c, nullptr, 10);
    if (v > 0)
      return static_cast<size_t>(v);
  }
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
    return 0;
  return ws.ws_col;
}

bool use_colour() {
  const char* no = std::getenv("NO_COLOR");
  return ::isatty(STDOUT_FILENO) && !(no && *no);
}

const char* state_colour(const std::string& state) {
  if (state == "SUCCEEDED")
    return "\033[32m";
  if (state == "FAILED" || state == "LOST")
    return "\033[31m";
  if (state == "RUNNING")
    return "\033[36m";
  if (state == "CANCELLED")
    return "\033[33m";
  return "";
}

} // namespace taskrt::cli

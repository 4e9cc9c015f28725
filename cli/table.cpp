#include "taskrt/cli/table.hpp"

#include "taskrt/cluster/env_config.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdint>
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

/// The code point at s[i] and its length in bytes; an invalid byte is
/// taken as one character of its own (U+FFFD).
uint32_t decode(const std::string& s, size_t i, size_t& len) {
  const auto c = static_cast<unsigned char>(s[i]);
  len = 1;
  if (c < 0x80)
    return c;
  size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > s.size())
    return 0xFFFD;
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80)
      return 0xFFFD;
    cp = (cp << 6) | (d & 0x3F);
  }
  len = n;
  return cp;
}

/// Columns a code point takes on a terminal: 0 for combining marks and
/// zero-width characters, 2 for East Asian wide and emoji, else 1.
size_t columns(uint32_t cp) {
  auto in = [cp](uint32_t a, uint32_t b) { return cp >= a && cp <= b; };
  if (in(0x0300, 0x036F) || in(0x0483, 0x0489) || in(0x0591, 0x05BD) || in(0x0610, 0x061A)
      || in(0x064B, 0x065F) || in(0x1AB0, 0x1AFF) || in(0x1DC0, 0x1DFF) || in(0x200B, 0x200F)
      || in(0x20D0, 0x20FF) || in(0xFE00, 0xFE0F) || in(0xFE20, 0xFE2F) || cp == 0x2060
      || cp == 0xFEFF)
    return 0;
  if (in(0x1100, 0x115F) || in(0x2E80, 0x303E) || in(0x3041, 0x33FF) || in(0x3400, 0x4DBF)
      || in(0x4E00, 0x9FFF) || in(0xA000, 0xA4CF) || in(0xAC00, 0xD7A3) || in(0xF900, 0xFAFF)
      || in(0xFE30, 0xFE4F) || in(0xFF00, 0xFF60) || in(0xFFE0, 0xFFE6) || in(0x1F300, 0x1F64F)
      || in(0x1F900, 0x1F9FF) || in(0x20000, 0x3FFFD))
    return 2;
  return 1;
}

std::string clip(const std::string& s, size_t w) {
  if (display_width(s) <= w)
    return s;
  if (w == 0)
    return {};
  // Keep whole characters that fit in w - 1 columns, then "~".
  std::string out;
  size_t used = 0;
  for (size_t i = 0, len = 0; i < s.size(); i += len) {
    const auto cols = columns(decode(s, i, len));
    if (used + cols > w - 1)
      break;
    out.append(s, i, len);
    used += cols;
  }
  return out + "~";
}

} // namespace

size_t display_width(const std::string& s) {
  size_t w = 0;
  for (size_t i = 0, len = 0; i < s.size(); i += len)
    w += columns(decode(s, i, len));
  return w;
}

void table::print(size_t width, bool colour) const {
  std::fputs(render(width, colour).c_str(), stdout);
}

std::string table::render(size_t width, bool colour) const {
  std::string text;
  std::vector<size_t> w(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < w.size(); ++i)
      w[i] = std::max(w[i], display_width(row[i]));
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
      if (width > 0 && shown + display_width(c) > width) {
        c = clip(c, width > shown ? width - shown : 0);
        if (c.empty())
          break;
      }
      const size_t cw = display_width(c);
      shown += cw + (i + 1 < row.size() ? w[i] - std::min(w[i], cw) + gap : 0);
      const size_t pad = w[i] - std::min(w[i], cw);
      const char* col = !is_header && colour && static_cast<int>(i) == state_column
                          ? state_colour(c) : "";
      out += *col ? std::string{col} + c + "\033[0m" : c;
      if (i + 1 < row.size()) {
        if (width > 0 && shown >= width)
          break;
        out += std::string(pad + gap, ' ');
      }
    }
    // Trailing padding of the last column is not printed.
    text += out + "\n";
  };
  line(header, true);
  for (const auto& r : rows)
    line(r, false);
  return text;
}

size_t terminal_width() {
  if (!::isatty(STDOUT_FILENO))
    return 0;
  if (const auto& c = process_env().columns; !c.empty()) {
    const long v = std::strtol(c.c_str(), nullptr, 10);
    if (v > 0)
      return static_cast<size_t>(v);
  }
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
    return 0;
  return ws.ws_col;
}

bool use_colour() {
  return ::isatty(STDOUT_FILENO) && !process_env().no_color;
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

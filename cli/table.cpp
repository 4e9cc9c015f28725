#include "cli/table.hpp"

#include <algorithm>
#include <cstdio>

#include <sys/ioctl.h>
#include <unistd.h>

namespace taskrt::cli {

void table::print(size_t width) const {
  std::vector<size_t> w(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < w.size(); ++i)
      w[i] = std::max(w[i], row[i].size());
  };
  measure(header);
  for (const auto& r : rows)
    measure(r);
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t i = 0; i < row.size() && i < w.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size())
        out += std::string(w[i] - row[i].size() + 2, ' ');
    }
    if (width > 3 && out.size() > width)
      out = out.substr(0, width - 3) + "...";
    std::printf("%s\n", out.c_str());
  };
  line(header);
  for (const auto& r : rows)
    line(r);
}

size_t terminal_width() {
  if (!::isatty(STDOUT_FILENO))
    return 0;
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
    return 0;
  return ws.ws_col;
}

} // namespace taskrt::cli

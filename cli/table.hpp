#pragma once
/// Aligned text tables for people (JSON is for scripts).

#include <string>
#include <vector>

namespace taskrt::cli {

/// Rows of cells under a header, printed with aligned columns. The last
/// column is cut so each line fits `width` characters (0: no limit).
struct table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  /// Prints to stdout.
  void print(size_t width = 0) const;
};

/// The terminal width when stdout is a terminal, else 0 (no limit).
size_t terminal_width();

} // namespace taskrt::cli

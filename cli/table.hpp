#pragma once
/// Aligned text tables for people (JSON is for scripts).

#include <string>
#include <vector>

namespace taskrt::cli {

/// Rows of cells under a header, printed with aligned columns. When a line
/// would be wider than `width`, the widest columns are shortened (cells cut
/// with "~") until it fits; 0 means no limit.
struct table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  /// Column whose cells are task states, coloured when `colour` is set.
  int state_column = -1;

  /// Prints to stdout. `colour`: ANSI colours for the state column.
  void print(size_t width = 0, bool colour = false) const;

  /// The text print() writes. Columns align by display width (see
  /// display_width), so non-ASCII cells line up.
  std::string render(size_t width = 0, bool colour = false) const;
};

/// Terminal columns of UTF-8 text: combining marks take 0, East Asian wide
/// characters and emoji 2, others 1 (an invalid byte counts as 1).
size_t display_width(const std::string& s);

/// The terminal width when stdout is a terminal, else 0 (no limit);
/// $COLUMNS wins when set.
size_t terminal_width();

/// True when stdout is a terminal and $NO_COLOR is unset.
bool use_colour();

/// The ANSI colour escape for a task state name ("" for none).
const char* state_colour(const std::string& state);

} // namespace taskrt::cli

/// cli/table: columns align by display width, not bytes (non-ASCII queue
/// names, wide characters, combining marks), and cells are cut on whole
/// characters.

#include "taskrt/cli/table.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace taskrt::cli;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string l; std::getline(in, l);)
    out.push_back(l);
  return out;
}

/// Display column where `needle` starts in `line`.
size_t column_of(const std::string& line, const std::string& needle) {
  auto pos = line.find(needle);
  REQUIRE(pos != std::string::npos);
  return display_width(line.substr(0, pos));
}

} // namespace

TEST_CASE("table: display width counts characters, wide ones twice", "[table]") {
  CHECK(display_width("default") == 7);
  CHECK(display_width("Grüße") == 5);          // 7 bytes
  CHECK(display_width("e\xcc\x81") == 1);       // e + combining acute
  CHECK(display_width("日本") == 4);            // 6 bytes, 2 wide characters
  CHECK(display_width("🎉") == 2);
  CHECK(display_width("\xff") == 1);            // invalid byte: one column
}

TEST_CASE("table: columns after non-ASCII cells line up", "[table]") {
  table t;
  t.header = {"QUEUE", "STATE", "ID"};
  t.rows = {{"default", "QUEUED", "1"},
            {"Warteschlange-Grüße", "RUNNING", "2"},
            {"日本語キュー", "FAILED", "3"},
            {"cafe\xcc\x81", "LOST", "4"}};
  auto lines = lines_of(t.render());
  REQUIRE(lines.size() == 5);
  const auto state_col = column_of(lines[0], "STATE");
  const auto id_col = column_of(lines[0], "ID");
  CHECK(state_col == display_width("Warteschlange-Grüße") + 2);
  for (size_t i = 1; i < lines.size(); ++i) {
    INFO(lines[i]);
    CHECK(column_of(lines[i], t.rows[i - 1][1]) == state_col);
    CHECK(column_of(lines[i], " " + t.rows[i - 1][2]) + 1 == id_col);
  }
}

TEST_CASE("table: a narrow terminal cuts cells on whole characters", "[table]") {
  table t;
  t.header = {"QUEUE", "N"};
  t.rows = {{"日本語日本語日本語日本語", "1"}, {"ÄÖÜÄÖÜÄÖÜÄÖÜÄÖÜ", "2"}};
  auto lines = lines_of(t.render(15));
  REQUIRE(lines.size() == 3);
  for (const auto& l : lines) {
    INFO(l);
    CHECK(display_width(l) <= 15);
    CHECK(l.find('\xef') == std::string::npos); // no U+FFFD: no split character
  }
  CHECK(lines[1].find("~") != std::string::npos);
  CHECK(column_of(lines[1], "1") == column_of(lines[2], "2"));
}

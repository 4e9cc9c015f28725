#include "taskrt/runtime/version.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace taskrt;

TEST_CASE("version is project(VERSION) and the line names the commit", "[version]") {
  const std::string v = version();
  CHECK(major_minor(v).first >= 0);
  CHECK(std::string{build_commit()}.size() > 0);
  CHECK(version_line() == v + " (commit " + build_commit() + ")");
}

TEST_CASE("major_minor parses M.m.p and refuses the rest", "[version]") {
  CHECK(major_minor("0.1.0") == std::make_pair(0, 1));
  CHECK(major_minor("12.34") == std::make_pair(12, 34));
  CHECK(major_minor("") == std::make_pair(-1, -1));
  CHECK(major_minor("x.1") == std::make_pair(-1, -1));
  CHECK(major_minor("1") == std::make_pair(-1, -1));
}

TEST_CASE("the supported skew is the same major and minors one apart", "[version]") {
  CHECK(within_supported_skew("0.1.0", "0.1.7"));
  CHECK(within_supported_skew("0.2.0", "0.1.0"));
  CHECK(within_supported_skew("0.1.0", "0.2.3"));
  CHECK_FALSE(within_supported_skew("0.3.0", "0.1.0"));
  CHECK_FALSE(within_supported_skew("1.0.0", "0.9.0"));
  CHECK_FALSE(within_supported_skew("1.1.0", "2.1.0"));
  CHECK(within_supported_skew("0.1.0", "")); // a build without a version
}

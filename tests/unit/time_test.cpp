/// RFC 3339 formatting and parsing, offsets, invalid input, the clamp at
/// 9999-12-31T23:59:59Z.

#include "taskrt/runtime/time.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace taskrt;

namespace {

timestamp at(const char* text) {
  auto t = parse_rfc3339(text);
  REQUIRE(t);
  return *t;
}

} // namespace

TEST_CASE("known instants", "[time]") {
  CHECK(to_micros(at("1970-01-01T00:00:00Z")) == 0);
  CHECK(to_micros(at("2026-01-01T00:00:00Z")) == 1'767'225'600'000'000);
  CHECK(to_rfc3339(from_micros(0)) == "1970-01-01T00:00:00Z");
  CHECK(to_rfc3339(from_micros(1'767'225'605'000'000)) == "2026-01-01T00:00:05Z");
  CHECK(to_rfc3339(max_timestamp()) == "9999-12-31T23:59:59Z");
}

TEST_CASE("RFC 3339 round trip", "[time]") {
  for (const char* text : {"2026-01-01T00:00:05Z", "2024-02-29T23:59:59Z",
                           "2000-12-31T12:34:56.123456Z", "1999-07-04T01:02:03.5Z",
                           "9999-12-31T23:59:59Z"}) {
    auto t = at(text);
    CHECK(parse_rfc3339(to_rfc3339(t)) == t);
  }
  CHECK(to_rfc3339(at("2000-12-31T12:34:56.123456Z")) == "2000-12-31T12:34:56.123456Z");
  CHECK(to_rfc3339(at("1999-07-04T01:02:03.5Z")) == "1999-07-04T01:02:03.500000Z");
  // Every microsecond of a day-crossing range survives the round trip.
  auto base = at("2025-12-31T23:59:59.999990Z");
  for (int i = 0; i < 20; ++i) {
    auto t = base + std::chrono::microseconds{i};
    CHECK(parse_rfc3339(to_rfc3339(t)) == t);
  }
  auto now_t = now();
  CHECK(parse_rfc3339(to_rfc3339(now_t)) == now_t);
}

TEST_CASE("offsets, lower case and a space separator", "[time]") {
  auto utc = at("2026-01-01T00:00:00Z");
  CHECK(at("2026-01-01T02:00:00+02:00") == utc);
  CHECK(at("2025-12-31T19:30:00-04:30") == utc);
  CHECK(at("2026-01-01T00:00:00+00:00") == utc);
  CHECK(at("2026-01-01T00:00:00-00:00") == utc);
  CHECK(at("2026-01-01t00:00:00z") == utc);
  CHECK(at("2026-01-01 00:00:00Z") == utc);
}

TEST_CASE("invalid inputs are rejected", "[time]") {
  for (const char* text : {
         "", "2026", "2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00Z",
         "26-01-01T00:00:00Z", "2026-1-01T00:00:00Z", "2026-13-01T00:00:00Z",
         "2026-00-10T00:00:00Z", "2026-01-32T00:00:00Z", "2026-04-31T00:00:00Z",
         "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-01-01T24:00:00Z",
         "2026-01-01T00:60:00Z", "2026-01-01T00:00:61Z", "2026-01-01T00:00:00.Z",
         "2026-01-01T00:00:00+0200", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00Zjunk",
         "2026-01-01X00:00:00Z", "tomorrow", " 2026-01-01T00:00:00Z"}) {
    INFO(text);
    CHECK_FALSE(parse_rfc3339(text));
  }
  CHECK(parse_rfc3339("2000-02-29T00:00:00Z")); // divisible by 400: leap
}

TEST_CASE("add_seconds_clamped clamps and never overflows", "[time]") {
  auto t = at("2026-01-01T00:00:00Z");
  CHECK(to_rfc3339(add_seconds_clamped(t, 5)) == "2026-01-01T00:00:05Z");
  CHECK(to_rfc3339(add_seconds_clamped(t, 0.25)) == "2026-01-01T00:00:00.250000Z");
  CHECK(add_seconds_clamped(t, 1e300) == max_timestamp());
  CHECK(add_seconds_clamped(t, std::numeric_limits<double>::max()) == max_timestamp());
  CHECK(add_seconds_clamped(t, std::numeric_limits<double>::infinity()) == max_timestamp());
  CHECK(add_seconds_clamped(max_timestamp(), 1) == max_timestamp());
  CHECK(add_seconds_clamped(t, -1e300) == from_micros(0));
  CHECK(add_seconds_clamped(t, -std::numeric_limits<double>::infinity()) == from_micros(0));
  CHECK(add_seconds_clamped(t, std::numeric_limits<double>::quiet_NaN()) == t);
  // Just below the end still adds exactly.
  auto late = at("9999-12-31T23:59:00Z");
  CHECK(to_rfc3339(add_seconds_clamped(late, 58)) == "9999-12-31T23:59:58Z");
  CHECK(to_rfc3339(add_seconds_clamped(late, 3600)) == "9999-12-31T23:59:59Z");
}

TEST_CASE("micros conversions", "[time]") {
  CHECK(to_micros(from_micros(123)) == 123);
  CHECK(to_micros(from_micros(-5)) == -5);
}

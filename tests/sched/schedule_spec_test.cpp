// Parsing of cron expressions and durations, and the fire-time rules on
// facts of the tz database that do not come from the code under test (the
// EU switches at 01:00 UTC on the last Sunday of March and October). The
// wide comparison with an independent implementation (Python's zoneinfo) is
// tests/sched/schedule_plan_check.py.
#include "taskrt/sched/cron_spec.hpp"
#include "taskrt/sched/duration_text.hpp"
#include "taskrt/sched/schedule_spec.hpp"

#include <catch2/catch.hpp>

using namespace taskrt::sched;

namespace {

schedule_spec make(const std::string& cron, const std::string& every, const std::string& tz) {
  auto r = schedule_spec::make(cron, every, tz);
  if (auto e = std::get_if<std::string>(&r))
    FAIL(*e);
  return std::get<schedule_spec>(r);
}

std::string error_of(const std::string& cron) {
  auto r = parse_cron(cron);
  auto e = std::get_if<std::string>(&r);
  return e ? *e : std::string{};
}

constexpr int64_t mar_29_2026 = 1774742400; // 2026-03-29T00:00:00Z
constexpr int64_t oct_25_2026 = 1792886400; // 2026-10-25T00:00:00Z

} // namespace

TEST_CASE("durations: 1s, 90s, 5m, 1h30m and their refusals", "[schedule]") {
  CHECK(std::get<int64_t>(parse_duration("1s", "--every")) == 1);
  CHECK(std::get<int64_t>(parse_duration("90s", "--every")) == 90);
  CHECK(std::get<int64_t>(parse_duration("5m", "--every")) == 300);
  CHECK(std::get<int64_t>(parse_duration("1h30m", "--every")) == 5400);
  CHECK(std::get<int64_t>(parse_duration("2d", "--every")) == 172800);
  CHECK(std::get<int64_t>(parse_duration("45", "--every")) == 45);
  for (auto bad : {"", "5x", "m5", "1m1h", "1h1h", "1h30", "-5s", "1.5h", "99999999d"}) {
    INFO(bad);
    auto r = parse_duration(bad, "--every");
    REQUIRE(std::holds_alternative<std::string>(r));
    CHECK(std::get<std::string>(r).find("--every") == 0);
  }
  CHECK(duration_text(5400) == "1h30m");
  CHECK(duration_text(90) == "1m30s");
  CHECK(duration_text(0) == "0s");
}

TEST_CASE("cron: bad expressions are refused naming the field", "[schedule]") {
  CHECK(error_of("* * * *").find("4 fields") != std::string::npos);
  CHECK(error_of("60 * * * *").find("minute") != std::string::npos);
  CHECK(error_of("* 24 * * *").find("hour") != std::string::npos);
  CHECK(error_of("* * 0 * *").find("day-of-month") != std::string::npos);
  CHECK(error_of("* * * 13 *").find("month") != std::string::npos);
  CHECK(error_of("* * * * 8").find("day-of-week") != std::string::npos);
  CHECK(error_of("*/0 * * * *").find("step") != std::string::npos);
  CHECK(error_of("5-1 * * * *").find("backwards") != std::string::npos);
  CHECK(error_of("1,,2 * * * *").find("empty") != std::string::npos);
  CHECK(error_of("0 0 30 2 *").find("never fires") != std::string::npos);
  CHECK(error_of("0 0 31 4,6 *").find("never fires") != std::string::npos);
  CHECK(error_of("@often").find("macro") != std::string::npos);
  CHECK(error_of("0 0 29 2 *").empty()); // leap days exist
  CHECK(error_of("0 0 31 4 MON").empty()); // OR with the weekday
  auto r = schedule_spec::make("", "", "UTC");
  CHECK(std::holds_alternative<std::string>(r));
  r = schedule_spec::make("* * * * *", "", "Europe/Berlinn");
  REQUIRE(std::holds_alternative<std::string>(r));
  CHECK(std::get<std::string>(r).find("unknown time zone") != std::string::npos);
  r = schedule_spec::make("", "0s", "UTC");
  CHECK(std::holds_alternative<std::string>(r));
}

TEST_CASE("cron: names, ranges, steps, 6 fields and day OR weekday", "[schedule]") {
  auto spec = std::get<cron_spec>(parse_cron("0 9-17/4 * JAN,jul mon-fri"));
  CHECK(spec.hours.count() == 3);
  CHECK(spec.months.test(1));
  CHECK(spec.months.test(7));
  CHECK(spec.weekdays.count() == 5);
  auto six = std::get<cron_spec>(parse_cron("*/15 * * * * *"));
  CHECK(six.seconds.count() == 4);
  auto sunday7 = std::get<cron_spec>(parse_cron("0 0 * * 7"));
  CHECK(sunday7.weekdays.test(0));
  // 2026-02-13 is a Friday: "13th or Friday" matches the 6th (Fri) and the 13th.
  auto either = std::get<cron_spec>(parse_cron("0 0 13 * 5"));
  CHECK(either.matches_date(2026, 2, 6));
  CHECK(either.matches_date(2026, 2, 13));
  CHECK_FALSE(either.matches_date(2026, 2, 12));
}

TEST_CASE("every: a fixed interval aligned to the epoch, whatever the zone", "[schedule]") {
  auto s = make("", "90s", "Europe/Berlin");
  CHECK(s.next_after(0) == 90);
  CHECK(s.next_after(89) == 90);
  CHECK(s.next_after(90) == 180);
  // Across the spring-forward night the gaps stay 90 s.
  int64_t t = mar_29_2026;
  for (int i = 0; i < 100; ++i) {
    auto n = s.next_after(t);
    REQUIRE(n);
    CHECK(*n - t <= 90);
    t = *n;
  }
}

TEST_CASE("cron in Europe/Berlin: the gap fires once after it, the repeat once", "[schedule]") {
  // 02:30 does not exist on 2026-03-29: the fire is 01:00 UTC (03:00 CEST).
  auto s = make("30 2 * * *", "", "Europe/Berlin");
  CHECK(s.next_after(mar_29_2026) == mar_29_2026 + 3600);
  CHECK(s.next_after(mar_29_2026 + 3600) == mar_29_2026 + 86400 + 1800); // 00:30 UTC next day
  // Every 15 minutes: 01:45 CET (00:45Z), then the whole gap plus 03:00 are one fire at 01:00Z.
  auto q = make("*/15 * * * *", "", "Europe/Berlin");
  CHECK(q.next_after(mar_29_2026 + 2400) == mar_29_2026 + 2700);
  CHECK(q.next_after(mar_29_2026 + 2700) == mar_29_2026 + 3600);
  CHECK(q.next_after(mar_29_2026 + 3600) == mar_29_2026 + 4500);
  // 02:30 occurs twice on 2026-10-25: it fires at the first (00:30Z), not at 01:30Z.
  CHECK(s.next_after(oct_25_2026) == oct_25_2026 + 1800);
  CHECK(s.next_after(oct_25_2026 + 1800) == oct_25_2026 + 86400 + 5400);
}

TEST_CASE("cron: leap days and month ends", "[schedule]") {
  auto leap = make("0 12 29 2 *", "", "UTC");
  // From 2026-03-01: the next Feb 29 is 2028-02-29T12:00:00Z.
  CHECK(leap.next_after(1772323200) == 1835438400);
  auto last = make("0 0 31 * *", "", "UTC");
  // From 2026-04-01: April and June have no 31st, so May 31.
  CHECK(last.next_after(1775001600) == 1780185600);
}

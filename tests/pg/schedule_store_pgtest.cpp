// persistence/schedule_store against a real Postgres: one answer per tick
// (two heads racing write one), next_tick only moves forward, the newest
// tasks kept for the overlap rule, declared schedules keep their state
// unless their rule changed, and a CLI write wakes a LISTENing head.

#include "taskrt/actors/schedule_row_check.hpp"
#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/persistence/schedule_store.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>

#include <chrono>

using namespace taskrt;
using namespace taskrt::test;

namespace {

constexpr int64_t t0 = 1'800'000'000'000'000; // µs, a whole second

schedule_row every_second(const std::string& name) {
  schedule_definition d;
  d.name = name;
  d.task = "echo";
  d.every = "1s";
  auto row = make_schedule_row(d, t0 / 1'000'000 - 1);
  REQUIRE(std::holds_alternative<schedule_row>(row));
  return std::get<schedule_row>(row);
}

} // namespace

TEST_CASE("schedule store - one answer per tick, next_tick only forward, newest tasks kept",
          "[pg][schedules]") {
  const auto dsn = fresh_schema_dsn("sched_store");
  journal_store{dsn}.migrate();
  schedule_store a{dsn}, b{dsn};
  auto row = every_second("s");
  REQUIRE(row.next_tick_us == t0);
  REQUIRE(a.add(row));
  CHECK_FALSE(b.add(row));
  // Head a fires t0; a racing head b decides the same tick "skipped": the
  // first answer stays.
  a.record_ticks("s", {{0, "s", t0, "fired", "", 11, 0}}, t0 + 1'000'000);
  b.record_ticks("s", {{0, "s", t0, "skipped", "missed", 0, 0}}, t0 + 1'000'000);
  auto ev = a.events("s", 10);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "fired");
  CHECK(ev[0].task_id == 11);
  // A deposed head cannot move next_tick back.
  a.record_ticks("s", {{0, "s", t0 + 1'000'000, "fired", "", 12, 0},
                       {0, "s", t0 + 2'000'000, "fired", "", 13, 0}},
                 t0 + 3'000'000);
  b.record_ticks("s", {}, t0 + 1'000'000);
  auto s = a.get("s");
  REQUIRE(s);
  CHECK(s->next_tick_us == t0 + 3'000'000);
  CHECK(s->last_tick_us == t0 + 2'000'000);
  CHECK(s->recent_task_ids == std::vector<int64_t>{12, 13});
  CHECK(a.event_counts("s") == std::map<std::string, int64_t>{{"fired", 3}});
  // Events of a deleted schedule go with it; recording for it writes nothing.
  REQUIRE(a.remove("s"));
  b.record_ticks("s", {{0, "s", t0 + 3'000'000, "fired", "", 14, 0}}, t0 + 4'000'000);
  CHECK(a.events("s", 10).empty());
  CHECK_FALSE(a.get("s"));
}

TEST_CASE("schedule store - declared schedules keep their state unless the rule changed",
          "[pg][schedules]") {
  const auto dsn = fresh_schema_dsn("sched_declared");
  journal_store{dsn}.migrate();
  schedule_store st{dsn};
  auto row = every_second("d");
  row.declared = true;
  st.upsert_declared(row);
  st.record_ticks("d", {}, t0 + 5'000'000);
  REQUIRE(st.set_paused("d", true));
  row.args = R"({"v":2})";
  row.next_tick_us = t0 + 100'000'000;
  st.upsert_declared(row); // same rule: state stays, settings change
  auto s = st.get("d");
  REQUIRE(s);
  CHECK(s->next_tick_us == t0 + 5'000'000);
  CHECK(s->paused);
  CHECK(s->args == R"({"v": 2})");
  row.every_s = 2;
  st.upsert_declared(row); // a new rule: its next tick
  s = st.get("d");
  CHECK(s->next_tick_us == t0 + 100'000'000);
  CHECK(s->every_s == 2);
  CHECK(s->paused);
}

TEST_CASE("schedule store - a CLI write wakes the LISTENing head at once", "[pg][schedules]") {
  const auto dsn = fresh_schema_dsn("sched_notify");
  journal_store{dsn}.migrate();
  schedule_store head{dsn}, cli{dsn};
  head.listen();
  CHECK_FALSE(head.await_change(50));
  REQUIRE(cli.add(every_second("n")));
  const auto start = std::chrono::steady_clock::now();
  CHECK(head.await_change(10'000));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK_FALSE(head.await_change(0));
  REQUIRE(cli.request_trigger("n"));
  CHECK(head.await_change(10'000));
  CHECK(head.get("n")->trigger_at_us != 0);
}

TEST_CASE("schedules declared in C++ - the registry keeps them, a bad one is refused naming it",
          "[pg][schedules]") {
  task_registry reg;
  schedule_definition d;
  d.name = "nightly";
  d.task = "echo";
  d.cron = "30 2 * * *";
  d.tz = "Europe/Berlin";
  reg.add_schedule(d);
  REQUIRE(reg.schedules().size() == 1);
  auto row = make_schedule_row(reg.schedules().at("nightly"), t0 / 1'000'000);
  REQUIRE(std::holds_alternative<schedule_row>(row));
  CHECK(std::get<schedule_row>(row).tz == "Europe/Berlin");
  auto both = d;
  both.every = "1m";
  CHECK_THROWS_AS(reg.add_schedule(both), std::invalid_argument);
  auto no_task = d;
  no_task.task.clear();
  CHECK_THROWS_AS(reg.add_schedule(no_task), std::invalid_argument);
  auto bad_zone = d;
  bad_zone.tz = "Europe/Berlinn";
  reg.add_schedule(bad_zone); // the rule is checked where the head starts
  auto refused = make_schedule_row(bad_zone, t0 / 1'000'000);
  REQUIRE(std::holds_alternative<std::string>(refused));
  CHECK(std::get<std::string>(refused).find("schedule 'nightly'") == 0);
  CHECK(std::get<std::string>(refused).find("unknown time zone") != std::string::npos);
}

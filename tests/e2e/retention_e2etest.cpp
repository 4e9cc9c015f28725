// `taskrt start --head --retain`: the head's maintenance tick against a real
// head process and Postgres, and `--retain` values it refuses.

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/runtime/time.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;
using namespace taskrt::test;

namespace {

constexpr int64_t day_us = 86'400'000'000;

} // namespace

TEST_CASE("head --retain 5d - at start an old final task and its day's partition go - a task "
          "QUEUED since then keeps every event - the log says what went",
          "[e2e][retention]") {
  const auto dsn = fresh_schema_dsn("e2e_retain");
  journal_store s{dsn};
  s.migrate();
  const auto old = to_micros(now()) - 10 * day_us;
  const auto made = s.ensure_partitions(old, 0);
  REQUIRE(made.size() == 1);
  journal_store::batch b;
  for (auto name : {"echo", "echo"}) {
    journal_store::submit_item it;
    it.spec.name = name;
    it.spec.args = "{}";
    it.spec.run_at_us = to_micros(now()) + 3600 * 1'000'000LL; // not before the test ends
    it.now_us = old;
    b.submits.push_back(it);
  }
  const auto ids = s.commit(b).submitted_ids;
  journal_store::batch end;
  journal_store::transition_item c;
  c.task_id = ids[0];
  c.kind = transition_kind::cancel;
  c.expected_state = task_state::queued;
  c.at_us = old + 1000;
  end.transitions.push_back(c);
  REQUIRE(s.commit(end).applied == std::vector<bool>{true});
  const auto kept_events = s.events(ids[1]);

  head_process head{dsn, {"--workers", "0", "--retain", "5d"}};
  REQUIRE(eventually([&] {
    return head.log().find("journal retention (5d): older than") != std::string::npos;
  }));
  const auto log = head.log();
  INFO(log);
  CHECK(log.find("dropped partition " + made[0]) != std::string::npos);
  CHECK(log.find("deleted 1 final tasks") != std::string::npos);
  CHECK_FALSE(s.get_task(ids[0]));
  auto live = s.get_task(ids[1]);
  REQUIRE(live);
  CHECK(live->state == task_state::queued);
  const auto evs = s.events(ids[1]);
  REQUIRE(evs.size() == kept_events.size());
  CHECK(evs[0].id == kept_events[0].id);
  CHECK(evs[0].kind == transition_kind::submit);
  // The head still journals.
  auto id = head.connect().submit(spec("echo", {{"after", "retention"}}));
  CHECK(id);
}

TEST_CASE("start --retain refuses what is not a duration of an hour or more", "[e2e][retention]") {
  for (const char* bad : {"soon", "10m", "0s"}) {
    auto r = run_cli({"start", "--head", "--retain", bad, "--db", "postgresql://nobody@127.0.0.1:1/x"});
    INFO(bad << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--retain") != std::string::npos);
  }
  auto r = run_cli({"start", "--retain", "30d", "--address", "127.0.0.1:1"});
  CHECK(r.exit_code == 2); // a head option
}

// A task's progress kept by a real head (issue 23): the `sleep` task reports
// {"remaining_ms": N} through ctx.progress() about once a second. While it
// runs, `tasks describe` and GET /api/v1/tasks/{id} show a reported value
// with its attempt; once it has succeeded they show its last report (the
// only one with less than a second remaining: the reports are more than a
// second apart), and the journal holds no event per report.

#include "tests/e2e/api_helpers.hpp"
#include "tests/pg/pg_fixture.hpp"

#include "taskrt/persistence/detail/pqxx.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

TEST_CASE("progress - a task reporting progress - describe and the API show its latest value",
          "[e2e][api][progress]") {
  const auto dsn = fresh_schema_dsn("e2e_progress");
  api_head h{dsn, {"--workers", "1"}};
  auto& c = h.head.connect();
  // Reports at about 1.0, 2.0 and 3.0 s: remaining about 2500, 1500, 500 ms.
  auto id = c.submit(spec("sleep", {{"ms", 3500}}));
  REQUIRE(id);
  auto describe = [&] {
    auto r = run_cli({"tasks", "describe", std::to_string(*id), "-o", "json", "--db", dsn});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  };
  // While it runs: a reported value of attempt 1.
  json seen;
  REQUIRE(eventually([&] {
    seen = describe();
    return seen["state"] == "RUNNING" && seen["progress"].is_object();
  }, 10'000));
  INFO(seen.dump());
  CHECK(seen["progress"]["attempt"] == 1);
  CHECK(seen["progress"]["value"]["remaining_ms"].get<int64_t>() > 0);
  CHECK(seen["progress"]["at"].is_string());

  auto out = c.await(*id, std::chrono::seconds(30));
  REQUIRE(out);
  REQUIRE(out->state == task_state::succeeded);
  // After the end: the last report (written by the head's next progress
  // write, at most about a second after the report).
  REQUIRE(eventually([&] {
    seen = describe();
    return seen["progress"].is_object()
           && seen["progress"]["value"]["remaining_ms"].get<int64_t>() < 1000;
  }, 10'000));
  INFO(seen.dump());
  CHECK(seen["state"] == "SUCCEEDED");
  CHECK(seen["progress"]["attempt"] == 1);
  CHECK(seen["progress"]["value"]["remaining_ms"].get<int64_t>() >= 0);

  // The table of `tasks describe` prints it.
  auto table = run_cli({"tasks", "describe", std::to_string(*id), "--db", dsn});
  REQUIRE(table.exit_code == 0);
  CHECK(table.out.find("progress {\"remaining_ms\":"
                       + seen["progress"]["value"]["remaining_ms"].dump() + "}  (attempt 1, ")
        != std::string::npos);

  // The API answers the same value.
  auto api = h.client();
  auto r = api.Get(("/api/v1/tasks/" + std::to_string(*id)).c_str(), bearer(h.viewer));
  REQUIRE(r);
  REQUIRE(r->status == 200);
  CHECK(body_of(r)["progress"] == seen["progress"]);

  // No journal event per report: the value lives on the task's row only.
  pqxx::connection db{dsn};
  pqxx::read_transaction tx{db};
  CHECK(tx.exec1("SELECT count(*) FROM task_events WHERE task_id = " + std::to_string(*id)
                 + " AND kind = 'progress'")[0].as<int64_t>() == 0);
}

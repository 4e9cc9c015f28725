// The CLI side of the journal work of issue 10: no DSN form leaks its
// password into CLI output, and `status` counts ready tasks apart from
// scheduled ones.

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/runtime/time.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

TEST_CASE("no DSN form prints its password in CLI errors", "[cli]") {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  for (const std::string dsn :
       {"postgresql://app:hunter2@127.0.0.1:1/taskrt",
        "postgresql://app@127.0.0.1:1/taskrt?password=hunter2",
        "postgresql://127.0.0.1:1/taskrt?sslmode=disable&password=hunter2&connect_timeout=2",
        "host=127.0.0.1 port=1 dbname=taskrt password=hunter2",
        "host=127.0.0.1 port=1 dbname=taskrt password='hunter2'"}) {
    for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"tasks", "list", "--db", dsn},
           {"status", "--db", dsn, "--address", "127.0.0.1:1"},
           {"status", "-o", "json", "--db", dsn, "--address", "127.0.0.1:1"}}) {
      auto r = run_cli(cmd);
      INFO(dsn << " -> " << r.out << r.err);
      CHECK(r.exit_code == 1);
      CHECK((r.out + r.err).find("hunter2") == std::string::npos);
    }
  }
}

TEST_CASE("status counts ready tasks apart from scheduled ones", "[pg][cli]") {
  const auto dsn = fresh_schema_dsn("cli_queue_age");
  const auto now_us = to_micros(now());
  {
    journal_store s{dsn};
    s.migrate();
    journal_store::batch b;
    for (int i = 0; i < 3; ++i) {
      journal_store::submit_item it;
      it.spec.name = "t";
      it.now_us = now_us - 120'000'000; // created two minutes ago
      b.submits.push_back(it);
    }
    b.submits[1].spec.run_at_us = now_us + 3'600'000'000LL; // in an hour
    b.submits[2].spec.run_at_us = now_us - 30'000'000;      // ready 30 s ago
    s.commit(b);
  }
  auto r = run_cli({"status", "-o", "json", "--db", dsn, "--address", "127.0.0.1:1"});
  auto j = json::parse(r.out);
  CHECK(j["queued_ready"] == 2);
  CHECK(j["queued_scheduled"] == 1);
  CHECK(j["oldest_queued_age_s"].get<double>() >= 120);
  CHECK(j["next_scheduled_in_s"].get<double>() > 3000);
  auto t = run_cli({"status", "--db", dsn, "--address", "127.0.0.1:1"});
  CHECK(t.out.find("2 ready, oldest waiting 2m") != std::string::npos);
  CHECK(t.out.find("1 scheduled for later (next in") != std::string::npos);
}

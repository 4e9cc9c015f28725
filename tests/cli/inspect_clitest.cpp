// The taskrt binary against a seeded journal in a real Postgres: the JSON
// of every read command compared with expected values (golden-style; only
// timestamps that depend on the wall clock are left out).

#include "tests/cli/seed.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// A seeded schema shared by the read-only tests (seeded once per process).
struct fixture {
  std::string dsn;
  seeded ids;
};

const fixture& seeded_db() {
  static const fixture f = [] {
    fixture x;
    x.dsn = fresh_schema_dsn("cli_read");
    journal_store s{x.dsn};
    s.migrate();
    x.ids = seed_journal(s);
    return x;
  }();
  return f;
}

/// Runs taskrt ARGS --db DSN and parses stdout as JSON (REQUIREs exit 0).
json run_json(std::vector<std::string> args, const std::string& dsn = seeded_db().dsn) {
  args.push_back("--db");
  args.push_back(dsn);
  auto r = run_cli(args);
  INFO("stderr: " << r.err << "\nstdout: " << r.out);
  REQUIRE(r.exit_code == 0);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE(!j.is_discarded());
  return j;
}

std::vector<int64_t> ids_of(const json& rows) {
  std::vector<int64_t> out;
  for (const auto& r : rows)
    out.push_back(r["id"].get<int64_t>());
  return out;
}

std::vector<std::string> field(const json& rows, const std::string& f) {
  std::vector<std::string> out;
  for (const auto& r : rows)
    out.push_back(r[f].is_null() ? "null" : r[f].is_string() ? r[f].get<std::string>() : r[f].dump());
  return out;
}

} // namespace

TEST_CASE("tasks list -o json: the summary fields of every task", "[pg][cli]") {
  const auto& db = seeded_db();
  auto rows = run_json({"tasks", "list", "-o", "json"});
  REQUIRE(rows.size() == 4);
  CHECK(ids_of(rows) == std::vector<int64_t>{db.ids.mail, db.ids.charge2, db.ids.charge1, db.ids.flaky});
  const json flaky = rows[3];
  const json expected = {{"id", db.ids.flaky},
                         {"name", "flaky"},
                         {"state", "SUCCEEDED"},
                         {"attempt", 3},
                         {"queue", "default"},
                         {"priority", 0},
                         {"lock", nullptr},
                         {"node", "n1"},
                         {"run_at", "2023-11-14T22:13:20Z"},
                         {"created_at", "2023-11-14T22:13:20Z"},
                         {"updated_at", "2023-11-14T22:13:26Z"},
                         {"error_kind", nullptr}};
  CHECK(flaky == expected);
  CHECK(rows[2]["state"] == "FAILED");
  CHECK(rows[2]["error_kind"] == "payments.PermanentError");
  CHECK(rows[0]["lock"] == "inbox-7");
  CHECK(rows[0]["priority"] == 5);
  CHECK(rows[0]["state"] == "QUEUED");
}

TEST_CASE("tasks list filters, sorts and cuts", "[pg][cli]") {
  const auto& db = seeded_db();
  const std::vector<int64_t> charges{db.ids.charge2, db.ids.charge1};
  CHECK(ids_of(run_json({"tasks", "list", "--state", "FAILED", "-o", "json"})) == charges);
  CHECK(ids_of(run_json({"tasks", "list", "--state", "failed,queued", "-o", "json"})).size() == 3);
  CHECK(ids_of(run_json({"tasks", "list", "--state", "FAILED", "--state", "SUCCEEDED", "-o", "json"})).size() == 3);
  CHECK(ids_of(run_json({"tasks", "list", "--name", "charge", "-o", "json"})) == charges);
  CHECK(ids_of(run_json({"tasks", "list", "--queue", "payments", "-o", "json"})) == charges);
  CHECK(ids_of(run_json({"tasks", "list", "--lock", "inbox-7", "-o", "json"}))
        == std::vector<int64_t>{db.ids.mail});
  CHECK(ids_of(run_json({"tasks", "list", "--error-kind", "payments.PermanentError", "-o", "json"})) == charges);
  CHECK(ids_of(run_json({"tasks", "list", "--node", "n1", "-o", "json"})).size() == 3);
  CHECK(run_json({"tasks", "list", "--since", "2023-11-14T22:13:21Z", "-o", "json"}).empty());
  CHECK(run_json({"tasks", "list", "--until", "2023-11-14T22:13:21Z", "-o", "json"}).size() == 4);
  CHECK(run_json({"tasks", "list", "--since", "1h", "-o", "json"}).empty());
  CHECK(run_json({"tasks", "list", "--until", "1h", "-o", "json"}).size() == 4);
  CHECK(ids_of(run_json({"tasks", "list", "--sort", "id", "-o", "json"})).front() == db.ids.flaky);
  CHECK(ids_of(run_json({"tasks", "list", "--sort", "-priority", "-o", "json"})).front() == db.ids.mail);
  CHECK(field(run_json({"tasks", "list", "--sort", "name", "-o", "json"}), "name")
        == std::vector<std::string>{"charge", "charge", "flaky", "mail"});
  CHECK(ids_of(run_json({"tasks", "list", "--sort", "-updated", "-o", "json"})).front() == db.ids.flaky);

  auto r = run_cli({"tasks", "list", "--limit", "2", "-o", "json", "--db", db.dsn});
  CHECK(r.exit_code == 0);
  CHECK(json::parse(r.out).size() == 2);
  CHECK(r.err.find("more match") != std::string::npos);
  r = run_cli({"tasks", "list", "--limit", "4", "-o", "json", "--db", db.dsn});
  CHECK(r.err.empty());
}

TEST_CASE("tasks list table, wide and yaml", "[pg][cli]") {
  const auto& db = seeded_db();
  auto t = run_cli({"tasks", "list", "--db", db.dsn});
  REQUIRE(t.exit_code == 0);
  CHECK(t.out.rfind("ID  ", 0) == 0);
  CHECK(t.out.find("LOCK") == std::string::npos);
  CHECK(t.out.find("payments.PermanentError") != std::string::npos);
  CHECK(t.out.find("\033[") == std::string::npos); // no colour off a TTY
  auto w = run_cli({"tasks", "list", "-o", "wide", "--db", db.dsn});
  REQUIRE(w.exit_code == 0);
  CHECK(w.out.find("LOCK") != std::string::npos);
  CHECK(w.out.find("inbox-7") != std::string::npos);
  auto y = run_cli({"tasks", "list", "--name", "mail", "-o", "yaml", "--db", db.dsn});
  REQUIRE(y.exit_code == 0);
  CHECK(y.out == "- attempt: 0\n  created_at: \"2023-11-14T22:13:20Z\"\n  error_kind: null\n"
                 "  id: " + std::to_string(db.ids.mail) + "\n  lock: inbox-7\n  name: mail\n"
                 "  node: null\n  priority: 5\n  queue: mail\n"
                 "  run_at: \"2023-11-14T22:13:20Z\"\n  state: QUEUED\n"
                 "  updated_at: \"2023-11-14T22:13:20Z\"\n");
}

TEST_CASE("tasks describe: LOST once, failed once, then succeeded", "[pg][cli]") {
  const auto& db = seeded_db();
  auto j = run_json({"tasks", "describe", std::to_string(db.ids.flaky), "-o", "json"});
  CHECK(j["state"] == "SUCCEEDED");
  CHECK(j["result"] == json{{"ok", true}});
  CHECK(j["args"] == json{{"n", 1}});
  CHECK(j["policy"] == json{{"retries", 3}});
  REQUIRE(j["attempts"].size() == 3);
  const auto& a = j["attempts"];
  CHECK(field(a, "outcome") == std::vector<std::string>{"LOST", "FAILED", "SUCCEEDED"});
  CHECK(field(a, "node") == std::vector<std::string>{"n1", "n2", "n1"});
  CHECK(field(a, "signal") == std::vector<std::string>{"SIGSEGV", "null", "null"});
  CHECK(field(a, "error_kind")
        == std::vector<std::string>{"taskrt.WorkerLost", "std::runtime_error", "null"});
  CHECK(a[0]["started"] == "2023-11-14T22:13:21Z");
  CHECK(a[0]["ended"] == "2023-11-14T22:13:22Z");
  CHECK(a[0]["worker_pid"] == 4000);
  CHECK(a[0]["retry_decision"]["decision"] == "retry");
  CHECK(a[1]["message"] == "boom");
  CHECK(a[2]["retry_decision"].is_null());
  CHECK(j["events"].size() == 11);
  CHECK(j["checkpoints"].empty());

  auto y = run_cli({"tasks", "describe", std::to_string(db.ids.flaky), "-o", "yaml", "--db", db.dsn});
  CHECK(y.exit_code == 0);
  CHECK(y.out.find("attempts:\n  - attempt: 1\n") != std::string::npos);
  auto t = run_cli({"tasks", "describe", std::to_string(db.ids.flaky), "--db", db.dsn});
  CHECK(t.exit_code == 0);
  CHECK(t.out.find("SIGSEGV") != std::string::npos);

  auto missing = run_cli({"tasks", "describe", "999999", "--db", db.dsn});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err == "taskrt: no task with id 999999\n");
}

TEST_CASE("tasks events: the raw journal", "[pg][cli]") {
  const auto& db = seeded_db();
  auto evs = run_json({"tasks", "events", std::to_string(db.ids.flaky), "-o", "json"});
  CHECK(field(evs, "kind")
        == std::vector<std::string>{"submit", "start", "lose", "retry_decision", "retry", "start",
                                    "fail", "retry_decision", "retry", "start", "succeed"});
  CHECK(evs[2]["detail"]["signal"] == "SIGSEGV");
  CHECK(evs[2]["from"] == "RUNNING");
  CHECK(evs[2]["to"] == "LOST");
  CHECK(evs[2]["attempt"] == 1);
  CHECK(evs[2]["task_id"] == db.ids.flaky);
  CHECK(evs[2]["at"] == "2023-11-14T22:13:22Z");
  CHECK(evs[3]["to"].is_null());
  auto ids = ids_of(evs);
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  auto t = run_cli({"tasks", "events", std::to_string(db.ids.flaky), "--db", db.dsn});
  CHECK(t.exit_code == 0);
  CHECK(t.out.rfind("AT", 0) == 0);
  auto missing = run_cli({"tasks", "events", "999999", "--db", db.dsn});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err == "taskrt: no task with id 999999\n");
}

TEST_CASE("tasks watch: prints the journal and stops when final", "[pg][cli]") {
  const auto& db = seeded_db();
  auto ok = run_cli({"tasks", "watch", std::to_string(db.ids.flaky), "--db", db.dsn});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("lose  RUNNING -> LOST") != std::string::npos);
  CHECK(ok.out.find("is SUCCEEDED\n") != std::string::npos);
  auto failed = run_cli({"tasks", "watch", std::to_string(db.ids.charge1), "-o", "json", "--db", db.dsn});
  CHECK(failed.exit_code == 1); // FAILED, given up
  size_t lines = 0;
  for (size_t p = 0; (p = failed.out.find('\n', p)) != std::string::npos; ++p)
    ++lines;
  CHECK(lines == 4); // submit, start, fail, retry_decision: one JSON object each
  CHECK(json::parse(failed.out.substr(0, failed.out.find('\n')))["kind"] == "submit");
  auto queued = run_cli({"tasks", "watch", std::to_string(db.ids.mail), "--timeout", "0.5",
                         "--interval", "0.1", "--db", db.dsn});
  CHECK(queued.exit_code == 1);
  CHECK(queued.err.find("timed out") != std::string::npos);
}

TEST_CASE("summary: by name and state, failures by kind, LOST by cause", "[pg][cli]") {
  auto s = run_json({"summary", "-o", "json"});
  CHECK(s["total"] == 4);
  CHECK(s["since"].is_null());
  CHECK(s["states"] == json{{"QUEUED", 1}, {"RUNNING", 0}, {"SUCCEEDED", 1},
                            {"FAILED", 2}, {"CANCELLED", 0}, {"LOST", 0}});
  REQUIRE(s["by_name"].size() == 3);
  CHECK(s["by_name"][0]["name"] == "charge");
  CHECK(s["by_name"][0]["states"]["FAILED"] == 2);
  CHECK(s["by_name"][0]["total"] == 2);
  CHECK(s["failures_by_kind"]
        == json::parse(R"([{"error_kind":"payments.PermanentError","attempts":2,"tasks":2},
                           {"error_kind":"std::runtime_error","attempts":1,"tasks":1}])"));
  CHECK(s["lost_by_cause"]
        == json::parse(R"([{"reason":"worker process died","signal":"SIGSEGV","attempts":1,"tasks":1}])"));
  auto named = run_json({"summary", "--name", "mail", "-o", "json"});
  CHECK(named["total"] == 1);
  CHECK(named["failures_by_kind"].empty());
  auto flaky = run_json({"summary", "--name", "flaky", "-o", "json"});
  CHECK(flaky["failures_by_kind"]
        == json::parse(R"([{"error_kind":"std::runtime_error","attempts":1,"tasks":1}])"));
  CHECK(flaky["lost_by_cause"].size() == 1);
  CHECK(run_json({"summary", "--since", "1h", "-o", "json"})["lost_by_cause"].empty());
  auto t = run_cli({"summary", "--db", seeded_db().dsn});
  CHECK(t.exit_code == 0);
  CHECK(t.out.find("SIGSEGV") != std::string::npos);
}

TEST_CASE("nodes: the nodes table", "[pg][cli]") {
  auto dsn = fresh_schema_dsn("cli_nodes");
  journal_store s{dsn};
  s.migrate();
  CHECK(run_json({"nodes", "-o", "json"}, dsn) == json::array());
  node_row n;
  n.id = "gpu-1";
  n.address = "10.0.0.7:7401";
  n.slots = 8;
  n.running = 3;
  n.state = "ALIVE";
  n.last_heartbeat_us = seed_t0;
  n.started_us = seed_t0;
  s.upsert_node(n);
  auto rows = run_json({"nodes", "-o", "json"}, dsn);
  CHECK(rows == json::parse(R"([{"id":"gpu-1","state":"ALIVE","slots":8,"running":3,
      "last_heartbeat":"2023-11-14T22:13:20Z","address":"10.0.0.7:7401",
      "started_at":"2023-11-14T22:13:20Z","version":null}])")); // no live head to ask
  CHECK(run_json({"nodes", "--state", "DEAD", "-o", "json"}, dsn).empty());
}

TEST_CASE("status with the head down still reports Postgres", "[pg][cli]") {
  auto r = run_cli({"status", "-o", "json", "--db", seeded_db().dsn, "--address", "127.0.0.1:1"});
  CHECK(r.exit_code == 1);
  auto j = json::parse(r.out);
  CHECK(j["head"]["reachable"] == false);
  CHECK(j["head"]["address"] == "127.0.0.1:1");
  CHECK(j["postgres"]["reachable"] == true);
  CHECK(j["postgres"]["ping_ms"].get<double>() >= 0);
  CHECK(j["tasks"]["QUEUED"] == 1);
  CHECK(j["tasks_total"] == 4);
  CHECK(j["succeeded_last_minute"] == 0);
  CHECK(j["lost_last_hour"] == 0);
  CHECK(j["oldest_queued_age_s"].get<double>() > 86400);
  auto t = run_cli({"status", "--db", seeded_db().dsn, "--address", "127.0.0.1:1"});
  CHECK(t.out.find("DOWN") != std::string::npos);
  CHECK(t.out.find("Postgres  reachable") != std::string::npos);
}

TEST_CASE("tasks purge: dry run, then delete old final tasks", "[pg][cli]") {
  auto dsn = fresh_schema_dsn("cli_purge");
  {
    journal_store s{dsn};
    s.migrate();
    seed_journal(s);
  }
  auto dry = run_json({"tasks", "purge", "--state", "SUCCEEDED", "--older-than", "7d", "--dry-run",
                       "-o", "json"}, dsn);
  CHECK(dry["matched"] == 1);
  CHECK(dry["purged"] == 0);
  CHECK(dry["dry_run"] == true);
  CHECK(run_json({"tasks", "list", "-o", "json"}, dsn).size() == 4);
  // 100 years (the most an age may be): older than any task.
  auto recent = run_json({"tasks", "purge", "--older-than", "36500d", "--yes", "-o", "json"}, dsn);
  CHECK(recent["purged"] == 0);
  auto done = run_json({"tasks", "purge", "--state", "SUCCEEDED", "--older-than", "7d", "--yes",
                        "-o", "json"}, dsn);
  CHECK(done["purged"] == 1);
  CHECK(run_json({"tasks", "list", "-o", "json"}, dsn).size() == 3);
  auto rest = run_json({"tasks", "purge", "--older-than", "0s", "--yes", "-o", "json"}, dsn);
  CHECK(rest["purged"] == 2); // the two FAILED; the QUEUED one stays
  CHECK(field(run_json({"tasks", "list", "-o", "json"}, dsn), "state")
        == std::vector<std::string>{"QUEUED"});
}

TEST_CASE("tasks retry/cancel by filter: selection needs a head", "[pg][cli]") {
  const auto& db = seeded_db();
  // Nothing selectable: retry applies to FAILED/LOST/CANCELLED only.
  auto none = run_cli({"tasks", "retry", "--state", "QUEUED", "--db", db.dsn, "-o", "json",
                       "--address", "127.0.0.1:1"});
  CHECK(none.exit_code == 0);
  CHECK(json::parse(none.out)["requested"] == 0);
  auto down = run_cli({"tasks", "retry", "--state", "FAILED", "--yes", "--db", db.dsn,
                       "--address", "127.0.0.1:1"});
  CHECK(down.exit_code == 1);
  CHECK(std::count(down.err.begin(), down.err.end(), '\n') == 1);
}

// Hidden ([.]): seeds the journal into $TASKRT_SEED_DSN (migrated, kept) to try
// the CLI by hand: TASKRT_SEED_DSN=... cli_tests '[seed]'
TEST_CASE("seed a journal for manual use", "[.][seed]") {
  const char* dsn = std::getenv("TASKRT_SEED_DSN");
  if (!dsn || !*dsn)
    return; // nothing to seed
  journal_store s{dsn};
  s.migrate();
  auto ids = seed_journal(s);
  CHECK(ids.flaky > 0);
}

TEST_CASE("tokens and limits on a journal no head has migrated name the missing tables", "[pg][cli]") {
  // The store's error reaches the CLI as a caf::error of the "store"
  // category (persistence/store_result.hpp) with its SQLSTATE (42P01).
  const auto dsn = fresh_schema_dsn("cli_unmigrated");
  auto tokens = run_cli({"tokens", "list", "--db", dsn});
  CHECK(tokens.exit_code == 1);
  CHECK(tokens.err.find("tokens list: the journal has no API tables yet") != std::string::npos);
  auto limits = run_cli({"limits", "list", "--db", dsn});
  CHECK(limits.exit_code == 1);
  CHECK(limits.err.find("the journal has no limits table yet") != std::string::npos);
}

// Enums end to end in Postgres (schema migration 11): state and kind columns
// refuse text that is not an enum's name, and a row this taskrt cannot parse
// (a journal written by a newer version, or by hand) is an error when read,
// never a silent QUEUED.
#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/runtime/event_kind.hpp"
#include "taskrt/runtime/time.hpp"
#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;
using namespace taskrt::test;

namespace {

/// Runs `sql`; the SQLSTATE it failed with, or "" when it succeeded.
std::string sqlstate_of(const std::string& dsn, const std::string& sql) {
  pqxx::connection c{dsn};
  try {
    pqxx::work tx{c};
    tx.exec(sql);
    tx.commit();
    return {};
  } catch (const pqxx::sql_error& e) {
    return e.sqlstate();
  }
}

/// Checks that `read()` fails with a data-class store_error whose message
/// names `unknown` (the text it could not parse), never a default.
template <class F>
void check_refused(F read, const std::string& unknown) {
  INFO("reading " << unknown);
  try {
    read();
    FAIL("an unknown value was read as a known one");
  } catch (const store_error& e) {
    CHECK(e.error_class() == store_error_class::data);
    CHECK(std::string{e.what()}.find(unknown) != std::string::npos);
  }
}

} // namespace

TEST_CASE("state and kind columns refuse unknown text", "[pg][enums]") {
  const auto dsn = fresh_schema_dsn("enums_check");
  journal_store s{dsn};
  s.migrate();
  const auto id = submit_all(s, {"t"})[0];
  const auto sid = std::to_string(id);
  CHECK(sqlstate_of(dsn, "UPDATE tasks SET state = 'BOGUS' WHERE id = " + sid) == "23514");
  CHECK(sqlstate_of(dsn, "UPDATE tasks SET state = 'queued' WHERE id = " + sid) == "23514");
  CHECK(sqlstate_of(dsn, "INSERT INTO task_events (task_id, attempt, kind, at, detail) VALUES ("
                           + sid + ", 0, 'bogus', now(), '{}')")
        == "23514");
  CHECK(sqlstate_of(dsn, "INSERT INTO task_events (task_id, attempt, kind, from_state, to_state,"
                           " at, detail) VALUES (" + sid + ", 0, 'start', 'QUEUED', 'BOGUS',"
                           " now(), '{}')")
        == "23514");
  CHECK(sqlstate_of(dsn, "INSERT INTO nodes (id, address, slots, running, state, last_heartbeat,"
                           " started) VALUES ('n', 'h:1', 1, 0, 'ZOMBIE', now(), now())")
        == "23514");
  // The known names still go in, in every partition (a new one included).
  s.ensure_partitions(to_micros(now()), 1);
  CHECK(sqlstate_of(dsn, "INSERT INTO task_events (task_id, attempt, kind, from_state, to_state,"
                           " at, detail) VALUES (" + sid + ", 0, 'retry', 'FAILED', 'QUEUED',"
                           " now(), '{}')")
        == "");
  CHECK(s.get_task(id)->state == task_state::queued);
}

TEST_CASE("a state this taskrt does not know is an error when read, not QUEUED", "[pg][enums]") {
  const auto dsn = fresh_schema_dsn("enums_parse");
  journal_store s{dsn};
  s.migrate();
  const auto id = submit_all(s, {"t"})[0];
  // As a newer taskrt with a wider constraint would have written it.
  REQUIRE(sqlstate_of(dsn, "ALTER TABLE tasks DROP CONSTRAINT tasks_state_check;"
                           " UPDATE tasks SET state = 'PAUSED' WHERE id = " + std::to_string(id))
          == "");
  check_refused([&] { s.get_task(id); }, "PAUSED");
  CHECK_THROWS_AS(s.count_by_state(), store_error);
  CHECK_THROWS_AS(s.count_by_name_state({}), store_error);
}

TEST_CASE("task_events.kind takes exactly the event kinds this taskrt knows", "[pg][enums]") {
  const auto dsn = fresh_schema_dsn("enums_kinds");
  journal_store s{dsn};
  s.migrate();
  const auto sid = std::to_string(submit_all(s, {"t"})[0]);
  // Every kind of all_event_kinds() goes in (notes carry no states)...
  for (const auto& k : all_event_kinds()) {
    INFO(to_string(k));
    CHECK(sqlstate_of(dsn, "INSERT INTO task_events (task_id, attempt, kind, at, detail) VALUES ("
                             + sid + ", 0, '" + to_string(k) + "', now(), '{}')")
          == "");
  }
  // ...and every name the constraint lists parses.
  pqxx::connection c{dsn};
  pqxx::read_transaction tx{c};
  const auto def = tx.exec1("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                            " WHERE conname = 'task_events_kind_check'"
                            " AND conrelid = 'task_events'::regclass")[0]
                     .as<std::string>();
  size_t listed = 0;
  for (size_t at = def.find('\''); at != std::string::npos; at = def.find('\'', at)) {
    const auto end = def.find('\'', at + 1);
    REQUIRE(end != std::string::npos);
    const auto name = def.substr(at + 1, end - at - 1);
    INFO(name);
    CHECK(is_event_kind(name));
    ++listed;
    at = end + 1;
  }
  CHECK(listed == all_event_kinds().size());
}

TEST_CASE("an event kind this taskrt does not know is an error when read, not a default",
          "[pg][enums]") {
  const auto dsn = fresh_schema_dsn("enums_kind_parse");
  journal_store s{dsn};
  s.migrate();
  const auto id = submit_all(s, {"t"})[0];
  // As a newer taskrt with a wider constraint would have written it.
  REQUIRE(sqlstate_of(dsn, "ALTER TABLE task_events DROP CONSTRAINT task_events_kind_check;"
                           " INSERT INTO task_events (task_id, attempt, kind, at, detail) VALUES ("
                           + std::to_string(id) + ", 0, 'paused', now(), '{}')")
          == "");
  check_refused([&] { s.events(id); }, "'paused'");
  CHECK_THROWS_AS(s.events_after(id, 0), store_error);
  CHECK_THROWS_AS(s.event_counts_since(0), store_error);
}

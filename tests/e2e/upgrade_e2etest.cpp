// Upgrades of the journal in place: a head started on a journal that an
// older taskrt left at each earlier migration level finds every task where it
// should be; a head refuses a journal that a newer taskrt migrated.

#include "taskrt/persistence/detail/schema.hpp"
#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/runtime/version.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <memory>

using namespace taskrt;
using namespace taskrt::test;

namespace {

/// The tasks one older journal holds, by id.
struct seeded {
  std::string dsn;
  int level = 0;
  int64_t queued[2] = {0, 0};
  int64_t running = 0;
  int64_t scheduled = 0;
  int64_t scheduled_run_at_us = 0;
};

/// Rows as a taskrt at schema `level` wrote them, with the columns of
/// migration 1 only (every later one adds columns with defaults).
int64_t insert_task(pqxx::work& tx, const std::string& state, const std::string& args,
                    const std::string& run_at, int attempt, const std::string& node) {
  const auto id = tx.exec1("INSERT INTO tasks (name, args, queue, state, attempt, lease_epoch,"
                           " policy, run_at, node, origin, created_at, updated_at) VALUES"
                           " ('echo', " + tx.quote(args) + "::jsonb, 'default', "
                           + tx.quote(state) + ", " + std::to_string(attempt) + ", "
                           + std::to_string(attempt) + ","
                           " '{\"max_attempts\":3,\"backoff\":0}'::jsonb, " + run_at + ", "
                           + (node.empty() ? "NULL" : tx.quote(node))
                           + ", 'upgrade-test', now() - interval '1 hour', now()) RETURNING id")[0]
                    .as<int64_t>();
  tx.exec0("INSERT INTO task_events (task_id, attempt, kind, from_state, to_state, at, detail)"
           " VALUES (" + std::to_string(id) + ", 0, 'submit', NULL, 'QUEUED',"
           " now() - interval '1 hour', '{}')");
  if (state == "RUNNING")
    tx.exec0("INSERT INTO task_events (task_id, attempt, kind, from_state, to_state, at, node,"
             " detail) VALUES (" + std::to_string(id) + ", 1, 'start', 'QUEUED', 'RUNNING',"
             " now() - interval '1 minute', " + tx.quote(node) + ", '{}')");
  return id;
}

seeded seed_journal(int level) {
  seeded s;
  s.level = level;
  s.dsn = fresh_schema_dsn("upgrade" + std::to_string(level));
  pqxx::connection c{s.dsn};
  detail::apply_migrations(c, level);
  REQUIRE(detail::current_schema_version(c) == level);
  pqxx::work tx{c};
  const auto args = [&](const char* what) {
    return nlohmann::json{{"level", level}, {"seeded", what}}.dump();
  };
  s.queued[0] = insert_task(tx, "QUEUED", args("queued-0"), "now() - interval '1 minute'", 0, "");
  s.queued[1] = insert_task(tx, "QUEUED", args("queued-1"), "now() - interval '1 minute'", 0, "");
  // RUNNING on a node that never comes back: orphaned.
  s.running = insert_task(tx, "RUNNING", args("running"), "now() - interval '1 minute'", 1,
                          "node-gone-before-upgrade");
  s.scheduled = insert_task(tx, "QUEUED", args("scheduled"), "now() + interval '2 hours'", 0, "");
  s.scheduled_run_at_us = tx.exec1("SELECT (extract(epoch FROM run_at) * 1000000)::bigint"
                                   " FROM tasks WHERE id = " + std::to_string(s.scheduled))[0]
                            .as<int64_t>();
  tx.commit();
  return s;
}

} // namespace

TEST_CASE("a head upgrades a journal in place from each earlier schema level - QUEUED tasks run, "
          "an orphaned RUNNING one ends LOST and is retried, scheduled ones keep their run_at",
          "[e2e][upgrade]") {
  const int latest = detail::latest_schema_version();
  REQUIRE(latest >= 2);
  std::vector<seeded> journals;
  for (int level : detail::schema_versions())
    if (level < latest)
      journals.push_back(seed_journal(level));
  // One head per journal, all at once: each waits the adoption grace (15 s)
  // before the orphaned attempt ends LOST.
  std::vector<std::unique_ptr<head_process>> heads;
  for (const auto& j : journals)
    heads.push_back(std::make_unique<head_process>(j.dsn, std::vector<std::string>{"--workers", "2"}));
  for (size_t i = 0; i < journals.size(); ++i) {
    const auto& j = journals[i];
    INFO("journal migrated up to level " << j.level << "\n" << heads[i]->log());
    journal_store s{j.dsn};
    CHECK(s.schema_version() == latest);
    auto final_state = [&](int64_t id) {
      auto t = s.get_task(id);
      return t && (t->state == task_state::succeeded || t->state == task_state::failed);
    };
    REQUIRE(eventually([&] {
      return final_state(j.queued[0]) && final_state(j.queued[1]) && final_state(j.running);
    }, 60'000));
    for (auto id : j.queued) {
      auto t = s.get_task(id);
      CHECK(t->state == task_state::succeeded);
      CHECK(t->attempt == 1);
      // What ran: echo hands back the arguments the old journal held.
      const auto result = nlohmann::json::parse(t->result);
      CHECK(result.dump().find("\"level\":" + std::to_string(j.level)) != std::string::npos);
      CHECK(result_nodes(j.dsn, id).size() == 1);
    }
    auto r = s.get_task(j.running);
    CHECK(r->state == task_state::succeeded);
    CHECK(r->attempt == 2);
    bool lost = false;
    for (const auto& e : s.events(j.running))
      lost = lost || (e.kind == transition_kind::lose && e.attempt == 1);
    CHECK(lost);
    CHECK(nlohmann::json::parse(r->result).dump().find("running") != std::string::npos);
    auto sch = s.get_task(j.scheduled);
    CHECK(sch->state == task_state::queued);
    CHECK(sch->attempt == 0);
    CHECK(sch->run_at_us == j.scheduled_run_at_us);
    // The upgraded journal records who migrated it.
    pqxx::connection c{j.dsn};
    pqxx::read_transaction tx{c};
    CHECK(tx.exec1("SELECT taskrt_version FROM schema_version WHERE version = "
                   + std::to_string(latest))[0].as<std::string>() == version());
  }
}

TEST_CASE("a head refuses a journal that a newer taskrt migrated - the message names both "
          "versions - the journal is left as it was", "[e2e][upgrade]") {
  const auto dsn = fresh_schema_dsn("newer_journal");
  journal_store s{dsn};
  s.migrate();
  const int latest = detail::latest_schema_version();
  {
    pqxx::connection c{dsn};
    pqxx::work tx{c};
    tx.exec0("INSERT INTO schema_version (version, taskrt_version) VALUES ("
             + std::to_string(latest + 1) + ", '99.1.0')");
    tx.commit();
  }
  std::string why;
  try {
    head_process head{dsn, {"--workers", "0"}};
  } catch (const std::runtime_error& e) {
    why = e.what();
  }
  INFO(why);
  CHECK(why.find("the head exited at start") != std::string::npos);
  CHECK(why.find("schema is at version " + std::to_string(latest + 1)) != std::string::npos);
  CHECK(why.find("migrated by taskrt 99.1.0") != std::string::npos);
  CHECK(why.find(std::string{"this taskrt "} + version()) != std::string::npos);
  CHECK(why.find("up to " + std::to_string(latest)) != std::string::npos);
  CHECK(s.schema_version() == latest + 1);
  // A journal from before versions were recorded names no release.
  {
    pqxx::connection c{dsn};
    pqxx::work tx{c};
    tx.exec0("UPDATE schema_version SET taskrt_version = NULL");
    tx.commit();
  }
  CHECK_THROWS_WITH(s.migrate(), Catch::Contains("migrated by a newer taskrt"));
}

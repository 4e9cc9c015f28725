// Issue 12 against a real Postgres: task_events partitioned by day
// (migration 5 converting a journal with rows, partitions created ahead, the
// DEFAULT partition), retention (whole partitions dropped, only final tasks
// deleted, nothing of a live task lost), the batched purge, HOT updates on
// tasks, and the index-only reads of `taskrt status`.

#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/detail/schema.hpp"
#include "taskrt/runtime/time.hpp"
#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;

namespace {

constexpr int64_t day_us = 86'400'000'000;

std::string text_of(const std::string& dsn, const std::string& sql) {
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  return tx.exec1(sql)[0].as<std::string>();
}

/// The partition that holds the events of `task_id` (all in one).
std::set<std::string> partitions_of(const std::string& dsn, int64_t task_id) {
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  std::set<std::string> out;
  for (const auto& r : tx.exec("SELECT DISTINCT tableoid::regclass::text FROM task_events"
                               " WHERE task_id = " + std::to_string(task_id)))
    out.insert(r[0].as<std::string>());
  return out;
}

/// One task submitted at `at_us`, optionally started (and ended by `end`)
/// at the given times; returns its id.
int64_t task_at(journal_store& s, const std::string& name, int64_t at_us,
                int64_t start_us = 0, std::optional<transition_kind> end = {},
                int64_t end_us = 0, bool decided = true) {
  journal_store::batch b;
  b.submits.push_back(submit_of(name, at_us));
  const auto id = s.commit(b).submitted_ids.at(0);
  if (start_us) {
    journal_store::batch st;
    auto t = transition_of(id, transition_kind::start, task_state::queued, 0, 1, start_us);
    t.node = "n1";
    st.transitions.push_back(t);
    st.checkpoints.push_back({id, 1, "cp-" + name, start_us});
    REQUIRE(s.commit(st).applied == std::vector<bool>{true});
  }
  if (end) {
    journal_store::batch e;
    e.transitions.push_back(transition_of(id, *end, task_state::running, 1, 1, end_us));
    // The retry decision rides on the end of the attempt (FAILED/LOST).
    if (decided && (*end == transition_kind::fail || *end == transition_kind::lose))
      e.transitions.back().detail = {{"decision", {{"decision", "give_up"}}}};
    REQUIRE(s.commit(e).applied == std::vector<bool>{true});
  }
  return id;
}

std::vector<int64_t> event_ids(journal_store& s, int64_t id) {
  std::vector<int64_t> out;
  for (const auto& e : s.events(id))
    out.push_back(e.id);
  return out;
}

} // namespace

TEST_CASE("migration 5 turns a journal with rows into a partitioned one", "[pg][retention]") {
  const auto dsn = fresh_schema_dsn("mig5");
  {
    pqxx::connection c{dsn};
    detail::apply_migrations(c, 4);
  }
  journal_store s{dsn};
  REQUIRE(s.schema_version() == 4);
  const auto now_us = to_micros(now());
  // Version 4 rows: an old finished task, a RUNNING one, a QUEUED one.
  const auto done = task_at(s, "old", now_us - 40 * day_us, now_us - 40 * day_us,
                            transition_kind::succeed, now_us - 40 * day_us + 1);
  const auto running = task_at(s, "run", now_us - 2 * day_us, now_us - day_us);
  const auto queued = task_at(s, "q", now_us - 1000);
  const auto before_done = event_ids(s, done);
  const auto before_running = event_ids(s, running);
  const auto max_id = query_count(dsn, "SELECT max(id) FROM task_events");
  const auto events_before = query_count(dsn, "SELECT count(*) FROM task_events");

  s.migrate();
  CHECK(s.schema_version() == detail::latest_schema_version());
  CHECK(text_of(dsn, "SELECT relkind::text FROM pg_class WHERE oid = 'task_events'::regclass")
        == "p");
  // Every row kept, in the legacy partition, same ids and order.
  CHECK(query_count(dsn, "SELECT count(*) FROM task_events") == events_before);
  CHECK(query_count(dsn, "SELECT count(*) FROM task_events_legacy") == events_before);
  CHECK(event_ids(s, done) == before_done);
  CHECK(event_ids(s, running) == before_running);
  CHECK(partitions_of(dsn, done) == std::set<std::string>{"task_events_legacy"});
  // The legacy partition covers up to the end of today; daily ones follow.
  auto parts = s.partitions();
  REQUIRE(parts.size() >= 8);
  CHECK(parts.front().name == "task_events_legacy");
  CHECK(parts.front().from_us == std::numeric_limits<int64_t>::min());
  CHECK(parts.front().to_us > now_us);
  CHECK(parts[1].from_us == parts.front().to_us);
  CHECK(parts[1].name.rfind("task_events_p", 0) == 0);
  // The sequence goes on (it moved to the new table) and new rows land.
  journal_store::batch b;
  b.transitions.push_back(transition_of(queued, transition_kind::start, task_state::queued, 0, 1,
                                        now_us + 2 * day_us));
  REQUIRE(s.commit(b).applied == std::vector<bool>{true});
  const auto evs = s.events(queued);
  REQUIRE(evs.size() == 2);
  CHECK(evs.back().id > max_id);
  CHECK(partitions_of(dsn, queued).size() == 2); // legacy (submit) and a daily one
  CHECK(text_of(dsn, "SELECT pg_get_serial_sequence('task_events', 'id')")
          .find("task_events_id_seq") != std::string::npos);
  // Queries still answer: recovery, summary, listing.
  std::set<int64_t> unfinished;
  for (const auto& t : s.load_unfinished())
    unfinished.insert(t.id);
  CHECK(unfinished == std::set<int64_t>{running, queued});
  int64_t total = 0;
  for (const auto& c : s.count_by_name_state({}))
    total += c.tasks;
  CHECK(total == 3);
  // No index on tasks uses state (HOT updates); live tasks have theirs.
  CHECK(query_count(dsn, "SELECT count(*) FROM pg_indexes WHERE tablename = 'tasks'"
                      " AND schemaname = current_schema() AND indexdef LIKE '%state%'")
        == 0);
}

TEST_CASE("partitions are made ahead and an insert always lands", "[pg][retention]") {
  auto s = make_store("parts_ahead");
  const auto now_us = to_micros(now());
  const auto parts = s.partitions();
  REQUIRE(parts.size() == 8); // today and 7 days ahead
  const int64_t today = now_us / day_us * day_us;
  for (size_t i = 0; i < parts.size(); ++i) {
    CHECK(parts[i].from_us == today + static_cast<int64_t>(i) * day_us);
    CHECK(parts[i].to_us == parts[i].from_us + day_us);
  }
  CHECK(parts[0].name == "task_events_p" + to_rfc3339(from_micros(today)).substr(0, 4)
                           + to_rfc3339(from_micros(today)).substr(5, 2)
                           + to_rfc3339(from_micros(today)).substr(8, 2));
  // Idempotent.
  CHECK(s.ensure_partitions(now_us).empty());
}

TEST_CASE("events without a partition go to DEFAULT and move into a new one",
          "[pg][retention]") {
  const auto dsn = fresh_schema_dsn("parts_default");
  journal_store s{dsn};
  s.migrate();
  const auto now_us = to_micros(now());
  const auto ancient = task_at(s, "ancient", 1'700'000'000'000'000);  // 2023
  const auto future = task_at(s, "future", now_us + 30 * day_us);     // no partition yet
  const auto current = task_at(s, "current", now_us);
  CHECK(partitions_of(dsn, ancient) == std::set<std::string>{"task_events_default"});
  CHECK(partitions_of(dsn, future) == std::set<std::string>{"task_events_default"});
  CHECK(partitions_of(dsn, current).begin()->rfind("task_events_p", 0) == 0);
  // The day of `future` gets its partition: its event moves there.
  const auto made = s.ensure_partitions(now_us + 30 * day_us, 0);
  REQUIRE(made.size() == 1);
  CHECK(partitions_of(dsn, future) == std::set<std::string>{made[0]});
  CHECK(s.events(future).size() == 1);
  CHECK(query_count(dsn, "SELECT count(*) FROM task_events_default") == 1); // ancient
}

TEST_CASE("retention drops old partitions and only final tasks", "[pg][retention]") {
  const auto dsn = fresh_schema_dsn("retention");
  journal_store s{dsn};
  s.migrate();
  const auto now_us = to_micros(now());
  const auto old = now_us - 10 * day_us;
  // Partitions for days -10 .. -8.
  REQUIRE(s.ensure_partitions(old, 2).size() == 3);
  const auto gone1 = task_at(s, "gone", old, old + 1000, transition_kind::succeed, old + 2000);
  const auto gone2 = task_at(s, "gone", old, old + 1000, transition_kind::fail, old + 3000);
  const auto queued = task_at(s, "queued", old);                 // live, submitted long ago
  const auto running = task_at(s, "running", old, old + 5000);   // live
  // Final, but changed within the retention: stays with all its history.
  const auto recent = task_at(s, "recent", old, old + 1000, transition_kind::succeed,
                              now_us - day_us);
  const auto fresh = task_at(s, "fresh", now_us - 1000, now_us - 500, transition_kind::succeed,
                             now_us);
  // FAILED by an older version without its retry decision: recovery's to decide.
  const auto undecided = task_at(s, "undecided", old, old + 1000, transition_kind::fail,
                                 old + 2000, false);
  std::map<int64_t, std::vector<int64_t>> kept_events;
  for (auto id : {queued, running, recent, fresh, undecided})
    kept_events[id] = event_ids(s, id);
  const auto old_day = *partitions_of(dsn, queued).begin();
  CHECK(old_day == *partitions_of(dsn, gone1).begin());

  std::vector<std::string> lines;
  retention_options o;
  o.batch = 1;
  o.progress = [&](const std::string& l) { lines.push_back(l); };
  const auto r = s.apply_retention(now_us - 5 * day_us, o);
  CHECK(r.tasks_deleted == 2);
  CHECK(r.batches >= 3); // one task per batch, plus the one that found none
  REQUIRE(r.dropped.size() == 3);
  CHECK(r.dropped[0].name == old_day);
  CHECK(r.events_kept == static_cast<int64_t>(kept_events[queued].size()
                                             + kept_events[running].size()
                                             + kept_events[recent].size() - 1
                                             + kept_events[undecided].size()));
  CHECK(r.partitions_skipped == 0);
  CHECK(std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.find("dropped partition " + old_day) != std::string::npos;
  }));
  // Final and old: gone with checkpoints. Everything else: every event kept.
  CHECK_FALSE(s.get_task(gone1));
  CHECK_FALSE(s.get_task(gone2));
  CHECK(s.checkpoints(gone1).empty());
  for (const auto& [id, evs] : kept_events) {
    CHECK(s.get_task(id));
    CHECK(event_ids(s, id) == evs);
  }
  CHECK(s.latest_checkpoint(running) == std::optional<std::string>{"cp-running"});
  CHECK(query_count(dsn, "SELECT count(*) FROM pg_class WHERE relname = '" + old_day
                      + "' AND relnamespace = current_schema()::regnamespace") == 0);
  // Their old events wait in DEFAULT; the orphans of the deleted ones are gone.
  CHECK(partitions_of(dsn, queued) == std::set<std::string>{"task_events_default"});
  CHECK(query_count(dsn, "SELECT count(*) FROM task_events WHERE task_id IN ("
                      + std::to_string(gone1) + ", " + std::to_string(gone2) + ")") == 0);
  // Recovery still sees the live ones whole.
  std::set<int64_t> unfinished;
  for (const auto& t : s.load_unfinished())
    unfinished.insert(t.id);
  CHECK(unfinished == std::set<int64_t>{queued, running, undecided});

  // Once the long-lived ones end and age, the next pass takes them from
  // DEFAULT, batch by batch.
  journal_store::batch end;
  end.transitions.push_back(transition_of(running, transition_kind::succeed, task_state::running,
                                          1, 1, now_us - 7 * day_us));
  end.transitions.push_back(transition_of(queued, transition_kind::cancel, task_state::queued,
                                          0, 0, now_us - 7 * day_us));
  REQUIRE(s.commit(end).applied == std::vector<bool>{true, true});
  const auto r2 = s.apply_retention(now_us - 5 * day_us, o);
  CHECK(r2.tasks_deleted == 2);
  CHECK(r2.events_deleted == static_cast<int64_t>(kept_events[queued].size() + 1
                                                 + kept_events[running].size() + 1));
  CHECK(s.get_task(recent));
  CHECK(event_ids(s, recent) == kept_events[recent]);
  CHECK(event_ids(s, fresh) == kept_events[fresh]);
}

TEST_CASE("retention takes the legacy partition too, keeping live tasks", "[pg][retention]") {
  const auto dsn = fresh_schema_dsn("retention_legacy");
  {
    pqxx::connection c{dsn};
    detail::apply_migrations(c, 4);
  }
  journal_store s{dsn};
  const auto now_us = to_micros(now());
  const auto done = task_at(s, "done", now_us - 3000, now_us - 2000, transition_kind::succeed,
                            now_us - 1000);
  const auto live = task_at(s, "live", now_us - 3000);
  s.migrate();
  REQUIRE(s.partitions().front().name == "task_events_legacy");
  const auto legacy_end = s.partitions().front().to_us;
  const auto r = s.apply_retention(legacy_end + 2 * 3'600'000'000);
  CHECK(r.tasks_deleted == 1);
  REQUIRE_FALSE(r.dropped.empty());
  CHECK(r.dropped.front().name == "task_events_legacy");
  CHECK(s.partitions().front().name != "task_events_legacy");
  CHECK_FALSE(s.get_task(done));
  CHECK(s.events(live).size() == 1);
}

TEST_CASE("purge goes in batches and deletes the tasks' events", "[pg][retention]") {
  const auto dsn = fresh_schema_dsn("purge_batches");
  journal_store s{dsn};
  s.migrate();
  const auto now_us = to_micros(now());
  std::vector<int64_t> done;
  for (int i = 0; i < 5; ++i)
    done.push_back(task_at(s, "p", now_us - 100, now_us - 90, transition_kind::succeed,
                           now_us - 80));
  const auto live = task_at(s, "p", now_us - 100, now_us - 90);
  int progress = 0;
  task_filter f;
  f.name = "p";
  CHECK(s.purge(f, [&](const std::string&) { ++progress; }, 2) == 5);
  CHECK(progress == 2); // after batches 1 and 2; batch 3 ends it
  for (auto id : done)
    CHECK(s.events(id).empty());
  CHECK(s.events(live).size() == 2);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks") == 1);
  task_filter limited;
  CHECK(s.purge(limited) == 0);
}

TEST_CASE("a task's start is a HOT update", "[pg][hot]") {
  const auto dsn = fresh_schema_dsn("hot");
  std::vector<int64_t> ids;
  {
    journal_store s{dsn};
    s.migrate();
    // Few tasks per commit, as the head's group commits under light load.
    for (int i = 0; i < 40; ++i) {
      journal_store::batch b;
      b.submits.push_back(submit_of("hot"));
      const auto id = s.commit(b).submitted_ids.at(0);
      journal_store::batch st;
      st.transitions.push_back(start_of(id));
      REQUIRE(s.commit(st).applied == std::vector<bool>{true});
      journal_store::batch fin;
      fin.transitions.push_back(
        transition_of(id, transition_kind::succeed, task_state::running, 1, 1));
      REQUIRE(s.commit(fin).applied == std::vector<bool>{true});
    }
  } // the connection ends: its statistics are sent
  int64_t upd = 0, hot = 0;
  for (int i = 0; i < 100 && upd < 80; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    pqxx::connection c{dsn};
    pqxx::nontransaction tx{c};
    auto r = tx.exec1("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                      " WHERE schemaname = current_schema() AND relname = 'tasks'");
    upd = r[0].as<int64_t>();
    hot = r[1].as<int64_t>();
  }
  REQUIRE(upd == 80);
  // Every start can be HOT (no index changes); every end cannot (it leaves
  // the index of live tasks).
  CHECK(hot == 40);
}

/// Scans of `table` so far (pg_stat_user_tables): sequential, by index.
std::pair<int64_t, int64_t> scans_of(const std::string& dsn, const std::string& table) {
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  auto r = tx.exec1("SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_user_tables"
                    " WHERE schemaname = current_schema() AND relname = " + tx.quote(table));
  return {r[0].as<int64_t>(), r[1].as<int64_t>()};
}

/// The counters once the sessions that ended have sent theirs (a backend
/// sends its statistics when it exits): unchanged for a second.
std::pair<int64_t, int64_t> settled_scans(const std::string& dsn, const std::string& table) {
  auto last = scans_of(dsn, table);
  for (int same = 0, i = 0; same < 10 && i < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto now = scans_of(dsn, table);
    same = now == last ? same + 1 : 0;
    last = now;
  }
  return last;
}

TEST_CASE("status counts: live ones exact, final ones estimated on a big table",
          "[pg][retention]") {
  const auto dsn = fresh_schema_dsn("status_counts");
  const auto now_us = to_micros(now());
  {
    journal_store s{dsn};
    s.migrate();
    task_at(s, "a", now_us);
    task_at(s, "a", now_us, now_us + 1);
    task_at(s, "a", now_us, now_us + 1, transition_kind::fail, now_us + 2);
    auto c = s.count_by_state();
    CHECK_FALSE(c.estimated);
    CHECK(c.queued == 1);
    CHECK(c.running == 1);
    CHECK(c.failed == 1);
    CHECK(c.succeeded == 0);
  }
  // 40 MB of SUCCEEDED tasks (args padded), then ANALYZE: estimates.
  {
    pqxx::connection conn{dsn};
    pqxx::nontransaction tx{conn};
    tx.exec("INSERT INTO tasks (name, args, queue, state, run_at, created_at, updated_at)"
            " SELECT 'bulk', jsonb_build_object('pad', repeat('x', 400)), 'default', 'SUCCEEDED',"
            " now(), now(), now() FROM generate_series(1, 80000)");
    tx.exec("ANALYZE tasks");
  }
  const auto before = settled_scans(dsn, "tasks");
  {
    journal_store s{dsn};
    auto c = s.count_by_state();
    CHECK(c.estimated);
    CHECK(c.queued == 1);
    CHECK(c.running == 1);
    CHECK(c.succeeded > 70000);
    CHECK(c.succeeded < 90000);
    const auto q = s.queued_age(now_us + 1'000'000);
    CHECK(q.ready == 1);
    // The recent activity reads use the small indexes.
    CHECK(s.event_counts_since(now_us - 60'000'000, {transition_kind::fail, transition_kind::lose}).size() == 1);
  }
  // What `taskrt status` reads of tasks went by index only: no scan of the
  // 80,000 rows.
  const auto after = settled_scans(dsn, "tasks");
  CHECK(after.second > before.second);
  CHECK(after.first == before.first);
}

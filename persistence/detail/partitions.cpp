#include "taskrt/persistence/detail/partitions.hpp"

#include "taskrt/persistence/detail/sql_text.hpp"

#include <algorithm>
#include <limits>

namespace taskrt::detail {

namespace {

constexpr int64_t day_us = 86'400'000'000;
constexpr int64_t hour_us = 3'600'000'000;

/// Postgres' "lock not available" (lock_timeout) and "duplicate table".
bool is_state(const pqxx::sql_error& e, const char* state) {
  return e.sqlstate() == state;
}

/// "20261201" for the UTC day starting at `us`.
std::string day_name(int64_t us) {
  const auto t = ts_text(us); // 2026-12-01T00:00:00Z
  return t.substr(0, 4) + t.substr(5, 2) + t.substr(8, 2);
}

std::string plural(int64_t n, const std::string& what) {
  const bool es = !what.empty() && what.back() == 'h';
  return std::to_string(n) + " " + what + (n == 1 ? "" : es ? "es" : "s");
}

} // namespace

std::vector<partition_info> list_partitions(pqxx::connection& c) {
  pqxx::read_transaction tx{c};
  std::vector<partition_info> out;
  const auto sql
    = "SELECT name, bytes, est, " + us_of("lo::timestamptz") + " AS lo_us, "
      + us_of("hi::timestamptz") + " AS hi_us FROM ("
        " SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes,"
        " c.reltuples::bigint AS est,"
        " (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1] AS lo,"
        " (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1] AS hi"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'task_events'::regclass) p"
        " WHERE hi IS NOT NULL ORDER BY hi_us";
  for (const auto& r : tx.exec(sql)) {
    partition_info p;
    p.name = r["name"].as<std::string>();
    p.bytes = r["bytes"].as<int64_t>();
    p.est_rows = r["est"].as<int64_t>();
    p.from_us = r["lo_us"].is_null() ? std::numeric_limits<int64_t>::min()
                                      : r["lo_us"].as<int64_t>();
    p.to_us = r["hi_us"].as<int64_t>();
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> ensure_partitions(pqxx::connection& c, int64_t now_us, int days_ahead) {
  std::vector<std::string> created;
  auto parts = list_partitions(c);
  const int64_t day0 = (now_us >= 0 ? now_us / day_us : (now_us - day_us + 1) / day_us) * day_us;
  for (int k = 0; k <= days_ahead; ++k) {
    const int64_t lo = day0 + k * day_us, hi = lo + day_us;
    const bool covered = std::any_of(parts.begin(), parts.end(), [&](const partition_info& p) {
      return p.from_us < hi && lo < p.to_us;
    });
    if (covered)
      continue;
    const auto name = "task_events_p" + day_name(lo);
    try {
      pqxx::work tx{c};
      tx.exec("SET LOCAL lock_timeout = '5s'");
      const auto q = tx.quote_name(name);
      // A standalone table attached afterwards: ATTACH takes a lock that lets
      // the journal's inserts go on (CREATE ... PARTITION OF would not).
      // Rows of that day already in the DEFAULT partition move over first.
      tx.exec("CREATE TABLE " + q + " (LIKE task_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)");
      tx.exec("WITH m AS (DELETE FROM task_events_default WHERE at >= " + ts_lit(lo)
              + " AND at < " + ts_lit(hi) + " RETURNING *) INSERT INTO " + q
              + " SELECT * FROM m");
      tx.exec("ALTER TABLE task_events ATTACH PARTITION " + q + " FOR VALUES FROM ("
              + tx.quote(ts_text(lo)) + ") TO (" + tx.quote(ts_text(hi)) + ")");
      tx.commit();
      created.push_back(name);
      parts.push_back({name, lo, hi, 0, 0});
    } catch (const pqxx::sql_error& e) {
      // Busy (next time) or made by another head or CLI just now.
      if (!is_state(e, "55P03") && !is_state(e, "42P07"))
        throw;
    }
  }
  return created;
}

void delete_tasks(pqxx::connection& c, const std::string& cond, const std::string& events_from,
                  int batch, int64_t limit, const progress_fn& progress, retention_result& r) {
  batch = std::max(1, batch);
  std::string last_at, last_id; // keyset: (created_at, id) of the last one seen
  int64_t deleted = 0;
  for (;;) {
    const int64_t n = limit > 0 ? std::min<int64_t>(batch, limit - deleted) : batch;
    if (n <= 0)
      break;
    pqxx::work tx{c};
    const auto after = last_id.empty() ? std::string{}
                                       : " AND (created_at, id) > (" + tx.quote(last_at)
                                           + "::timestamptz, " + last_id + ")";
    // The DELETE checks `cond` again on the row it deletes: a task retried
    // by hand meanwhile is no longer final and stays.
    auto sql = "WITH c AS (SELECT id AS cid, created_at AS cat FROM tasks WHERE " + cond + after
               + " ORDER BY created_at, id LIMIT " + std::to_string(n) + "),"
                 " d AS (DELETE FROM tasks USING c WHERE tasks.id = c.cid AND " + cond
               + " RETURNING tasks.id),"
                 " k AS (DELETE FROM checkpoints WHERE task_id = ANY(ARRAY(SELECT id FROM d)))";
    if (!events_from.empty())
      sql += ", e AS (DELETE FROM task_events WHERE task_id = ANY(ARRAY(SELECT id FROM d))"
             " AND at >= " + events_from + " RETURNING 1)";
    sql += " SELECT (SELECT count(*) FROM c) AS seen, (SELECT count(*) FROM d) AS gone, "
           + std::string{events_from.empty() ? "0" : "(SELECT count(*) FROM e)"}
           + " AS events, l.cat::text AS last_at, l.cid AS last_id FROM (SELECT 1) one"
             " LEFT JOIN (SELECT cat, cid FROM c ORDER BY cat DESC, cid DESC LIMIT 1) l ON true";
    const auto row = tx.exec1(sql);
    tx.commit();
    const auto seen = row["seen"].as<int64_t>();
    deleted += row["gone"].as<int64_t>();
    r.tasks_deleted += row["gone"].as<int64_t>();
    r.events_deleted += row["events"].as<int64_t>();
    ++r.batches;
    if (seen < n)
      break;
    last_at = row["last_at"].as<std::string>();
    last_id = row["last_id"].as<std::string>();
    if (progress)
      progress(plural(deleted, "task") + " deleted so far (" + plural(r.batches, "batch")
               + ")");
  }
}

void drop_old_partitions(pqxx::connection& c, int64_t cutoff_us, const progress_fn& progress,
                         retention_result& r) {
  for (const auto& p : list_partitions(c)) {
    if (p.to_us > cutoff_us - hour_us)
      continue; // sorted by upper bound: the rest is newer
    try {
      pqxx::work tx{c};
      tx.exec("SET LOCAL lock_timeout = '1s'");
      // Journal commits wait from here to the commit: nothing can add an
      // event of a task between the check below and the drop.
      tx.exec("LOCK TABLE task_events IN ACCESS EXCLUSIVE MODE");
      const auto q = tx.quote_name(p.name);
      if (tx.exec("SELECT 1 FROM pg_inherits WHERE inhparent = 'task_events'::regclass"
                  " AND inhrelid = to_regclass(" + tx.quote(q) + ")").empty())
        continue; // dropped by another head or CLI meanwhile
      tx.exec("ALTER TABLE task_events DETACH PARTITION " + q);
      // Events of tasks that remain (created before the end of the partition,
      // plus an hour for clocks) go to the DEFAULT partition: no partition
      // covers their time any more.
      const auto kept
        = tx.exec("INSERT INTO task_events SELECT * FROM " + q
                  + " WHERE task_id = ANY(ARRAY(SELECT id FROM tasks WHERE created_at < "
                  + ts_lit(p.to_us + hour_us) + "))")
            .affected_rows();
      tx.exec("DROP TABLE " + q);
      tx.commit();
      r.events_kept += static_cast<int64_t>(kept);
      r.dropped.push_back(p);
      if (progress)
        progress("dropped partition " + p.name + " (" + std::to_string(p.bytes / 1024) + " kB, "
                 + (p.est_rows >= 0 ? "~" + std::to_string(p.est_rows) : std::string{"?"})
                 + " events; " + plural(static_cast<int64_t>(kept), "event")
                 + " of remaining tasks kept)");
    } catch (const pqxx::sql_error& e) {
      if (!is_state(e, "55P03"))
        throw;
      ++r.partitions_skipped;
    }
  }
}

void clean_default_partition(pqxx::connection& c, int64_t cutoff_us, int batch,
                             retention_result& r) {
  batch = std::max(1, batch);
  for (;;) {
    pqxx::work tx{c};
    const auto n
      = tx.exec("DELETE FROM task_events_default WHERE ctid = ANY(ARRAY("
                "SELECT d.ctid FROM task_events_default d WHERE d.at < " + ts_lit(cutoff_us)
                + " AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = d.task_id) LIMIT "
                + std::to_string(batch) + "))")
          .affected_rows();
    tx.commit();
    r.events_deleted += static_cast<int64_t>(n);
    if (n < static_cast<size_t>(batch))
      break;
  }
}

} // namespace taskrt::detail

#include "taskrt/persistence/schedule_store.hpp"

#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/dsn.hpp"
#include "taskrt/persistence/store_error.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace taskrt {

namespace {

/// Columns of a schedule row, in the order row_of reads them.
constexpr const char* schedule_columns =
  "name, task, args::text, cron, every_s, tz, missed, catchup_window_s, overlap, jitter_s,"
  " queue, priority, policy, time_limit_s, lock, declared, paused,"
  " coalesce((extract(epoch FROM next_tick) * 1000000)::bigint, 0),"
  " coalesce((extract(epoch FROM last_tick) * 1000000)::bigint, 0),"
  " array_to_string(recent_task_ids, ','),"
  " coalesce((extract(epoch FROM trigger_at) * 1000000)::bigint, 0),"
  " (extract(epoch FROM created_at) * 1000000)::bigint,"
  " (extract(epoch FROM updated_at) * 1000000)::bigint";

/// A timestamptz from µs since the epoch; NULL for 0.
constexpr const char* ts_sql = "CASE WHEN $%d::bigint = 0 THEN NULL ELSE 'epoch'::timestamptz + $%d::bigint * "
                               "interval '1 microsecond' END";

std::string ts(int n) {
  char buf[160];
  std::snprintf(buf, sizeof buf, ts_sql, n, n);
  return buf;
}

schedule_row row_of(const pqxx::row& r) {
  schedule_row s;
  int i = 0;
  s.name = r[i++].as<std::string>();
  s.task = r[i++].as<std::string>();
  s.args = r[i++].as<std::string>();
  s.cron = r[i++].as<std::string>();
  s.every_s = r[i++].as<int64_t>();
  s.tz = r[i++].as<std::string>();
  s.missed = r[i++].as<std::string>();
  s.catchup_window_s = r[i++].as<int64_t>();
  s.overlap = r[i++].as<std::string>();
  s.jitter_s = r[i++].as<int64_t>();
  s.queue = r[i++].as<std::string>();
  s.priority = r[i++].as<int32_t>();
  s.policy = r[i++].as<std::string>();
  s.time_limit_s = r[i++].as<double>();
  s.lock = r[i++].as<std::string>();
  s.declared = r[i++].as<bool>();
  s.paused = r[i++].as<bool>();
  s.next_tick_us = r[i++].as<int64_t>();
  s.last_tick_us = r[i++].as<int64_t>();
  std::stringstream ids{r[i++].as<std::string>()};
  for (std::string id; std::getline(ids, id, ',');)
    if (!id.empty())
      s.recent_task_ids.push_back(std::stoll(id));
  s.trigger_at_us = r[i++].as<int64_t>();
  s.created_us = r[i++].as<int64_t>();
  s.updated_us = r[i++].as<int64_t>();
  return s;
}

std::string id_array(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i)
    out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "}";
}

} // namespace

struct schedule_store::impl {
  std::string dsn;
  std::string conninfo;
  std::unique_ptr<pqxx::connection> conn;
  bool listening = false;

  /// Counts NOTIFYs on the connection.
  struct receiver : pqxx::notification_receiver {
    int* count;
    receiver(pqxx::connection_base& c, int* n)
      : pqxx::notification_receiver(c, "taskrt_schedules"), count(n) {}
    void operator()(const std::string&, int) override { ++*count; }
  };
  std::unique_ptr<receiver> rx;
  int notified = 0;

  pqxx::connection& connection() {
    if (!conn || !conn->is_open()) {
      rx.reset();
      conn = std::make_unique<pqxx::connection>(conninfo);
      if (listening) {
        rx = std::make_unique<receiver>(*conn, &notified);
        ++notified; // changes may have come while the connection was down
      }
    }
    return *conn;
  }

  template <class F>
  auto run(const char* what, F&& f) {
    try {
      return f(connection());
    } catch (const pqxx::broken_connection& e) {
      rx.reset();
      conn.reset();
      throw store_error(std::string{what} + ": connection to Postgres lost: " + e.what(), true);
    } catch (const pqxx::sql_error& e) {
      throw store_error(std::string{what} + ": " + e.what(), false, false, e.sqlstate());
    } catch (const pqxx::failure& e) {
      rx.reset();
      conn.reset();
      throw store_error(std::string{what} + ": " + e.what(), true);
    }
  }
};

schedule_store::schedule_store(const std::string& dsn, journal_options opts)
  : impl_(std::make_unique<impl>()) {
  impl_->dsn = dsn;
  std::vector<std::pair<std::string, std::string>> kv;
  if (opts.connect_timeout_s > 0)
    kv.emplace_back("connect_timeout", std::to_string(opts.connect_timeout_s));
  kv.emplace_back("keepalives", "1");
  if (opts.keepalives_idle_s > 0)
    kv.emplace_back("keepalives_idle", std::to_string(opts.keepalives_idle_s));
  if (opts.tcp_user_timeout_ms > 0)
    kv.emplace_back("tcp_user_timeout", std::to_string(opts.tcp_user_timeout_ms));
  impl_->conninfo = dsn_with_defaults(dsn, kv);
  const auto what = "cannot connect to " + redact_dsn(dsn);
  impl_->run(what.c_str(), [](pqxx::connection&) { return 0; });
}

schedule_store::~schedule_store() = default;

bool schedule_store::add(const schedule_row& s) {
  return impl_->run("add schedule", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    auto r = tx.exec_params(
      "INSERT INTO schedules (name, task, args, cron, every_s, tz, missed, catchup_window_s,"
      " overlap, jitter_s, queue, priority, policy, time_limit_s, lock, declared, paused,"
      " next_tick) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
      " $14, $15, $16, $17, " + ts(18) + ") ON CONFLICT (name) DO NOTHING",
      s.name, s.task, s.args, s.cron, s.every_s, s.tz, s.missed, s.catchup_window_s, s.overlap,
      s.jitter_s, s.queue, s.priority, s.policy, s.time_limit_s, s.lock, s.declared, s.paused,
      s.next_tick_us);
    if (r.affected_rows() == 0)
      return false;
    tx.exec_params("SELECT pg_notify('taskrt_schedules', $1)", s.name);
    tx.commit();
    return true;
  });
}

void schedule_store::upsert_declared(const schedule_row& s) {
  impl_->run("upsert declared schedule", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    tx.exec_params(
      "INSERT INTO schedules (name, task, args, cron, every_s, tz, missed, catchup_window_s,"
      " overlap, jitter_s, queue, priority, policy, time_limit_s, lock, declared, next_tick)"
      " VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, true, "
      + ts(16) + ") ON CONFLICT (name) DO UPDATE SET task = EXCLUDED.task,"
      " args = EXCLUDED.args, missed = EXCLUDED.missed,"
      " catchup_window_s = EXCLUDED.catchup_window_s, overlap = EXCLUDED.overlap,"
      " jitter_s = EXCLUDED.jitter_s, queue = EXCLUDED.queue, priority = EXCLUDED.priority,"
      " policy = EXCLUDED.policy, time_limit_s = EXCLUDED.time_limit_s, lock = EXCLUDED.lock,"
      " declared = true, updated_at = now(),"
      " next_tick = CASE WHEN (schedules.cron, schedules.every_s, schedules.tz)"
      "   IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.every_s, EXCLUDED.tz)"
      "   THEN EXCLUDED.next_tick ELSE schedules.next_tick END,"
      " cron = EXCLUDED.cron, every_s = EXCLUDED.every_s, tz = EXCLUDED.tz",
      s.name, s.task, s.args, s.cron, s.every_s, s.tz, s.missed, s.catchup_window_s, s.overlap,
      s.jitter_s, s.queue, s.priority, s.policy, s.time_limit_s, s.lock, s.next_tick_us);
    tx.commit();
    return 0;
  });
}

std::vector<schedule_row> schedule_store::list() {
  return impl_->run("list schedules", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<schedule_row> out;
    for (const auto& r : tx.exec(std::string{"SELECT "} + schedule_columns
                                 + " FROM schedules ORDER BY name"))
      out.push_back(row_of(r));
    return out;
  });
}

std::optional<schedule_row> schedule_store::get(const std::string& name) {
  return impl_->run("read schedule", [&](pqxx::connection& c) -> std::optional<schedule_row> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(std::string{"SELECT "} + schedule_columns
                              + " FROM schedules WHERE name = $1",
                            name);
    if (r.empty())
      return std::nullopt;
    return row_of(r[0]);
  });
}

bool schedule_store::set_paused(const std::string& name, bool paused) {
  return impl_->run("pause schedule", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    auto r = tx.exec_params(
      "UPDATE schedules SET paused = $2, updated_at = now() WHERE name = $1", name, paused);
    if (r.affected_rows() == 0)
      return false;
    tx.exec_params("SELECT pg_notify('taskrt_schedules', $1)", name);
    tx.commit();
    return true;
  });
}

std::optional<int64_t> schedule_store::request_trigger(const std::string& name) {
  return impl_->run("trigger schedule", [&](pqxx::connection& c) -> std::optional<int64_t> {
    pqxx::work tx{c};
    auto r = tx.exec_params(
      "UPDATE schedules SET trigger_at = clock_timestamp(), updated_at = now() WHERE name = $1"
      " RETURNING (extract(epoch FROM trigger_at) * 1000000)::bigint",
      name);
    if (r.empty())
      return std::nullopt;
    tx.exec_params("SELECT pg_notify('taskrt_schedules', $1)", name);
    tx.commit();
    return r[0][0].as<int64_t>();
  });
}

bool schedule_store::remove(const std::string& name) {
  return impl_->run("delete schedule", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    auto r = tx.exec_params("DELETE FROM schedules WHERE name = $1", name);
    if (r.affected_rows() == 0)
      return false;
    tx.exec_params("SELECT pg_notify('taskrt_schedules', $1)", name);
    tx.commit();
    return true;
  });
}

std::vector<schedule_event_row> schedule_store::events(const std::string& name, int limit) {
  return impl_->run("read schedule events", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<schedule_event_row> out;
    auto rows = tx.exec_params(
      "SELECT id, schedule, (extract(epoch FROM tick) * 1000000)::bigint, kind, reason,"
      " coalesce(task_id, 0), (extract(epoch FROM at) * 1000000)::bigint FROM ("
      " SELECT * FROM schedule_events WHERE schedule = $1 ORDER BY tick DESC, id DESC"
      " LIMIT $2) e ORDER BY tick, id",
      name, limit);
    for (const auto& r : rows) {
      schedule_event_row e;
      e.id = r[0].as<int64_t>();
      e.schedule = r[1].as<std::string>();
      e.tick_us = r[2].as<int64_t>();
      e.kind = r[3].as<std::string>();
      e.reason = r[4].as<std::string>();
      e.task_id = r[5].as<int64_t>();
      e.at_us = r[6].as<int64_t>();
      out.push_back(e);
    }
    return out;
  });
}

std::map<std::string, int64_t> schedule_store::event_counts(const std::string& name) {
  return impl_->run("count schedule events", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::map<std::string, int64_t> out;
    for (const auto& r : tx.exec_params(
           "SELECT kind, count(*) FROM schedule_events WHERE schedule = $1 GROUP BY kind", name))
      out[r[0].as<std::string>()] = r[1].as<int64_t>();
    return out;
  });
}

void schedule_store::listen() {
  impl_->listening = true;
  impl_->run("listen", [&](pqxx::connection& c) {
    if (!impl_->rx)
      impl_->rx = std::make_unique<impl::receiver>(c, &impl_->notified);
    return 0;
  });
}

bool schedule_store::await_change(int64_t timeout_ms) {
  return impl_->run("await schedule changes", [&](pqxx::connection& c) {
    if (impl_->notified == 0 && timeout_ms > 0)
      c.await_notification(static_cast<long>(timeout_ms / 1000),
                           static_cast<long>((timeout_ms % 1000) * 1000));
    else
      c.get_notifs();
    const bool any = impl_->notified > 0;
    impl_->notified = 0;
    return any;
  });
}

std::map<std::string, int64_t> schedule_store::tasks_by_key(const std::vector<std::string>& keys) {
  return impl_->run("read tick tasks", [&](pqxx::connection& c) {
    std::map<std::string, int64_t> out;
    if (keys.empty())
      return out;
    pqxx::read_transaction tx{c};
    std::string list = "ARRAY[";
    for (size_t i = 0; i < keys.size(); ++i)
      list += (i ? "," : "") + tx.quote(keys[i]);
    list += "]::text[]";
    for (const auto& r : tx.exec("SELECT key, id FROM tasks WHERE key = ANY(" + list + ")"))
      out[r[0].as<std::string>()] = r[1].as<int64_t>();
    return out;
  });
}

std::map<int64_t, std::string> schedule_store::task_states(const std::vector<int64_t>& ids) {
  return impl_->run("read tick task states", [&](pqxx::connection& c) {
    std::map<int64_t, std::string> out;
    if (ids.empty())
      return out;
    pqxx::read_transaction tx{c};
    for (const auto& r : tx.exec_params("SELECT id, state FROM tasks WHERE id = ANY($1::bigint[])",
                                        id_array(ids)))
      out[r[0].as<int64_t>()] = r[1].as<std::string>();
    return out;
  });
}

void schedule_store::record_ticks(const std::string& name,
                                  const std::vector<schedule_event_row>& events,
                                  int64_t next_tick_us, size_t keep) {
  impl_->run("record schedule ticks", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    for (const auto& e : events)
      tx.exec_params("INSERT INTO schedule_events (schedule, tick, kind, reason, task_id)"
                     " SELECT $1, " + ts(2) + ", $3, $4, NULLIF($5::bigint, 0)"
                     " WHERE EXISTS (SELECT 1 FROM schedules WHERE name = $1)"
                     " ON CONFLICT (schedule, tick) DO NOTHING",
                     name, e.tick_us, e.kind, e.reason, e.task_id);
    int64_t last_fired = 0;
    std::vector<int64_t> fired_ids;
    for (const auto& e : events)
      if (e.task_id != 0 && e.kind != "triggered") {
        last_fired = std::max(last_fired, e.tick_us);
        fired_ids.push_back(e.task_id);
      } else if (e.task_id != 0) {
        fired_ids.push_back(e.task_id);
      }
    tx.exec_params(
      "UPDATE schedules SET"
      " next_tick = CASE WHEN next_tick IS NULL OR next_tick < " + ts(2) + " THEN " + ts(2)
        + " ELSE next_tick END,"
      " last_tick = CASE WHEN $3::bigint = 0 THEN last_tick ELSE greatest(last_tick, " + ts(3) + ") END,"
      " recent_task_ids = (SELECT coalesce(array_agg(x ORDER BY o), '{}') FROM ("
      "   SELECT x, o FROM unnest(recent_task_ids || $4::bigint[]) WITH ORDINALITY AS u(x, o)"
      "   ORDER BY o DESC LIMIT $5::bigint) t),"
      " updated_at = now()"
      " WHERE name = $1",
      name, next_tick_us, last_fired, id_array(fired_ids), static_cast<int64_t>(keep));
    tx.commit();
    return 0;
  });
}

void schedule_store::clear_trigger(const std::string& name, int64_t trigger_at_us) {
  impl_->run("clear schedule trigger", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    tx.exec_params("UPDATE schedules SET trigger_at = NULL WHERE name = $1 AND"
                   " (extract(epoch FROM trigger_at) * 1000000)::bigint = $2",
                   name, trigger_at_us);
    tx.commit();
    return 0;
  });
}

} // namespace taskrt

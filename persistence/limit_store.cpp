#include "taskrt/persistence/limit_store.hpp"

#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/store_error.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace taskrt {

namespace {

constexpr const char* limits_channel = "taskrt_limits";

template <class F>
auto guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const pqxx::broken_connection& e) {
    throw store_error(std::string{what} + ": connection lost: " + e.what(), true);
  } catch (const pqxx::sql_error& e) {
    throw store_error(std::string{what} + ": " + e.what(), false, false, e.sqlstate());
  } catch (const store_error&) {
    throw;
  } catch (const std::exception& e) {
    throw store_error(std::string{what} + ": " + e.what(), true);
  }
}

const char* select_sql = "SELECT key, coalesce(rate_per_s, 0), burst, coalesce(concurrency, 0),"
                         " (extract(epoch FROM updated_at) * 1000000)::bigint FROM limits";

limit_row row_of(const pqxx::row& r) {
  limit_row l;
  l.key = r[0].as<std::string>();
  l.rate_per_s = r[1].as<double>();
  l.burst = r[2].as<double>();
  l.concurrency = r[3].as<int32_t>();
  l.updated_us = r[4].as<int64_t>();
  return l;
}

std::vector<limit_row> load_all(pqxx::connection_base& c) {
  pqxx::read_transaction tx{c};
  std::vector<limit_row> out;
  for (const auto& r : tx.exec(std::string{select_sql} + " ORDER BY key"))
    out.push_back(row_of(r));
  return out;
}

/// Calls back on notifications of this connection's schema only (test
/// schemas share one database and so the channel).
class receiver : public pqxx::notification_receiver {
public:
  receiver(pqxx::connection_base& c, std::string schema, bool& flag)
      : pqxx::notification_receiver(c, limits_channel), schema_(std::move(schema)), flag_(flag) {}
  void operator()(const std::string& payload, int) override {
    if (payload == schema_)
      flag_ = true;
  }

private:
  std::string schema_;
  bool& flag_;
};

} // namespace

limit_store::limit_store(std::string dsn) : dsn_(std::move(dsn)) {}

std::vector<limit_row> limit_store::list() const {
  return guarded("limits list", [&] {
    pqxx::connection c{dsn_};
    return load_all(c);
  });
}

std::optional<limit_row> limit_store::get(const std::string& key) const {
  return guarded("limits get", [&]() -> std::optional<limit_row> {
    pqxx::connection c{dsn_};
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(std::string{select_sql} + " WHERE key = $1", key);
    if (r.empty())
      return std::nullopt;
    return row_of(r[0]);
  });
}

void limit_store::set(const limit_row& row) const {
  guarded("limits set", [&] {
    pqxx::connection c{dsn_};
    pqxx::work tx{c};
    tx.exec_params("INSERT INTO limits (key, rate_per_s, burst, concurrency, updated_at)"
                   " VALUES ($1, nullif($2, 0::float8), $3, nullif($4, 0), now())"
                   " ON CONFLICT (key) DO UPDATE SET rate_per_s = excluded.rate_per_s,"
                   " burst = excluded.burst, concurrency = excluded.concurrency,"
                   " updated_at = excluded.updated_at",
                   row.key, row.rate_per_s, row.burst, row.concurrency);
    tx.exec("SELECT pg_notify('" + std::string{limits_channel} + "', current_schema())");
    tx.commit();
  });
}

bool limit_store::remove(const std::string& key) const {
  return guarded("limits delete", [&] {
    pqxx::connection c{dsn_};
    pqxx::work tx{c};
    auto r = tx.exec_params("DELETE FROM limits WHERE key = $1", key);
    if (r.affected_rows() == 0)
      return false;
    tx.exec("SELECT pg_notify('" + std::string{limits_channel} + "', current_schema())");
    tx.commit();
    return true;
  });
}

std::pair<int64_t, int64_t> limit_store::tasks_of(const std::string& key) const {
  return guarded("limits tasks", [&] {
    pqxx::connection c{dsn_};
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params1(
      "SELECT count(*) FILTER (WHERE state = 'QUEUED'), count(*) FILTER (WHERE state = 'RUNNING')"
      " FROM tasks WHERE live AND limit_keys @> jsonb_build_array($1::text)",
      key);
    return std::make_pair(r[0].as<int64_t>(), r[1].as<int64_t>());
  });
}

std::string limit_store::wait_reason(const std::vector<std::string>& keys) const {
  return guarded("limits wait reason", [&]() -> std::string {
    pqxx::connection c{dsn_};
    pqxx::read_transaction tx{c};
    char buf[512];
    for (const auto& key : keys) {
      auto r = tx.exec_params(std::string{select_sql} + " WHERE key = $1", key);
      if (r.empty())
        continue;
      const auto l = row_of(r[0]);
      if (l.concurrency > 0) {
        const auto running = tx.exec_params1(
          "SELECT count(*) FROM tasks WHERE live AND state = 'RUNNING'"
          " AND limit_keys @> jsonb_build_array($1::text)", key)[0].as<int64_t>();
        if (running >= l.concurrency) {
          std::snprintf(buf, sizeof buf, "concurrency limit %s: %lld of %d running", key.c_str(),
                        static_cast<long long>(running), l.concurrency);
          return buf;
        }
      }
      if (l.rate_per_s > 0) {
        const double window_s = std::min(2 * l.burst / l.rate_per_s, 86400.0);
        const auto rows = tx.exec_params(
          "SELECT (extract(epoch FROM e.at) * 1000000)::bigint,"
          " (extract(epoch FROM now()) * 1000000)::bigint"
          " FROM task_events e JOIN tasks t ON t.id = e.task_id"
          " WHERE e.kind = 'start' AND e.at > now() - make_interval(secs => $2)"
          " AND t.limit_keys @> jsonb_build_array($1::text) ORDER BY e.at",
          key, window_s);
        if (rows.empty())
          continue;
        const auto now_us = rows[0][1].as<int64_t>();
        double tokens = l.burst;
        int64_t at = now_us - static_cast<int64_t>(window_s * 1e6);
        for (const auto& row : rows) {
          const auto t = row[0].as<int64_t>();
          tokens = std::min(l.burst, tokens + static_cast<double>(t - at) * l.rate_per_s / 1e6) - 1;
          at = t;
        }
        tokens = std::min(l.burst, tokens + static_cast<double>(now_us - at) * l.rate_per_s / 1e6);
        if (tokens < 1) {
          const double rate_shown = l.rate_per_s >= 1 ? l.rate_per_s : l.rate_per_s * 60;
          std::snprintf(buf, sizeof buf, "rate limit %s: %g/%s, next token in %.1f s",
                        key.c_str(), rate_shown, l.rate_per_s >= 1 ? "s" : "m",
                        (1 - tokens) / l.rate_per_s);
          return buf;
        }
      }
    }
    return "";
  });
}

limit_watch::limit_watch(std::string dsn, std::function<void(std::vector<limit_row>)> on_change)
    : dsn_(std::move(dsn)), on_change_(std::move(on_change)), thread_([this] { run(); }) {}

limit_watch::~limit_watch() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

void limit_watch::run() {
  while (!stop_) {
    try {
      pqxx::connection c{dsn_};
      std::string schema;
      {
        pqxx::nontransaction tx{c};
        schema = tx.exec1("SELECT current_schema()")[0].as<std::string>();
      }
      bool changed = false;
      receiver rx{c, schema, changed};
      on_change_(load_all(c)); // LISTEN is on: no change slips between
      while (!stop_) {
        c.await_notification(0, 200'000); // wakes for a stop at least this often
        if (changed) {
          changed = false;
          on_change_(load_all(c));
        }
      }
    } catch (const std::exception& e) {
      spdlog::warn("limits: the watch on Postgres failed ({}); reconnecting in 1 s", e.what());
      for (int i = 0; i < 10 && !stop_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

} // namespace taskrt

#include "persistence/journal_store.hpp"

#include "persistence/detail/batch_writer.hpp"
#include "persistence/detail/pqxx.hpp"
#include "persistence/detail/redact.hpp"
#include "persistence/detail/schema.hpp"
#include "persistence/detail/sql_text.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace taskrt {

struct journal_store::impl {
  std::string dsn;
  std::string secret; // the DSN password, scrubbed from every message
  std::unique_ptr<pqxx::connection> conn;

  pqxx::connection& connection() {
    if (!conn)
      conn = std::make_unique<pqxx::connection>(dsn);
    return *conn;
  }

  /// Runs `f(connection)`, turning every libpqxx exception into store_error.
  /// Broken connections are dropped so that the next call reconnects.
  template <class F>
  auto run(const char* what, F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
    auto fail = [&](const std::string& msg, bool transient, bool in_doubt,
                    std::string state) -> store_error {
      if (transient)
        conn.reset();
      return store_error{std::string{what} + ": " + detail::redact(msg, secret),
                         transient, in_doubt, std::move(state)};
    };
    try {
      return f(connection());
    } catch (const pqxx::in_doubt_error& e) {
      throw fail(e.what(), true, true, {});
    } catch (const pqxx::broken_connection& e) {
      throw fail(e.what(), true, false, {});
    } catch (const pqxx::sql_error& e) {
      // Class 08 (connection exception) and 57P (server shutting down).
      const std::string st = e.sqlstate();
      const bool transient = st.rfind("08", 0) == 0 || st.rfind("57P", 0) == 0;
      throw fail(e.what(), transient, false, st);
    } catch (const store_error&) {
      throw;
    } catch (const std::exception& e) {
      throw fail(e.what(), false, false, {});
    }
  }
};

journal_store::journal_store(const std::string& dsn) : impl_(std::make_unique<impl>()) {
  impl_->dsn = dsn;
  impl_->secret = detail::dsn_password(dsn);
  const auto what = "cannot connect to " + detail::redacted_dsn(dsn);
  impl_->run(what.c_str(), [](pqxx::connection&) { return 0; });
}

journal_store::~journal_store() = default;

journal_store::journal_store(journal_store&&) noexcept = default;

journal_store& journal_store::operator=(journal_store&&) noexcept = default;

void journal_store::migrate() {
  impl_->run("migrate", [](pqxx::connection& c) {
    detail::apply_migrations(c);
    return 0;
  });
}

int journal_store::schema_version() {
  return impl_->run("schema_version",
                    [](pqxx::connection& c) { return detail::current_schema_version(c); });
}

journal_store::batch_result journal_store::commit(const batch& b) {
  if (b.empty())
    return {};
  return impl_->run("commit", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    auto res = detail::write_batch(tx, b);
    tx.commit();
    return res;
  });
}

std::vector<task_record> journal_store::load_unfinished() {
  return impl_->run("load_unfinished", [](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<task_record> out;
    for (const auto& r : tx.exec("SELECT " + detail::task_columns()
                                 + " FROM tasks WHERE state IN ('QUEUED', 'RUNNING')"
                                   " ORDER BY id"))
      out.push_back(detail::task_from_row(r));
    return out;
  });
}

std::optional<std::string> journal_store::latest_checkpoint(int64_t task_id) {
  return impl_->run("latest_checkpoint", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    auto res = tx.exec_params("SELECT data FROM checkpoints WHERE task_id = $1"
                              " ORDER BY id DESC LIMIT 1",
                              task_id);
    std::optional<std::string> out;
    if (!res.empty())
      out = res[0][0].as<std::string>();
    return out;
  });
}

void journal_store::upsert_node(const node_row& n) {
  impl_->run("upsert_node", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    tx.exec0("INSERT INTO nodes (id, address, slots, running, state,"
             " last_heartbeat, started) VALUES (" + tx.quote(n.id) + ", "
             + tx.quote(n.address) + ", " + std::to_string(n.slots) + ", "
             + std::to_string(n.running) + ", " + tx.quote(n.state) + ", "
             + detail::ts_lit(n.last_heartbeat_us) + ", "
             + detail::ts_lit(n.started_us)
             + ") ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address,"
               " slots = EXCLUDED.slots, running = EXCLUDED.running,"
               " state = EXCLUDED.state, last_heartbeat = EXCLUDED.last_heartbeat,"
               " started = EXCLUDED.started");
    tx.commit();
    return 0;
  });
}

std::vector<node_row> journal_store::nodes() {
  return impl_->run("nodes", [](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<node_row> out;
    for (const auto& r : tx.exec("SELECT " + detail::node_columns()
                                 + " FROM nodes ORDER BY id"))
      out.push_back(detail::node_from_row(r));
    return out;
  });
}

std::vector<task_record> journal_store::list_tasks(const task_filter& f) {
  return impl_->run("list_tasks", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    auto sql = "SELECT " + detail::task_columns() + " FROM tasks"
               + detail::where_clause(tx, f) + detail::order_clause(f.order);
    if (f.limit > 0)
      sql += " LIMIT " + std::to_string(f.limit);
    std::vector<task_record> out;
    for (const auto& r : tx.exec(sql))
      out.push_back(detail::task_from_row(r));
    return out;
  });
}

std::optional<task_record> journal_store::get_task(int64_t id) {
  return impl_->run("get_task", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    auto res = tx.exec_params("SELECT " + detail::task_columns()
                                + " FROM tasks WHERE id = $1",
                              id);
    std::optional<task_record> out;
    if (!res.empty())
      out = detail::task_from_row(res[0]);
    return out;
  });
}

std::vector<event_row> journal_store::events(int64_t task_id) {
  return impl_->run("events", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<event_row> out;
    for (const auto& r : tx.exec_params("SELECT " + detail::event_columns()
                                          + " FROM task_events WHERE task_id = $1"
                                            " ORDER BY id",
                                        task_id))
      out.push_back(detail::event_from_row(r));
    return out;
  });
}

std::vector<checkpoint_row> journal_store::checkpoints(int64_t task_id) {
  return impl_->run("checkpoints", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<checkpoint_row> out;
    for (const auto& r : tx.exec_params("SELECT " + detail::checkpoint_columns()
                                          + " FROM checkpoints WHERE task_id = $1"
                                            " ORDER BY id",
                                        task_id))
      out.push_back(detail::checkpoint_from_row(r));
    return out;
  });
}

int64_t journal_store::purge(const task_filter& f) {
  return impl_->run("purge", [&](pqxx::connection& c) {
    // Only final states, whatever the filter asks for.
    task_filter g = f;
    std::vector<task_state> finals;
    for (auto s : {task_state::succeeded, task_state::failed, task_state::cancelled,
                   task_state::lost})
      if (f.states.empty()
          || std::find(f.states.begin(), f.states.end(), s) != f.states.end())
        finals.push_back(s);
    if (finals.empty())
      return int64_t{0};
    g.states = finals;
    pqxx::work tx{c};
    auto sel = "SELECT id FROM tasks" + detail::where_clause(tx, g);
    if (g.limit > 0)
      sel += detail::order_clause(g.order) + " LIMIT " + std::to_string(g.limit);
    auto n = tx.exec1("WITH d AS (DELETE FROM tasks WHERE id IN (" + sel
                      + ") RETURNING id),"
                        // = ANY(ARRAY(...)): index lookups, no journal scan.
                        " e AS (DELETE FROM task_events WHERE task_id ="
                        " ANY(ARRAY(SELECT id FROM d))),"
                        " c AS (DELETE FROM checkpoints WHERE task_id ="
                        " ANY(ARRAY(SELECT id FROM d)))"
                        " SELECT count(*) FROM d")[0]
               .as<int64_t>();
    tx.commit();
    return n;
  });
}

double journal_store::ping_ms() {
  return impl_->run("ping", [](pqxx::connection& c) {
    const auto t0 = std::chrono::steady_clock::now();
    pqxx::nontransaction tx{c};
    tx.exec1("SELECT 1");
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::milli>(t1 - t0).count();
  });
}

std::vector<name_state_count> journal_store::count_by_name_state(const task_filter& f) {
  return impl_->run("count_by_name_state", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<name_state_count> out;
    for (const auto& r : tx.exec("SELECT name, state, count(*) AS n FROM tasks"
                                 + detail::where_clause(tx, f)
                                 + " GROUP BY name, state ORDER BY name, state")) {
      name_state_count row;
      row.name = r["name"].as<std::string>();
      row.state = parse_task_state(r["state"].as<std::string>()).value_or(task_state::queued);
      row.tasks = r["n"].as<int64_t>();
      out.push_back(std::move(row));
    }
    return out;
  });
}

namespace {

std::string since_cond(int64_t since_us) {
  return since_us == 0 ? std::string{} : " AND at >= " + detail::ts_lit(since_us);
}

/// Conditions on task_events for the events of the tasks matching `f`.
std::string events_of(pqxx::transaction_base& tx, const task_filter& f) {
  auto where = detail::where_clause(tx, f);
  return since_cond(f.since_us)
         + (where.empty() ? std::string{} : " AND task_id IN (SELECT id FROM tasks" + where + ")");
}

} // namespace

std::vector<error_kind_count> journal_store::failures_by_kind(const task_filter& f) {
  return impl_->run("failures_by_kind", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<error_kind_count> out;
    for (const auto& r : tx.exec("SELECT coalesce(detail->'error'->>'kind', '') AS k,"
                                 " count(*) AS n, count(DISTINCT task_id) AS t"
                                 " FROM task_events WHERE kind = 'fail'"
                                 + events_of(tx, f)
                                 + " GROUP BY 1 ORDER BY n DESC, k"))
      out.push_back({r["k"].as<std::string>(), r["n"].as<int64_t>(), r["t"].as<int64_t>()});
    return out;
  });
}

std::vector<lost_cause_count> journal_store::lost_by_cause(const task_filter& f) {
  return impl_->run("lost_by_cause", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<lost_cause_count> out;
    for (const auto& r : tx.exec("SELECT coalesce(detail->>'reason', '') AS reason,"
                                 " coalesce(detail->>'signal', '') AS sig,"
                                 " count(*) AS n, count(DISTINCT task_id) AS t"
                                 " FROM task_events WHERE kind = 'lose'"
                                 + events_of(tx, f)
                                 + " GROUP BY 1, 2 ORDER BY n DESC, reason, sig"))
      out.push_back({r["reason"].as<std::string>(), r["sig"].as<std::string>(),
                     r["n"].as<int64_t>(), r["t"].as<int64_t>()});
    return out;
  });
}

std::vector<event_kind_count> journal_store::event_counts_since(int64_t since_us) {
  return impl_->run("event_counts_since", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<event_kind_count> out;
    for (const auto& r : tx.exec("SELECT kind, count(*) AS n FROM task_events WHERE true"
                                 + since_cond(since_us) + " GROUP BY kind ORDER BY kind"))
      out.push_back({r["kind"].as<std::string>(), r["n"].as<int64_t>()});
    return out;
  });
}

std::optional<int64_t> journal_store::oldest_queued_created_us() {
  return impl_->run("oldest_queued", [](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    auto r = tx.exec1("SELECT " + detail::us_of("min(created_at)")
                      + " FROM tasks WHERE state = 'QUEUED'");
    std::optional<int64_t> out;
    if (!r[0].is_null())
      out = r[0].as<int64_t>();
    return out;
  });
}

std::vector<event_row> journal_store::events_after(int64_t task_id, int64_t after_id) {
  return impl_->run("events_after", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<event_row> out;
    for (const auto& r : tx.exec_params("SELECT " + detail::event_columns()
                                          + " FROM task_events WHERE task_id = $1"
                                            " AND id > $2 ORDER BY id",
                                        task_id, after_id))
      out.push_back(detail::event_from_row(r));
    return out;
  });
}

} // namespace taskrt

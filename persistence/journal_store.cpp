#include "taskrt/persistence/journal_store.hpp"

#include "taskrt/persistence/detail/array_literal.hpp"
#include "taskrt/persistence/detail/batch_writer.hpp"
#include "taskrt/persistence/detail/graph_writer.hpp"
#include "taskrt/persistence/detail/call_deadline.hpp"
#include "taskrt/persistence/detail/partitions.hpp"
#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/detail/schema.hpp"
#include "taskrt/persistence/detail/sql_text.hpp"
#include "taskrt/persistence/dsn.hpp"
#include "taskrt/runtime/time.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <random>
#include <utility>

namespace taskrt {

struct journal_store::impl {
  std::string dsn;      // as given (secrets scrubbed from every message)
  std::string conninfo; // dsn plus the timeouts of opts
  journal_options opts;
  std::optional<bool> graph; ///< task_edges exists (schema 7); unknown until the first commit
  std::unique_ptr<pqxx::connection> conn;
  uint64_t logged_commits = 0;
  std::string failed_commit_id; // the id of a commit() that threw
  int64_t generation = 0;       // taken by next_head_generation(): writes are fenced
  bool stopped_once = false;     // the fault point stop_in_commit (tests only) fired

  /// In a write transaction of a store that took a head generation: holds the
  /// generation row FOR SHARE (a head taking the next generation waits for
  /// this transaction) and throws a fenced store_error when another head has
  /// taken a newer one since. While it holds the row, the transaction may not
  /// sit idle longer than opts.idle_in_transaction_timeout_ms: a head paused
  /// in it (SIGSTOP) or hung would keep the next head from taking over.
  void check_fence(pqxx::work& tx) {
    if (generation == 0)
      return;
    std::string sql = "SELECT value FROM head_generation FOR SHARE";
    if (opts.idle_in_transaction_timeout_ms > 0)
      sql = "SET LOCAL idle_in_transaction_session_timeout = "
            + std::to_string(opts.idle_in_transaction_timeout_ms) + "; " + sql;
    const auto now = tx.exec1(sql)[0].as<int64_t>();
    if (now != generation)
      throw store_error::fenced("another head took over the journal (head generation " +
                                std::to_string(now) + ", this head's is " +
                                std::to_string(generation) + "): nothing was written");
  }

  /// The connection, opened when there is none: libpq bounds the connect by
  /// connect_timeout itself (a client-side timer), the first statement by
  /// the call deadline.
  pqxx::connection& connection() {
    if (!conn) {
      auto c = std::make_unique<pqxx::connection>(conninfo);
      if (opts.statement_timeout_ms > 0 && dsn.find("statement_timeout") == std::string::npos) {
        detail::call_deadline d{c->sock(), std::chrono::milliseconds(opts.call_deadline_ms)};
        pqxx::nontransaction tx{*c};
        tx.exec("SET statement_timeout = " + std::to_string(opts.statement_timeout_ms));
      }
      conn = std::move(c);
    }
    return *conn;
  }

  /// The deadline of a call that may take long by design (migrations,
  /// recovery loads, purges, retention).
  std::chrono::milliseconds long_limit() const {
    return std::chrono::milliseconds(opts.long_call_deadline_ms);
  }

  /// The deadline of the call in flight (in run()), else null.
  detail::call_deadline* current = nullptr;

  /// Gives the call in flight `ms` more, up to long_limit() (a commit that
  /// finds, part way, the edges it settles).
  void allow_more(int64_t ms) {
    if (current && ms > 0)
      current->extend_to(std::min(long_limit(), current->limit() + std::chrono::milliseconds(ms)));
  }

  /// Runs `f(connection)`, turning every libpqxx exception into store_error.
  /// After an outage-class failure the connection is dropped so that the next
  /// call reconnects.
  ///
  /// The call (but the connect) has a client-side deadline: `limit`, else
  /// opts.call_deadline_ms. When it passes, the watchdog shuts the socket
  /// down and the call fails as a lost connection (in doubt during COMMIT).
  template <class F>
  auto run(const char* what, F&& f, std::chrono::milliseconds limit = {})
    -> decltype(f(std::declval<pqxx::connection&>())) {
    if (limit.count() == 0)
      limit = std::chrono::milliseconds(opts.call_deadline_ms);
    auto fail = [&](const std::string& msg, bool in_doubt, std::string state,
                    bool local = false) -> store_error {
      const auto cls = local ? store_error_class::data : store_error::classify(state);
      if (cls == store_error_class::outage)
        conn.reset();
      return store_error{std::string{what} + ": " + redact_secrets(msg, dsn),
                         cls != store_error_class::data, in_doubt, std::move(state)};
    };
    // libpq says "connection to server at ... failed: ..." when it cannot
    // connect; other messages of a lost connection are libpqxx's own
    // ("Could not obtain client encoding: not connected").
    auto lost = [](const std::string& msg) {
      return msg.find("connection to server") != std::string::npos
               ? msg
               : "connection to Postgres lost (" + msg.substr(0, msg.find('\n')) + ")";
    };
    std::optional<detail::call_deadline> deadline;
    // Disarms the deadline (before the connection may be closed, so the
    // watchdog never touches a socket number reused meanwhile); true when it
    // had cut the call: whatever libpqxx made of that, Postgres did not
    // answer in time (an outage; in doubt when it was the COMMIT).
    auto cut = [&] {
      const bool fired = deadline && deadline->fired();
      if (deadline)
        limit = deadline->limit(); // as extended, for no_answer()
      current = nullptr;
      deadline.reset();
      return fired;
    };
    auto no_answer = [&] {
      char buf[96];
      std::snprintf(buf, sizeof buf,
                    "no answer from Postgres within %.1f s (client-side deadline); "
                    "connection closed",
                    static_cast<double>(limit.count()) / 1000.0);
      return std::string{buf};
    };
    try {
      auto& c = connection();
      deadline.emplace(c.sock(), limit);
      current = &*deadline;
      auto out = f(c);
      if (cut()) // it answered just as the deadline passed: the socket is gone
        conn.reset();
      return out;
    } catch (const pqxx::in_doubt_error& e) {
      throw fail(cut() ? no_answer() : std::string{e.what()}, true, {});
    } catch (const pqxx::broken_connection& e) {
      throw fail(cut() ? no_answer() : lost(e.what()), false, {});
    } catch (const pqxx::sql_error& e) {
      if (cut())
        throw fail(no_answer(), false, {});
      // An empty SQLSTATE: the server never answered (counts as an outage).
      throw fail(e.what(), false, e.sqlstate());
    } catch (const store_error& e) {
      if (cut() && e.error_class() != store_error_class::fenced)
        throw fail(no_answer(), e.in_doubt(), {});
      throw;
    } catch (const pqxx::failure& e) {
      // Other libpqxx failures come from the connection (lost, no result).
      throw fail(cut() ? no_answer() : lost(e.what()), false, {});
    } catch (const std::exception& e) {
      if (cut())
        throw fail(no_answer(), false, {});
      // A value libpqxx cannot send (a NUL byte in a string, ...).
      throw fail(e.what(), false, {}, true);
    }
  }
};

journal_store::journal_store(const std::string& dsn, journal_options opts)
  : impl_(std::make_unique<impl>()) {
  impl_->dsn = dsn;
  impl_->opts = opts;
  std::vector<std::pair<std::string, std::string>> kv;
  auto add = [&](const char* k, int v) {
    if (v > 0)
      kv.emplace_back(k, std::to_string(v));
  };
  add("connect_timeout", opts.connect_timeout_s);
  if (opts.keepalives_idle_s > 0 || opts.keepalives_interval_s > 0 || opts.keepalives_count > 0)
    kv.emplace_back("keepalives", "1");
  add("keepalives_idle", opts.keepalives_idle_s);
  add("keepalives_interval", opts.keepalives_interval_s);
  add("keepalives_count", opts.keepalives_count);
  add("tcp_user_timeout", opts.tcp_user_timeout_ms);
  impl_->conninfo = dsn_with_defaults(dsn, kv);
  const auto what = "cannot connect to " + redact_dsn(dsn);
  impl_->run(what.c_str(), [](pqxx::connection&) { return 0; });
}

journal_store::~journal_store() = default;

journal_store::journal_store(journal_store&&) noexcept = default;

journal_store& journal_store::operator=(journal_store&&) noexcept = default;

void journal_store::migrate() {
  impl_->run("migrate", [](pqxx::connection& c) {
    detail::apply_migrations(c);
    return 0;
  }, impl_->long_limit());
  impl_->graph.reset(); // asked again at the next commit
  // Today's partition and the next days' (the head does it again at every
  // maintenance tick); events of days without one go to the DEFAULT one.
  ensure_partitions(to_micros(now()));
}

int journal_store::schema_version() {
  return impl_->run("schema_version",
                    [](pqxx::connection& c) { return detail::current_schema_version(c); });
}

namespace {

nlohmann::json result_json(const journal_store::batch_result& r) {
  nlohmann::json j{{"ids", r.submitted_ids}, {"existing", r.existing}, {"applied", r.applied}};
  // Dependencies: the ids only; a replay reads the rows (result_of).
  auto ids = [](const std::vector<task_record>& v) {
    std::vector<int64_t> out;
    for (const auto& t : v)
      out.push_back(t.id);
    return out;
  };
  if (!r.released.empty() || !r.settled.empty() || !r.rewaited.empty()) {
    j["released"] = ids(r.released);
    j["settled"] = ids(r.settled);
    j["rewaited"] = r.rewaited;
  }
  return j;
}

journal_store::batch_result result_of(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  journal_store::batch_result r;
  r.submitted_ids = j.at("ids").get<std::vector<int64_t>>();
  r.existing = j.at("existing").get<std::vector<bool>>();
  r.applied = j.at("applied").get<std::vector<bool>>();
  return r;
}

/// A logged result with the rows of the tasks its commit released/settled.
journal_store::batch_result result_of(pqxx::transaction_base& tx, const std::string& text) {
  auto r = result_of(text);
  const auto j = nlohmann::json::parse(text);
  if (j.contains("released")) {
    r.released = detail::read_tasks(tx, j.at("released").get<std::vector<int64_t>>());
    r.settled = detail::read_tasks(tx, j.at("settled").get<std::vector<int64_t>>());
    r.rewaited = j.at("rewaited").get<std::vector<int64_t>>();
  }
  return r;
}

} // namespace

std::string journal_store::new_commit_id() {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx",
                static_cast<unsigned long long>(gen()),
                static_cast<unsigned long long>(gen()));
  return buf;
}

journal_store::batch_result journal_store::commit(const batch& b,
                                                  const std::string& commit_id) {
  if (b.empty())
    return {};
  auto logged = [&](pqxx::connection& c) -> std::optional<batch_result> {
    pqxx::read_transaction rtx{c};
    auto prev = rtx.exec_params("SELECT result::text FROM commit_log WHERE id = $1",
                                commit_id);
    if (prev.empty())
      return std::nullopt;
    return result_of(rtx, prev[0][0].as<std::string>());
  };
  // A graph takes longer by design: the edges of submits with parents are
  // written and checked, and the children of the tasks this batch ends are
  // settled, in the same commit: 1 ms more per edge, at most the long
  // deadline (a 10,000-task fan-out or fan-in: 10,000 to 20,000 edges).
  // The submits' edges are known here; the children's once the settling
  // has read them (allow_more), which spares every commit that ends tasks
  // a transaction of its own to count them first.
  std::chrono::milliseconds limit{0};
  int64_t edges = 0;
  for (const auto& it : b.submits)
    edges += static_cast<int64_t>(it.spec.after.size());
  // A journal before schema 7 (a store used before migrate()) has no graph.
  if (!impl_->graph)
    impl_->graph = impl_->run("commit", [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      return tx.exec1("SELECT to_regclass('task_edges') IS NOT NULL")[0].as<bool>();
    });
  const bool graph = *impl_->graph;
  if (edges > 0)
    limit = std::min(impl_->long_limit(),
                     std::chrono::milliseconds(impl_->opts.call_deadline_ms + edges));
  const auto allow_more = [this](int64_t n) { impl_->allow_more(n); };
  const bool retried = !commit_id.empty() && commit_id == impl_->failed_commit_id;
  impl_->failed_commit_id = commit_id;
  auto res = impl_->run("commit", [&](pqxx::connection& c) {
    // A commit retried after an in-doubt or broken one: did the first go
    // through? (One still running server-side makes the INSERT below wait
    // for it, then fail on the key: read the log again then.)
    if (retried)
      if (auto prev = logged(c))
        return *prev;
    try {
      pqxx::work tx{c};
      impl_->check_fence(tx);
      TASKRT_FAULT_HOOK(
        TASKRT_FAULT_ACTIVE(impl_->opts.fault, fault_point::stop_in_commit)
          && !b.transitions.empty() && !impl_->stopped_once,
        impl_->stopped_once = true;
        std::fprintf(stderr, "taskrt: fault stop_in_commit: stopped inside a commit\n");
        std::fflush(stderr);
        ::raise(SIGSTOP););
      auto out = detail::write_batch(tx, b, graph, allow_more);
      if (!commit_id.empty()) {
        tx.exec_params("INSERT INTO commit_log (id, result) VALUES ($1, $2::jsonb)",
                       commit_id, result_json(out).dump());
        if (++impl_->logged_commits % 256 == 0)
          tx.exec("DELETE FROM commit_log WHERE at < now() - interval '10 minutes'");
      }
      tx.commit();
      return out;
    } catch (const pqxx::unique_violation& e) {
      if (commit_id.empty() || std::string{e.what()}.find("commit_log_pkey") == std::string::npos)
        throw;
      if (auto prev = logged(c))
        return *prev;
      throw;
    }
  }, limit);
  impl_->failed_commit_id.clear();
  return res;
}

int64_t journal_store::next_head_generation() {
  return impl_->run("next_head_generation", [this](pqxx::connection& c) {
    pqxx::work tx{c};
    auto v = tx.exec1("UPDATE head_generation SET value = value + 1 RETURNING value")[0]
               .as<int64_t>();
    tx.commit();
    impl_->generation = v;
    return v;
  });
}

int64_t journal_store::fence_generation() const {
  return impl_->generation;
}

void journal_store::fence_on(int64_t generation) {
  impl_->generation = generation;
}

std::vector<task_record> journal_store::load_unfinished() {
  return impl_->run("load_unfinished", [](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    tx.exec("SET LOCAL statement_timeout = 0"); // recovery must finish
    std::vector<task_record> out;
    // A FAILED/LOST task is half-done when its newest fail/lose event has no
    // "decision" and no retry_decision note after it gave up. Live tasks come
    // from the index of live tasks, the half-done candidates from the partial
    // index of rare events (fail/lose events without a decision): no scan
    // of either table.
    const auto sql
      = "SELECT " + detail::task_columns() + " FROM tasks t WHERE live"
        " UNION ALL SELECT " + detail::task_columns() + " FROM tasks t"
        " WHERE NOT live AND state IN ('FAILED', 'LOST') AND id IN ("
        "   SELECT task_id FROM task_events WHERE kind IN ('fail', 'lose')"
        "   AND NOT (detail ? 'decision'))"
        " AND " + detail::half_done("t") + " ORDER BY id";
    for (const auto& r : tx.exec(sql))
      out.push_back(detail::task_from_row(r));
    return out;
  }, impl_->long_limit());
}

/// Statistics of `tasks` taken before a burst of writes (a million submits
/// since the last ANALYZE, autovacuum not there yet) give plans that sort or
/// scan whole queues; recovery analyzes first then (a sample: well under a
/// second for millions of rows). Returns the rows changed since the last
/// analyze when it analyzed, else 0.
static int64_t analyze_if_stale(pqxx::connection& c) {
  int64_t changed = 0;
  double rows = 0;
  {
    pqxx::read_transaction tx{c};
    auto r = tx.exec("SELECT s.n_mod_since_analyze, c.reltuples FROM pg_stat_user_tables s"
                     " JOIN pg_class c ON c.oid = s.relid WHERE s.relid = 'tasks'::regclass");
    if (r.empty())
      return 0;
    changed = r[0][0].as<int64_t>();
    rows = r[0][1].as<double>();
  }
  if (changed < 50'000 || static_cast<double>(changed) < rows / 5)
    return 0;
  pqxx::nontransaction nt{c};
  nt.exec("ANALYZE tasks");
  return changed;
}

journal_store::windowed_load journal_store::load_windowed(int64_t now_us, size_t window,
                                                          int64_t horizon_us) {
  return impl_->run("load_windowed", [&](pqxx::connection& c) {
    windowed_load out;
    out.analyzed_changes = analyze_if_stale(c);
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx{c};
    tx.exec("SET LOCAL statement_timeout = 0"); // recovery must finish
    // The windows are index walks; a sort of a whole queue is never better.
    tx.exec("SET LOCAL enable_sort = off");
    const auto now = detail::ts_lit(now_us);
    const auto due = "state = 'QUEUED' AND run_at <= " + now + " AND NOT cancel_requested";
    const auto later = "state = 'QUEUED' AND run_at > " + detail::ts_lit(horizon_us)
                       + " AND NOT cancel_requested";
    // Everything live but the due QUEUED tasks, and the half-done ones (as
    // load_unfinished()).
    const auto rest
      = "SELECT " + detail::task_columns() + " FROM tasks t WHERE live AND NOT (" + due + ")"
        " AND NOT (" + later + ")"
        " UNION ALL SELECT " + detail::task_columns() + " FROM tasks t"
        " WHERE NOT live AND state IN ('FAILED', 'LOST') AND id IN ("
        "   SELECT task_id FROM task_events WHERE kind IN ('fail', 'lose')"
        "   AND NOT (detail ? 'decision'))"
        " AND " + detail::half_done("t");
    for (const auto& r : tx.exec(rest))
      out.tasks.push_back(detail::task_from_row(r));
    // The queues with live tasks, one index probe each (a loose index scan),
    // then the first `window` due tasks of each, in order.
    const auto windows
      = "WITH RECURSIVE q(queue) AS ("
        " (SELECT queue FROM tasks WHERE live ORDER BY queue LIMIT 1)"
        " UNION ALL SELECT (SELECT t.queue FROM tasks t WHERE t.live AND t.queue > q.queue"
        "   ORDER BY t.queue LIMIT 1) FROM q WHERE q.queue IS NOT NULL)"
        " SELECT w.* FROM q CROSS JOIN LATERAL (SELECT " + detail::task_columns()
        + " FROM tasks t WHERE live AND t.queue = q.queue AND " + due
        + " ORDER BY priority DESC, run_at, id LIMIT " + std::to_string(window) + ") w"
        " WHERE q.queue IS NOT NULL";
    for (const auto& r : tx.exec(windows))
      out.tasks.push_back(detail::task_from_row(r));
    // Both counts in one pass over the live rows.
    for (const auto& r : tx.exec("SELECT queue, count(*) FILTER (WHERE " + due + "),"
                                 " count(*) FILTER (WHERE " + later + ")"
                                 " FROM tasks WHERE live GROUP BY queue")) {
      if (const auto n = r[1].as<int64_t>(); n > 0)
        out.due[r[0].as<std::string>()] = n;
      out.later += r[2].as<int64_t>();
    }
    out.max_id = tx.exec1("SELECT coalesce(max(id), 0) FROM tasks")[0].as<int64_t>();
    // A WAITING task has parents: counted from the edges' children, so the
    // count reads the tasks of graphs, not the whole table.
    out.waiting = tx.exec1("SELECT count(*) FROM tasks t WHERE t.id IN (SELECT DISTINCT child_id"
                           " FROM task_edges) AND t.state = 'WAITING'")[0]
                    .as<int64_t>();
    return out;
  }, impl_->long_limit());
}

std::vector<task_record> journal_store::queued_between(int64_t after_us, int64_t until_us) {
  return impl_->run("queued_between", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<task_record> out;
    for (const auto& r : tx.exec("SELECT " + detail::task_columns() + " FROM tasks t WHERE live"
                                 " AND run_at > " + detail::ts_lit(after_us) + " AND run_at <= "
                                 + detail::ts_lit(until_us) + " AND state = 'QUEUED'"
                                 " AND NOT cancel_requested ORDER BY run_at"))
      out.push_back(detail::task_from_row(r));
    return out;
  });
}

std::vector<task_record> journal_store::queued_after(const std::string& queue,
                                                     const std::optional<queue_position>& after,
                                                     int64_t now_us, size_t limit) {
  return impl_->run("queued_after", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    tx.exec("SET LOCAL enable_sort = off"); // an index walk, as for recovery
    const auto head = "SELECT " + detail::task_columns() + " FROM tasks t WHERE live AND queue = "
                      + tx.quote(queue) + " AND state = 'QUEUED' AND run_at <= "
                      + detail::ts_lit(now_us) + " AND NOT cancel_requested";
    std::vector<task_record> out;
    auto read = [&](const std::string& where, const std::string& order) {
      if (out.size() >= limit)
        return;
      for (const auto& r : tx.exec(head + where + " ORDER BY " + order + " LIMIT "
                                   + std::to_string(limit - out.size())))
        out.push_back(detail::task_from_row(r));
    };
    if (!after) {
      read("", "priority DESC, run_at, id");
      return out;
    }
    // Two range scans of the index: the rest of the same priority, then the
    // lower ones (one condition mixing both directions would be a filter).
    const auto p = std::to_string(after->priority);
    read(" AND priority = " + p + " AND (run_at, id) > (" + detail::ts_lit(after->run_at_us)
           + ", " + std::to_string(after->id) + ")",
         "run_at, id");
    read(" AND priority < " + p, "priority DESC, run_at, id");
    return out;
  });
}

std::map<int64_t, std::string>
journal_store::latest_checkpoints(const std::vector<int64_t>& task_ids) {
  std::map<int64_t, std::string> out;
  if (task_ids.empty())
    return out;
  return impl_->run("latest_checkpoints", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    detail::array_literal ids;
    for (auto id : task_ids)
      ids.add(id);
    for (const auto& r : tx.exec("SELECT DISTINCT ON (task_id) task_id, data FROM checkpoints"
                                 " WHERE task_id = ANY(" + ids.sql(tx, "bigint") + ")"
                                 " ORDER BY task_id, id DESC"))
      out[r[0].as<int64_t>()] = r[1].as<std::string>();
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
  upsert_nodes({n});
}

void journal_store::upsert_nodes(const std::vector<node_row>& ns) {
  if (ns.empty())
    return;
  // ON CONFLICT may touch a row once per statement: the last row of an id wins.
  std::map<std::string, const node_row*> last;
  for (const auto& n : ns)
    last[n.id] = &n;
  impl_->run("upsert_nodes", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    impl_->check_fence(tx);
    detail::array_literal id, address, slots, running, state, hb, started;
    for (const auto& [k, n] : last) {
      id.add(n->id);
      address.add(n->address);
      slots.add(int64_t{n->slots});
      running.add(int64_t{n->running});
      state.add(n->state);
      hb.add(detail::ts_text(n->last_heartbeat_us));
      started.add(detail::ts_text(n->started_us));
    }
    tx.exec0("INSERT INTO nodes (id, address, slots, running, state, last_heartbeat,"
             " started) SELECT * FROM unnest(" + id.sql(tx, "text") + ", "
             + address.sql(tx, "text") + ", " + slots.sql(tx, "integer") + ", "
             + running.sql(tx, "integer") + ", " + state.sql(tx, "text") + ", "
             + hb.sql(tx, "timestamptz") + ", " + started.sql(tx, "timestamptz")
             + ") ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address,"
               " slots = EXCLUDED.slots, running = EXCLUDED.running,"
               " state = EXCLUDED.state, last_heartbeat = EXCLUDED.last_heartbeat,"
               " started = EXCLUDED.started");
    tx.commit();
    return 0;
  });
}

int64_t journal_store::prune_nodes(int64_t older_than_us) {
  return impl_->run("prune_nodes", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    impl_->check_fence(tx);
    auto n = tx.exec("DELETE FROM nodes WHERE state IN ('DEAD', 'LEFT') AND last_heartbeat < "
                     + detail::ts_lit(older_than_us))
               .affected_rows();
    tx.commit();
    return static_cast<int64_t>(n);
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

std::optional<progress_row> journal_store::progress(int64_t task_id) {
  return impl_->run("progress", [&](pqxx::connection& c) -> std::optional<progress_row> {
    pqxx::read_transaction tx{c};
    // Through to_jsonb(row): a journal below schema 15 reads as no progress.
    auto res = tx.exec_params("SELECT (p->>'attempt')::int, p->'value', (p->>'at_us')::bigint"
                              " FROM (SELECT to_jsonb(t)->'progress' AS p FROM tasks t"
                              " WHERE id = $1) x WHERE jsonb_typeof(p) = 'object'",
                              task_id);
    if (res.empty())
      return std::nullopt;
    return progress_row{res[0][0].as<int32_t>(), res[0][1].as<std::string>(),
                        res[0][2].as<int64_t>()};
  });
}

namespace {

const char* const final_states = "state IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'LOST')";

} // namespace

int64_t journal_store::purge(const task_filter& f, const progress_fn& progress, int batch) {
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
    std::string cond;
    {
      pqxx::nontransaction quoting{c};
      cond = detail::where_clause(quoting, g).substr(std::string{" WHERE "}.size());
    }
    retention_result r;
    detail::delete_tasks(c, cond, "'-infinity'", batch, f.limit, progress, r);
    return r.tasks_deleted;
  }, impl_->long_limit());
}

std::vector<std::string> journal_store::ensure_partitions(int64_t now_us, int days_ahead) {
  return impl_->run("ensure_partitions", [&](pqxx::connection& c) {
    return detail::ensure_partitions(c, now_us, days_ahead);
  }, impl_->long_limit());
}

std::vector<partition_info> journal_store::partitions() {
  return impl_->run("partitions", [](pqxx::connection& c) { return detail::list_partitions(c); });
}

retention_result journal_store::apply_retention(int64_t cutoff_us, const retention_options& o) {
  return impl_->run("retention", [&](pqxx::connection& c) {
    const auto t0 = std::chrono::steady_clock::now();
    retention_result r;
    const auto cutoff = detail::ts_lit(cutoff_us);
    // Events of the deleted tasks in the partitions that stay (with
    // delete_events): those from the end of the newest one dropped now on.
    std::string events_from;
    if (o.delete_events) {
      events_from = "'-infinity'";
      for (const auto& p : detail::list_partitions(c))
        if (p.to_us <= cutoff_us - 3'600'000'000)
          events_from = detail::ts_lit(p.to_us);
    }
    // A FAILED/LOST task an older version left without its retry decision
    // stays: the head's recovery decides it (it may be retried).
    detail::delete_tasks(c,
                         std::string{final_states} + " AND updated_at < " + cutoff
                           + " AND created_at < " + cutoff
                           + " AND NOT (state IN ('FAILED', 'LOST') AND "
                           + detail::half_done("tasks") + ")",
                         events_from, o.batch, 0, o.progress, r);
    detail::drop_old_partitions(c, cutoff_us, o.progress, r);
    detail::clean_default_partition(c, cutoff_us, o.batch, r);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }, impl_->long_limit());
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
      row.state = detail::state_of(r["state"].as<std::string>(), "tasks.state");
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

std::vector<event_kind_count>
journal_store::event_counts_since(int64_t since_us, const std::vector<event_kind>& kinds) {
  return impl_->run("event_counts_since", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::string only;
    for (const auto& k : kinds)
      only += (only.empty() ? " AND kind IN (" : ", ") + tx.quote(to_string(k));
    if (!only.empty())
      only += ")";
    std::vector<event_kind_count> out;
    for (const auto& r : tx.exec("SELECT kind, count(*) AS n FROM task_events WHERE true"
                                 + since_cond(since_us) + only
                                 + " GROUP BY kind ORDER BY kind"))
      out.push_back({detail::event_kind_of(r["kind"].as<std::string>()), r["n"].as<int64_t>()});
    return out;
  });
}

queue_age journal_store::queued_age(int64_t now_us) {
  return impl_->run("queued_age", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    const auto now = detail::ts_lit(now_us);
    auto r = tx.exec1("SELECT count(*) FILTER (WHERE run_at <= " + now + "),"
                      " count(*) FILTER (WHERE run_at > " + now + "), "
                      + detail::us_of("min(greatest(created_at, run_at)) FILTER (WHERE run_at <= "
                                      + now + ")")
                      + ", " + detail::us_of("min(run_at) FILTER (WHERE run_at > " + now + ")")
                      + " FROM tasks WHERE live AND state = 'QUEUED'");
    queue_age out;
    out.ready = r[0].as<int64_t>();
    out.scheduled = r[1].as<int64_t>();
    if (!r[2].is_null())
      out.oldest_ready_since_us = r[2].as<int64_t>();
    if (!r[3].is_null())
      out.next_scheduled_us = r[3].as<int64_t>();
    return out;
  });
}

state_counts journal_store::count_by_state() {
  return impl_->run("count_by_state", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    state_counts out;
    auto set = [&](const std::string& state, int64_t n) {
      switch (detail::state_of(state, "tasks.state")) {
        case task_state::queued: out.queued = n; break;
        case task_state::running: out.running = n; break;
        case task_state::succeeded: out.succeeded = n; break;
        case task_state::failed: out.failed = n; break;
        case task_state::cancelled: out.cancelled = n; break;
        case task_state::lost: out.lost = n; break;
        case task_state::waiting: out.waiting = n; break;
      }
    };
    // Live tasks: exact, through their index.
    for (const auto& r : tx.exec("SELECT state, count(*) FROM tasks WHERE live GROUP BY state"))
      set(r[0].as<std::string>(), r[1].as<int64_t>());
    // The rows Postgres expects now: its last count (reltuples) scaled to
    // the table's present size, as the planner does.
    const auto size = tx.exec1(
      "SELECT pg_relation_size(c.oid) AS bytes, c.reltuples AS tuples, c.relpages AS pages,"
      " current_setting('block_size')::bigint AS block FROM pg_class c"
      " WHERE c.oid = 'tasks'::regclass");
    const auto bytes = size["bytes"].as<int64_t>();
    const auto tuples = size["tuples"].as<double>();
    const auto pages = size["pages"].as<int64_t>();
    constexpr int64_t small_table = 32 << 20; // counted exactly below this size
    if (bytes < small_table || tuples < 0 || pages <= 0) {
      for (const auto& r : tx.exec("SELECT state, count(*) FROM tasks WHERE NOT live"
                                   " GROUP BY state"))
        set(r[0].as<std::string>(), r[1].as<int64_t>());
      return out;
    }
    const double rows = tuples / static_cast<double>(pages)
                        * static_cast<double>(bytes / size["block"].as<int64_t>());
    // Share of each state: the most common values ANALYZE found for tasks.state.
    const auto freqs = tx.exec(
      "SELECT u.v, u.f FROM pg_stats s, unnest(s.most_common_vals::text::text[],"
      " s.most_common_freqs) AS u(v, f) WHERE s.schemaname = (SELECT n.nspname"
      " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
      " WHERE c.oid = 'tasks'::regclass) AND s.tablename = 'tasks' AND s.attname = 'state'");
    out.estimated = true;
    for (const auto& r : freqs) {
      const auto st = parse_task_state(r[0].as<std::string>());
      if (st && *st != task_state::queued && *st != task_state::running)
        set(r[0].as<std::string>(), static_cast<int64_t>(rows * r[1].as<double>() + 0.5));
    }
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

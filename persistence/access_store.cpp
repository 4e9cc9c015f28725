#include "taskrt/persistence/access_store.hpp"

#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/detail/sql_text.hpp"
#include "taskrt/persistence/dsn.hpp"
#include "taskrt/persistence/store_error.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <poll.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>

namespace taskrt {

const char* to_string(api_role r) {
  return r == api_role::operator_ ? "operator" : "viewer";
}

std::optional<api_role> parse_api_role(const std::string& text) {
  if (text == "viewer")
    return api_role::viewer;
  if (text == "operator")
    return api_role::operator_;
  return std::nullopt;
}

struct access_store::impl {
  /// Counts the notifications on the events channel.
  struct receiver : pqxx::notification_receiver {
    receiver(pqxx::connection_base& c, uint64_t& heard)
      : pqxx::notification_receiver(c, access_store::events_channel), heard_(heard) {}
    void operator()(const std::string&, int) override { ++heard_; }
    uint64_t& heard_;
  };

  std::string dsn;
  std::string conninfo;
  journal_options opts;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<receiver> rx; ///< LISTENing on conn (destroyed before it)
  uint64_t heard = 0;           ///< notifications not yet reported by wait_events
  std::atomic<uint64_t> statements{0};

  /// Forgets the connection (and the LISTEN on it): the next call reconnects.
  void drop() {
    rx.reset();
    conn.reset();
  }

  pqxx::connection& connection() {
    if (!conn) {
      auto c = std::make_unique<pqxx::connection>(conninfo);
      pqxx::nontransaction tx{*c};
      tx.exec("SET statement_timeout = 5000");
      conn = std::move(c);
    }
    return *conn;
  }

  /// Runs `f(connection)`, turning libpqxx exceptions into store_error; an
  /// outage drops the connection so that the next call reconnects.
  /// Counts one statement unless `counts` is false (waiting for a notification).
  template <class F>
  auto run(const char* what, F&& f, bool counts = true)
    -> decltype(f(std::declval<pqxx::connection&>())) {
    if (counts)
      ++statements;
    auto fail = [&](const std::string& msg, const std::string& state) {
      const auto cls = store_error::classify(state);
      if (cls == store_error_class::outage)
        drop();
      return store_error{std::string{what} + ": " + redact_secrets(msg, dsn),
                         cls != store_error_class::data, false, state};
    };
    try {
      return f(connection());
    } catch (const pqxx::sql_error& e) {
      throw fail(e.what(), e.sqlstate());
    } catch (const pqxx::failure& e) {
      throw fail(e.what(), {});
    } catch (const store_error&) {
      throw;
    } catch (const std::exception& e) {
      drop();
      throw store_error{std::string{what} + ": " + redact_secrets(e.what(), dsn), false};
    }
  }
};

access_store::access_store(const std::string& dsn, journal_options opts)
  : impl_(std::make_unique<impl>()) {
  impl_->dsn = dsn;
  impl_->opts = opts;
  impl_->conninfo = dsn_with_defaults(
    dsn, {{"connect_timeout", std::to_string(std::max(2, opts.connect_timeout_s))},
          {"keepalives", "1"},
          {"keepalives_idle", std::to_string(opts.keepalives_idle_s)},
          {"tcp_user_timeout", std::to_string(opts.tcp_user_timeout_ms)}});
}

access_store::~access_store() = default;

std::string access_store::new_secret() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1)
    throw store_error{"no random bytes from OpenSSL", false};
  static const char* const alphabet
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "trt_";
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : raw) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0)
    out += alphabet[(acc << (6 - bits)) & 63];
  return out;
}

std::string access_store::sha256_hex(const std::string& text) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
  static const char* const hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof md);
  for (unsigned char b : md) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string access_store::add_token(const std::string& name, api_role role,
                                    const std::string& created_by) {
  auto secret = new_secret();
  impl_->run("add token", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    // A revoked token's name may be given again (a new secret).
    auto res = tx.exec_params(
      "INSERT INTO api_tokens (name, role, hash, created_by) VALUES ($1, $2, $3, $4)"
      " ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash,"
      " created_by = excluded.created_by, created_at = now(), revoked_at = NULL"
      " WHERE api_tokens.revoked_at IS NOT NULL",
      name, std::string{to_string(role)}, sha256_hex(secret), created_by);
    if (res.affected_rows() != 1)
      throw store_error{"a token named '" + name + "' exists (taskrt tokens revoke " + name
                          + " first)",
                        false, false, "23505"};
    tx.commit();
    return 0;
  });
  return secret;
}

std::vector<api_token_row> access_store::tokens() {
  return impl_->run("list tokens", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<api_token_row> out;
    for (const auto& r : tx.exec("SELECT name, role, " + detail::us_of("created_at")
                                 + ", coalesce(created_by, ''), coalesce("
                                 + detail::us_of("revoked_at") + ", 0)"
                                   " FROM api_tokens ORDER BY name")) {
      api_token_row t;
      t.name = r[0].as<std::string>();
      t.role = parse_api_role(r[1].as<std::string>()).value_or(api_role::viewer);
      t.created_us = r[2].as<int64_t>();
      t.created_by = r[3].as<std::string>();
      t.revoked_us = r[4].as<int64_t>();
      out.push_back(std::move(t));
    }
    return out;
  });
}

bool access_store::revoke_token(const std::string& name) {
  return impl_->run("revoke token", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    auto res = tx.exec_params("UPDATE api_tokens SET revoked_at = now()"
                              " WHERE name = $1 AND revoked_at IS NULL",
                              name);
    tx.commit();
    return res.affected_rows() == 1;
  });
}

std::optional<api_principal> access_store::find_token(const std::string& secret) {
  return impl_->run("find token", [&](pqxx::connection& c) -> std::optional<api_principal> {
    pqxx::read_transaction tx{c};
    auto res = tx.exec_params("SELECT name, role FROM api_tokens"
                              " WHERE hash = $1 AND revoked_at IS NULL",
                              sha256_hex(secret));
    if (res.empty())
      return std::nullopt;
    return api_principal{res[0][0].as<std::string>(),
                         parse_api_role(res[0][1].as<std::string>()).value_or(api_role::viewer)};
  });
}

std::string access_store::add_login(const std::string& name, api_role role, double valid_s,
                                    double session_ttl_s) {
  auto secret = new_secret();
  impl_->run("add login", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    tx.exec("DELETE FROM api_logins WHERE expires_at < now()");
    tx.exec("DELETE FROM api_sessions WHERE expires_at < now()");
    tx.exec_params("INSERT INTO api_logins (hash, name, role, expires_at, session_ttl_s)"
                   " VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5)",
                   sha256_hex(secret), name, std::string{to_string(role)}, valid_s,
                   session_ttl_s);
    tx.commit();
    return 0;
  });
  return secret;
}

std::optional<access_store::opened_session> access_store::open_session(
  const std::string& login_secret) {
  return impl_->run("open session", [&](pqxx::connection& c) -> std::optional<opened_session> {
    pqxx::work tx{c};
    // DELETE ... RETURNING: a login link opens one session, however many
    // requests race for it.
    auto res = tx.exec_params("DELETE FROM api_logins WHERE hash = $1"
                              " RETURNING name, role, expires_at >= now(), session_ttl_s",
                              sha256_hex(login_secret));
    if (res.empty() || !res[0][2].as<bool>()) {
      tx.commit();
      return std::nullopt;
    }
    opened_session s;
    s.secret = new_secret();
    s.who = {res[0][0].as<std::string>(),
             parse_api_role(res[0][1].as<std::string>()).value_or(api_role::viewer)};
    s.ttl_s = res[0][3].as<double>();
    tx.exec_params("INSERT INTO api_sessions (hash, name, role, expires_at)"
                   " VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                   sha256_hex(s.secret), s.who.name, std::string{to_string(s.who.role)},
                   s.ttl_s);
    tx.commit();
    return s;
  });
}

std::optional<api_principal> access_store::find_session(const std::string& secret) {
  return impl_->run("find session", [&](pqxx::connection& c) -> std::optional<api_principal> {
    pqxx::read_transaction tx{c};
    auto res = tx.exec_params("SELECT name, role FROM api_sessions"
                              " WHERE hash = $1 AND expires_at > now()",
                              sha256_hex(secret));
    if (res.empty())
      return std::nullopt;
    return api_principal{res[0][0].as<std::string>(),
                         parse_api_role(res[0][1].as<std::string>()).value_or(api_role::viewer)};
  });
}

void access_store::end_session(const std::string& secret) {
  impl_->run("end session", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    tx.exec_params("DELETE FROM api_sessions WHERE hash = $1", sha256_hex(secret));
    tx.commit();
    return 0;
  });
}

std::optional<access_store::key_use> access_store::find_key(const std::string& key) {
  return impl_->run("find idempotency key", [&](pqxx::connection& c) -> std::optional<key_use> {
    pqxx::read_transaction tx{c};
    auto res = tx.exec_params("SELECT body_hash, task_id FROM api_idempotency WHERE key = $1",
                              key);
    if (res.empty())
      return std::nullopt;
    return key_use{res[0][0].as<std::string>(), res[0][1].as<int64_t>()};
  });
}

access_store::key_use access_store::record_key(const std::string& key,
                                               const std::string& body_hash, int64_t task_id) {
  return impl_->run("record idempotency key", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    tx.exec_params("INSERT INTO api_idempotency (key, body_hash, task_id) VALUES ($1, $2, $3)"
                   " ON CONFLICT (key) DO NOTHING",
                   key, body_hash, task_id);
    auto r = tx.exec_params1("SELECT body_hash, task_id FROM api_idempotency WHERE key = $1",
                             key);
    tx.commit();
    return key_use{r[0].as<std::string>(), r[1].as<int64_t>()};
  });
}

std::optional<int64_t> access_store::task_for_key(const std::string& key) {
  return impl_->run("find task by key", [&](pqxx::connection& c) -> std::optional<int64_t> {
    pqxx::read_transaction tx{c};
    auto res = tx.exec_params("SELECT id FROM tasks WHERE key = $1", key);
    if (res.empty())
      return std::nullopt;
    return res[0][0].as<int64_t>();
  });
}

void access_store::audit(const api_principal& who, const std::string& method,
                         const std::string& path, int status, const std::string& detail_json) {
  impl_->run("audit", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    tx.exec_params("INSERT INTO api_audit (who, role, method, path, status, detail)"
                   " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
                   who.name, std::string{to_string(who.role)}, method, path, status,
                   detail_json.empty() ? std::string{"{}"} : detail_json);
    tx.commit();
    return 0;
  });
}

access_store::purge_result access_store::purge_expired(int64_t keys_before_us,
                                                       int64_t audit_before_us, int batch) {
  purge_result r;
  // Oldest first, `batch` rows per transaction, through the indexes of
  // migration 14: a long backlog never holds one long transaction.
  auto drain = [&](const char* what, const std::string& sql, int64_t before_us) {
    int64_t total = 0;
    for (;;) {
      const auto n = impl_->run(what, [&](pqxx::connection& c) {
        pqxx::work tx{c};
        const auto res = tx.exec_params(sql, detail::ts_text(before_us), batch);
        tx.commit();
        return static_cast<int64_t>(res.affected_rows());
      });
      total += n;
      if (n < batch)
        return total;
    }
  };
  r.keys = drain("purge idempotency keys",
                 "DELETE FROM api_idempotency WHERE key IN (SELECT key FROM api_idempotency"
                 " WHERE created_at < $1::timestamptz"
                 " ORDER BY created_at LIMIT $2)",
                 keys_before_us);
  if (audit_before_us > 0)
    r.audit = drain("purge audit rows",
                    "DELETE FROM api_audit WHERE id IN (SELECT id FROM api_audit"
                    " WHERE at < $1::timestamptz ORDER BY at LIMIT $2)",
                    audit_before_us);
  impl_->run("purge expired sessions", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    r.logins = static_cast<int64_t>(
      tx.exec("DELETE FROM api_logins WHERE expires_at < now()").affected_rows());
    r.sessions = static_cast<int64_t>(
      tx.exec("DELETE FROM api_sessions WHERE expires_at < now()").affected_rows());
    tx.commit();
    return 0;
  });
  return r;
}

feed_barrier access_store::take_barrier() {
  return impl_->run("feed barrier", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    // The sequence first, the lock table after it. nextval takes a
    // RowExclusiveLock on the sequence that its transaction holds until it
    // ends, so every transaction that drew an id up to last_id and still
    // runs is listed here, whether or not it has an xid yet.
    auto seq = tx.exec1("SELECT CASE WHEN is_called THEN last_value ELSE 0 END"
                        " FROM task_events_id_seq");
    auto run = tx.exec1(
      "SELECT coalesce(array_agg(virtualtransaction), '{}')::text, "
      + detail::us_of("clock_timestamp()")
      + " FROM pg_locks WHERE locktype = 'relation'"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND relation = 'task_events_id_seq'::regclass AND mode = 'RowExclusiveLock'"
        " AND granted AND pid <> pg_backend_pid()");
    return feed_barrier{seq[0].as<int64_t>(), run[0].as<std::string>(), run[1].as<int64_t>()};
  });
}

bool access_store::barrier_settled(const feed_barrier& b) {
  if (b.running == "{}")
    return true; // no statement needed
  return impl_->run("feed barrier", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    return tx
      .exec_params1("SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'virtualxid'"
                    " AND virtualxid = ANY($1::text[]))",
                    b.running)[0]
      .as<bool>();
  });
}

std::vector<feed_event> access_store::events_between(int64_t after_id, int64_t up_to_id,
                                                     int limit) {
  return impl_->run("event feed", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::vector<feed_event> out;
    for (const auto& r : tx.exec_params(
           "SELECT ev.*, coalesce(t.name, '') AS task_name FROM (SELECT "
             + detail::event_columns()
             + " FROM task_events WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3) ev"
               " LEFT JOIN tasks t ON t.id = ev.task_id ORDER BY ev.id",
           after_id, up_to_id, limit))
      out.push_back({detail::event_from_row(r), r["task_name"].as<std::string>()});
    return out;
  });
}

bool access_store::wait_events(int wake_fd, std::chrono::milliseconds timeout) {
  return impl_->run(
    "event feed wait",
    [&](pqxx::connection& c) {
      if (!impl_->rx) {
        // A new connection: LISTEN (one statement). What committed before
        // it was not announced here, so the caller reads.
        ++impl_->statements;
        impl_->rx = std::make_unique<impl::receiver>(c, impl_->heard);
        impl_->heard = 0;
        return true;
      }
      auto heard = [&] {
        const bool any = impl_->heard > 0;
        impl_->heard = 0;
        return any;
      };
      c.get_notifs(); // ones that came in with earlier answers
      if (heard())
        return true;
      pollfd fds[2] = {{c.sock(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
      const int n = ::poll(fds, wake_fd >= 0 ? 2 : 1,
                           static_cast<int>(std::max<int64_t>(0, timeout.count())));
      if (n < 0 && errno != EINTR)
        throw std::runtime_error(std::string{"poll: "} + std::strerror(errno));
      if (n > 0 && fds[0].revents != 0) {
        c.get_notifs(); // throws broken_connection when the server is gone
        if (!c.is_open())
          throw pqxx::broken_connection{"the journal connection closed"};
      }
      return heard();
    },
    false);
}

uint64_t access_store::statements() const {
  return impl_->statements.load();
}

int64_t access_store::last_event_id() {
  return impl_->run("event feed", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    return tx.exec1("SELECT coalesce(max(id), 0) FROM task_events")[0].as<int64_t>();
  });
}

std::vector<access_store::queue_stat> access_store::queue_stats(double window_s) {
  return impl_->run("queue stats", [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    std::map<std::string, queue_stat> by;
    for (const auto& r : tx.exec(
           "SELECT queue,"
           " count(*) FILTER (WHERE state = 'QUEUED' AND run_at <= now()),"
           " count(*) FILTER (WHERE state = 'QUEUED' AND run_at > now()),"
           " count(*) FILTER (WHERE state = 'RUNNING'),"
           " coalesce(" + detail::us_of("min(greatest(created_at, run_at)) FILTER"
                                        " (WHERE state = 'QUEUED' AND run_at <= now())")
           + ", 0) FROM tasks WHERE live GROUP BY queue")) {
      auto& q = by[r[0].as<std::string>()];
      q.queue = r[0].as<std::string>();
      q.ready = r[1].as<int64_t>();
      q.scheduled = r[2].as<int64_t>();
      q.running = r[3].as<int64_t>();
      q.oldest_ready_us = r[4].as<int64_t>();
    }
    for (const auto& r : tx.exec_params(
           "SELECT t.queue, count(*) FROM task_events e JOIN tasks t ON t.id = e.task_id"
           " WHERE e.at >= now() - make_interval(secs => $1)"
           " AND e.to_state IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'LOST')"
           " GROUP BY t.queue",
           window_s)) {
      auto& q = by[r[0].as<std::string>()];
      q.queue = r[0].as<std::string>();
      q.finished = r[1].as<int64_t>();
    }
    std::vector<queue_stat> out;
    for (auto& [name, q] : by)
      out.push_back(std::move(q));
    return out;
  });
}

} // namespace taskrt

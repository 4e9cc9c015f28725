#include "taskrt/persistence/leader_lock.hpp"

#include "taskrt/persistence/detail/call_deadline.hpp"
#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/store_error.hpp"

namespace taskrt {

namespace {

/// The lock key: k1 is taskrt's, k2 is the schema's (hashtext), so heads of
/// different schemas in one database never see each other.
constexpr const char* lock_args = "1953654130, hashtext(current_schema())";

/// The same key as it appears in pg_locks (two oids, objsubid 2).
constexpr const char* lock_match
  = "l.locktype = 'advisory' AND l.objsubid = 2 AND l.classid = 1953654130::bigint::oid"
    " AND l.objid = (hashtext(current_schema())::bigint & 4294967295)::oid"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// Client-side deadline of the one-shot reads (sessions, end_session): a
/// hung Postgres fails them instead of holding a CLI or a standby.
constexpr std::chrono::milliseconds short_call_limit{5000};

constexpr const char* active_prefix = "taskrt-head ";
constexpr const char* standby_prefix = "taskrt-standby ";

/// libpqxx exceptions as store_error (the DSN is never part of them).
template <class F>
auto guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const pqxx::broken_connection& e) {
    throw store_error(std::string{what} + ": connection lost: " + e.what(), true);
  } catch (const pqxx::sql_error& e) {
    throw store_error(std::string{what} + ": " + e.what(), false, false, e.sqlstate());
  } catch (const std::exception& e) {
    throw store_error(std::string{what} + ": " + e.what(), true);
  }
}

std::string address_of(const std::string& app) {
  for (const char* p : {active_prefix, standby_prefix}) {
    const std::string prefix{p};
    if (app.compare(0, prefix.size(), prefix) == 0)
      return app.substr(prefix.size());
  }
  return app;
}

} // namespace

struct leader_lock::impl {
  std::unique_ptr<pqxx::connection> conn;
  std::string address;
  std::string error;
  bool holding = false;

  void set_name(const std::string& name) {
    pqxx::nontransaction tx{*conn};
    tx.exec_params("SELECT set_config('application_name', $1, false)", name);
  }
};

bool leader_lock::end_session(const std::string& dsn, int32_t pid) {
  return guarded("ending a head session", [&] {
    pqxx::connection c{with_keepalives(dsn)};
    detail::call_deadline d{c.sock(), short_call_limit};
    pqxx::nontransaction tx{c};
    return tx.exec1("SELECT pg_terminate_backend(" + std::to_string(pid) + ")")[0].as<bool>();
  });
}

std::string leader_lock::with_keepalives(const std::string& dsn) {
  const char* params[] = {"keepalives=1", "keepalives_idle=5", "keepalives_interval=1",
                          "keepalives_count=3", "tcp_user_timeout=5000", "connect_timeout=5"};
  const bool uri = dsn.rfind("postgres://", 0) == 0 || dsn.rfind("postgresql://", 0) == 0;
  std::string out = dsn;
  for (const char* p : params) {
    if (uri) {
      out += out.find('?') == std::string::npos ? '?' : '&';
      out += p;
    } else {
      out += ' ';
      out += p;
    }
  }
  return out;
}

leader_lock::leader_lock(const std::string& dsn, const std::string& address)
  : impl_(std::make_unique<impl>()) {
  impl_->address = address;
  guarded("leadership connection", [&] {
    impl_->conn = std::make_unique<pqxx::connection>(with_keepalives(dsn));
    pqxx::nontransaction tx{*impl_->conn};
    // Postgres probes an idle peer after 5 s and drops it after 3 more
    // seconds without an answer: a vanished head loses the lock in ~8 s.
    tx.exec0("SET tcp_keepalives_idle = 5");
    tx.exec0("SET tcp_keepalives_interval = 1");
    tx.exec0("SET tcp_keepalives_count = 3");
    tx.exec0("SET statement_timeout = '3s'");
    // A standby blocks in pg_advisory_lock for as long as it stands by. A
    // backend blocked in a lock wait does not read its socket, so without
    // this a standby that died stayed first in line (and listed as a head)
    // until the lock was granted to its dead session (Postgres 14+).
    if (impl_->conn->server_version() >= 140000)
      tx.exec0("SET client_connection_check_interval = '1s'");
    return 0;
  });
  guarded("leadership connection", [&] {
    impl_->set_name(standby_prefix + address);
    return 0;
  });
}

leader_lock::~leader_lock() = default;

bool leader_lock::try_acquire() {
  return guarded("leadership lock", [&] {
    {
      pqxx::nontransaction tx{*impl_->conn};
      auto r = tx.exec1(std::string{"SELECT pg_try_advisory_lock("} + lock_args + ")");
      impl_->holding = r[0].as<bool>();
    }
    if (impl_->holding)
      impl_->set_name(active_prefix + impl_->address);
    return impl_->holding;
  });
}

bool leader_lock::acquire() {
  return guarded("leadership lock", [&] {
    {
      pqxx::nontransaction tx{*impl_->conn};
      tx.exec0("SET statement_timeout = 0");
      tx.exec(std::string{"SELECT pg_advisory_lock("} + lock_args + ")");
      tx.exec0("SET statement_timeout = '3s'");
    }
    impl_->holding = true;
    impl_->set_name(active_prefix + impl_->address);
    return true;
  });
}

bool leader_lock::held() {
  if (!impl_->holding) {
    impl_->error = "the lock was never taken";
    return false;
  }
  try {
    pqxx::nontransaction tx{*impl_->conn};
    auto r = tx.exec1(std::string{"SELECT count(*) FROM pg_locks l WHERE l.granted"
                                  " AND l.pid = pg_backend_pid() AND "}
                      + lock_match);
    if (r[0].as<int64_t>() == 1)
      return true;
    impl_->error = "the advisory lock is no longer held by this session";
  } catch (const std::exception& e) {
    impl_->error = impl_->conn->is_open() ? e.what()
                                          : std::string{"the lock connection to Postgres was lost: "}
                                              + e.what();
  }
  while (!impl_->error.empty() && impl_->error.back() == '\n')
    impl_->error.pop_back();
  impl_->holding = false;
  return false;
}

void leader_lock::set_address(const std::string& address) {
  impl_->address = address;
  guarded("leadership connection", [&] {
    impl_->set_name((impl_->holding ? active_prefix : standby_prefix) + address);
    return 0;
  });
}

const std::string& leader_lock::last_error() const {
  return impl_->error;
}

std::string leader_lock::holder() {
  return guarded("leadership lock", [&] {
    pqxx::nontransaction tx{*impl_->conn};
    auto r = tx.exec(std::string{"SELECT a.application_name FROM pg_locks l JOIN "
                                 "pg_stat_activity a ON a.pid = l.pid WHERE l.granted AND "}
                     + lock_match);
    return r.empty() ? std::string{} : address_of(r[0][0].as<std::string>(""));
  });
}

std::vector<head_session> leader_lock::sessions(const std::string& dsn) {
  return guarded("head sessions", [&] {
    pqxx::connection c{with_keepalives(dsn)};
    detail::call_deadline d{c.sock(), short_call_limit};
    pqxx::nontransaction tx{c};
    auto r = tx.exec(std::string{"SELECT a.application_name, l.granted, a.pid, "
                                 "to_char(a.backend_start AT TIME ZONE 'UTC', "
                                 "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                                 "extract(epoch FROM clock_timestamp() - coalesce("
                                 "a.state_change, a.query_start, a.backend_start))::float8 "
                                 "FROM pg_locks l JOIN "
                                 "pg_stat_activity a ON a.pid = l.pid WHERE "}
                     + lock_match + " ORDER BY l.granted DESC, l.waitstart NULLS FIRST, a.pid");
    std::vector<head_session> out;
    for (const auto& row : r) {
      head_session s;
      s.address = address_of(row[0].as<std::string>(""));
      s.role = row[1].as<bool>() ? "active" : "standby";
      s.backend_pid = row[2].as<int32_t>();
      s.since = row[3].as<std::string>("");
      s.silent_s = row[4].as<double>(0);
      out.push_back(std::move(s));
    }
    return out;
  });
}

} // namespace taskrt

// Retention of the HTTP API's tables (migration 10: api_idempotency,
// api_audit, api_logins, api_sessions) against a real Postgres, through
// access_store::purge_expired and through the head's maintenance tick
// (cluster/journal_maintenance): idempotency keys older than the key TTL go
// and younger ones stay (with their body check), audit rows older than the
// journal's retention go while younger ones stay (even when older than the
// key TTL), no audit row goes without a retention, expired logins and
// sessions go, and tokens stay. access_store has no in-memory fake, so
// there is no contract suite to run it against.

#include "taskrt/cluster/journal_maintenance.hpp"
#include "taskrt/persistence/access_store.hpp"
#include "taskrt/persistence/journal_store.hpp"
#include "tests/pg/store_helpers.hpp"

#include <pqxx/pqxx>

#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;

namespace {

constexpr int64_t hour_us = 3'600'000'000;
constexpr int64_t day_us = 24 * hour_us;

/// Idempotency keys left, as a set.
std::set<std::string> keys(const std::string& dsn) {
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  std::set<std::string> out;
  for (const auto& r : tx.exec("SELECT key FROM api_idempotency"))
    out.insert(r[0].as<std::string>());
  return out;
}

/// Audit paths left, as a set.
std::set<std::string> audit_paths(const std::string& dsn) {
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  std::set<std::string> out;
  for (const auto& r : tx.exec("SELECT path FROM api_audit"))
    out.insert(r[0].as<std::string>());
  return out;
}

/// Keys and audit rows aged by `age_us` (written now, then moved back).
void key_of_age(access_store& a, const std::string& dsn, const std::string& key, int64_t age_us) {
  a.record_key(key, "hash-" + key, 1);
  exec_sql(dsn, "UPDATE api_idempotency SET created_at = now() - make_interval(secs => "
                  + std::to_string(age_us / 1e6) + ") WHERE key = '" + key + "'");
}

void audit_of_age(access_store& a, const std::string& dsn, const std::string& path,
                  int64_t age_us) {
  a.audit({"ops", api_role::operator_}, "POST", path, 201, R"({"id":1})");
  exec_sql(dsn, "UPDATE api_audit SET at = now() - make_interval(secs => "
                  + std::to_string(age_us / 1e6) + ") WHERE path = '" + path + "'");
}

/// The rows every case starts with: keys of 25 h, 26 h, 27 h (past a 24 h
/// TTL) and 23 h, 1 min (within it); audit rows of 31 d and 40 d (past a
/// 30 d retention) and 2 d, 1 min (within it, the first past the key TTL);
/// an expired login and session, a live session, and a token.
void seed(access_store& a, const std::string& dsn) {
  for (auto [key, age] : {std::pair{"old-1", 25 * hour_us}, std::pair{"old-2", 26 * hour_us},
                          std::pair{"old-3", 27 * hour_us}, std::pair{"fresh-23h", 23 * hour_us},
                          std::pair{"fresh-1m", 60'000'000L}})
    key_of_age(a, dsn, key, age);
  for (auto [path, age] : {std::pair{"/old-31d", 31 * day_us}, std::pair{"/old-40d", 40 * day_us},
                           std::pair{"/fresh-2d", 2 * day_us},
                           std::pair{"/fresh-1m", 60'000'000L}})
    audit_of_age(a, dsn, path, age);
  a.add_token("ops", api_role::operator_, "test");
  // Logins and sessions first, then expired by hand: add_login itself
  // deletes the ones expired by then.
  a.add_login("expired-login", api_role::viewer, 60, 60);
  a.add_login("live-login", api_role::viewer, 3600, 3600);
  const auto live = a.open_session(a.add_login("s", api_role::viewer, 60, 3600));
  REQUIRE(live);
  const auto dead = a.open_session(a.add_login("s", api_role::viewer, 60, 3600));
  REQUIRE(dead);
  exec_sql(dsn, "UPDATE api_logins SET expires_at = now() - interval '1 minute'"
                " WHERE name = 'expired-login'");
  exec_sql(dsn, "UPDATE api_sessions SET expires_at = now() - interval '1 second' WHERE hash = '"
                  + access_store::sha256_hex(dead->secret) + "'");
  REQUIRE(a.find_session(dead->secret) == std::nullopt);
  REQUIRE(a.find_session(live->secret));
}

const std::set<std::string> fresh_keys{"fresh-1m", "fresh-23h"};
const std::set<std::string> fresh_audit{"/fresh-1m", "/fresh-2d"};

} // namespace

TEST_CASE("access_store::purge_expired: old keys and audit rows go, fresh ones stay",
          "[pg][api][retention]") {
  const auto dsn = fresh_schema_dsn("pg_access_purge");
  journal_store{dsn}.migrate();
  access_store a{dsn};
  seed(a, dsn);
  REQUIRE(query_count(dsn, "SELECT count(*) FROM api_sessions") == 2);
  REQUIRE(query_count(dsn, "SELECT count(*) FROM api_logins") == 2);

  const auto now_us = query_count(dsn, "SELECT (extract(epoch FROM now()) * 1e6)::bigint");
  // A batch of 1: three old keys take three deleting transactions and one
  // empty one; none of them touches a fresh row.
  const auto r = a.purge_expired(now_us - 24 * hour_us, now_us - 30 * day_us, 1);
  CHECK(r.keys == 3);
  CHECK(r.audit == 2);
  CHECK(r.logins == 1);
  CHECK(r.sessions == 1);
  CHECK(keys(dsn) == fresh_keys);
  CHECK(audit_paths(dsn) == fresh_audit);
  CHECK(query_count(dsn, "SELECT count(*) FROM api_logins") == 1); // live-login
  CHECK(query_count(dsn, "SELECT count(*) FROM api_sessions") == 1);
  CHECK(query_count(dsn, "SELECT count(*) FROM api_tokens") == 1);
  // A kept key still answers with its first body's hash; a purged one is unknown.
  REQUIRE(a.find_key("fresh-23h"));
  CHECK(a.find_key("fresh-23h")->body_hash == "hash-fresh-23h");
  CHECK(a.find_key("old-1") == std::nullopt);

  // Again: nothing left to delete.
  const auto again = a.purge_expired(now_us - 24 * hour_us, now_us - 30 * day_us);
  CHECK(again.keys == 0);
  CHECK(again.audit == 0);
}

TEST_CASE("access_store::purge_expired: without a retention every audit row stays",
          "[pg][api][retention]") {
  const auto dsn = fresh_schema_dsn("pg_access_purge_keep_audit");
  journal_store{dsn}.migrate();
  access_store a{dsn};
  seed(a, dsn);
  const auto now_us = query_count(dsn, "SELECT (extract(epoch FROM now()) * 1e6)::bigint");
  const auto r = a.purge_expired(now_us - 24 * hour_us, 0);
  CHECK(r.keys == 3);
  CHECK(r.audit == 0);
  CHECK(audit_paths(dsn)
        == std::set<std::string>{"/old-31d", "/old-40d", "/fresh-2d", "/fresh-1m"});
  CHECK(keys(dsn) == fresh_keys);
}

TEST_CASE("journal maintenance purges the API's tables at its first tick",
          "[pg][api][retention]") {
  const auto dsn = fresh_schema_dsn("pg_access_maintenance");
  journal_store{dsn}.migrate();
  access_store a{dsn};
  seed(a, dsn);
  {
    // The head's tick with --retain 30d and --api-key-ttl 24h; its first
    // pass runs at once, the next one would be an hour later.
    journal_maintenance m{{dsn, 30 * 86400.0, 86400.0, 3600}};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while ((keys(dsn) != fresh_keys || audit_paths(dsn) != fresh_audit)
           && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(keys(dsn) == fresh_keys);
  CHECK(audit_paths(dsn) == fresh_audit);
  CHECK(query_count(dsn, "SELECT count(*) FROM api_tokens") == 1);
}

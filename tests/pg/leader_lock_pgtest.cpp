// leader_lock against a real Postgres: one holder per schema, the holder's
// address readable by anyone, a waiting standby granted the lock the moment
// the holder's session ends, and a holder whose session is terminated
// noticing that it no longer leads.

#include "taskrt/persistence/leader_lock.hpp"
#include "tests/pg/pg_fixture.hpp"

#include "taskrt/persistence/detail/pqxx.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;

TEST_CASE("leader lock - one holder per schema - a waiting standby takes over when the "
          "holder's session ends",
          "[pg][failover]") {
  const auto dsn = fresh_schema_dsn("leader_lock");
  const auto other = fresh_schema_dsn("leader_lock_other");
  auto a = std::make_unique<leader_lock>(dsn, "127.0.0.1:1");
  leader_lock b{dsn, "127.0.0.1:2"};
  leader_lock c{other, "127.0.0.1:3"};
  REQUIRE(a->try_acquire());
  CHECK(a->held());
  CHECK_FALSE(b.try_acquire());
  CHECK(b.holder() == "127.0.0.1:1");
  CHECK(c.try_acquire()); // another schema: its own leadership

  std::atomic<bool> granted{false};
  std::thread waiter{[&] { granted = b.acquire(); }};
  for (int i = 0; i < 100 && leader_lock::sessions(dsn).size() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto s = leader_lock::sessions(dsn);
  REQUIRE(s.size() == 2);
  CHECK(s[0].role == "active");
  CHECK(s[0].address == "127.0.0.1:1");
  CHECK(s[1].role == "standby");
  CHECK(s[1].address == "127.0.0.1:2");
  CHECK_FALSE(granted.load());

  a.reset(); // the session ends, as when the process dies
  waiter.join();
  CHECK(granted.load());
  CHECK(b.held());
  s = leader_lock::sessions(dsn);
  REQUIRE(s.size() == 1);
  CHECK(s[0].role == "active");
  CHECK(s[0].address == "127.0.0.1:2");
  CHECK(leader_lock::sessions(other).size() == 1);
}

TEST_CASE("leader lock - a holder whose session is terminated no longer leads",
          "[pg][failover]") {
  const auto dsn = fresh_schema_dsn("leader_lock_term");
  leader_lock a{dsn, "127.0.0.1:1"};
  REQUIRE(a.try_acquire());
  REQUIRE(a.held());
  auto s = leader_lock::sessions(dsn);
  REQUIRE(s.size() == 1);
  {
    pqxx::connection admin{dsn};
    pqxx::nontransaction tx{admin};
    tx.exec_params("SELECT pg_terminate_backend($1)", s[0].backend_pid);
  }
  bool held = true;
  for (int i = 0; i < 50 && held; ++i) {
    held = a.held();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK_FALSE(held);
  CHECK_FALSE(a.last_error().empty());
  leader_lock b{dsn, "127.0.0.1:2"};
  CHECK(b.try_acquire());
}

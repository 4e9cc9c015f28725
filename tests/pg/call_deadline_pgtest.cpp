// Client-side call deadlines of the journal store against a real Postgres:
// a call that gets no answer in time fails as an outage after its deadline
// (not at the server's statement_timeout, which is switched off here), the
// write it carried is not committed, and the store works again once
// Postgres answers. The hang: a lock the test holds (ACCESS EXCLUSIVE on
// tasks), so the server is alive but does not answer the store's statement.

#include "taskrt/persistence/detail/pqxx.hpp"
#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>

using namespace taskrt;
using namespace taskrt::test;

namespace {

using steady = std::chrono::steady_clock;

double since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

/// The test's own connection holding ACCESS EXCLUSIVE on tasks until
/// destroyed (or released).
struct table_lock {
  pqxx::connection c;
  pqxx::work tx{c};
  explicit table_lock(const std::string& dsn) : c(dsn) {
    tx.exec("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE");
  }
  void release() { tx.commit(); }
};

} // namespace

TEST_CASE("journal_store: a call past its client-side deadline fails as an outage, commits"
          " nothing, and the store recovers",
          "[pg][deadline]") {
  const auto dsn = fresh_schema_dsn("call_deadline");
  journal_store setup{dsn};
  setup.migrate();
  const auto ids = submit_all(setup, {"a"});

  journal_options o;
  o.call_deadline_ms = 400;
  o.statement_timeout_ms = 0; // the server would wait forever
  journal_store store{dsn, o};
  REQUIRE(store.get_task(ids.at(0)));

  table_lock lock{dsn};
  // A read that gets no answer.
  auto t = steady::now();
  try {
    store.get_task(ids.at(0));
    FAIL("the read returned while the table was locked");
  } catch (const store_error& e) {
    const auto took = since(t);
    std::printf("read cut after %.3f s: %s\n", took, e.what());
    CHECK(e.error_class() == store_error_class::outage);
    CHECK_FALSE(e.in_doubt());
    CHECK(std::string{e.what()}.find("client-side deadline") != std::string::npos);
    CHECK(took >= 0.35);
    CHECK(took < 3.0);
  }
  // A commit that gets no answer: not in doubt (COMMIT was never sent), and
  // nothing of it is written.
  journal_store::batch b;
  b.submits.push_back(submit_of("b"));
  const auto commit_id = journal_store::new_commit_id();
  t = steady::now();
  try {
    store.commit(b, commit_id);
    FAIL("the commit returned while the table was locked");
  } catch (const store_error& e) {
    std::printf("commit cut after %.3f s: %s\n", since(t), e.what());
    CHECK(e.error_class() == store_error_class::outage);
    CHECK_FALSE(e.in_doubt());
    CHECK(since(t) < 3.0);
  }
  lock.release();
  CHECK(setup.list_tasks({}).size() == 1);
  // Postgres answers again: the same store reconnects; the commit retried
  // under its id writes the batch once.
  auto again = store.commit(b, commit_id);
  REQUIRE(again.submitted_ids.size() == 1);
  CHECK(setup.list_tasks({}).size() == 2);
  CHECK(store.get_task(again.submitted_ids[0])->name == "b");
}

TEST_CASE("journal_store: a call that answers within its deadline is not cut", "[pg][deadline]") {
  const auto dsn = fresh_schema_dsn("call_deadline_ok");
  journal_options o;
  o.call_deadline_ms = 2000;
  journal_store store{dsn, o};
  store.migrate();
  // Many short calls in a row on one connection: none may be cut by a
  // deadline armed for an earlier one.
  for (int i = 0; i < 200; ++i)
    store.ping_ms();
  const auto ids = submit_all(store, {"x", "y"});
  CHECK(ids.size() == 2);
}

TEST_CASE("call deadline: cost per call (pings, one-row commits) with and without it",
          "[.bench][pg][deadline]") {
  // Prints figures (no timed assertion).
  for (int deadline_ms : {0, 1500, 0, 1500}) {
    const auto dsn = fresh_schema_dsn("bench_deadline_" + std::to_string(deadline_ms));
    journal_options o;
    o.call_deadline_ms = deadline_ms;
    journal_store s{dsn, o};
    s.migrate();
    auto t = steady::now();
    const int pings = 3000;
    for (int i = 0; i < pings; ++i)
      s.ping_ms();
    const double ping_us = since(t) * 1e6 / pings;
    t = steady::now();
    const int commits = 500;
    for (int i = 0; i < commits; ++i) {
      journal_store::batch b;
      b.submits.push_back(submit_of("x"));
      s.commit(b, journal_store::new_commit_id());
    }
    const double commit_us = since(t) * 1e6 / commits;
    std::printf("deadline %4d ms: ping %.1f us/call, one-row commit %.1f us/call\n", deadline_ms,
                ping_us, commit_us);
  }
}

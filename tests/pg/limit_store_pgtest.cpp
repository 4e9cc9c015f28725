// The limits of issue 24 in a real Postgres: set/get/list/delete, the limit
// keys a submit journals and recovery reads back, the head's watch (LISTEN)
// called at start and after each committed change but not for a change in
// another schema, and the wait reason `tasks describe` shows.

#include "taskrt/persistence/limit_store.hpp"
#include "taskrt/runtime/time.hpp"
#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;

namespace {

/// What the watch reported, for a test to wait on.
struct watch_log {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::vector<limit_row>> calls;

  void add(std::vector<limit_row> rows) {
    std::lock_guard<std::mutex> g{m};
    calls.push_back(std::move(rows));
    cv.notify_all();
  }
  /// Waits until `n` calls came (false after 10 s).
  bool wait_for(size_t n) {
    std::unique_lock<std::mutex> g{m};
    return cv.wait_for(g, std::chrono::seconds(10), [&] { return calls.size() >= n; });
  }
  size_t count() {
    std::lock_guard<std::mutex> g{m};
    return calls.size();
  }
};

} // namespace

TEST_CASE("limit_store: set, get, list, replace, delete", "[pg][limits]") {
  auto dsn = fresh_schema_dsn("pg_limits_crud");
  journal_store{dsn}.migrate();
  limit_store s{dsn};
  CHECK(s.list().empty());
  s.set({"api", 20, 5, 0, 0});
  s.set({"db", 0, 1, 3, 0});
  auto all = s.list();
  REQUIRE(all.size() == 2);
  CHECK(all[0].key == "api");
  CHECK(all[0].rate_per_s == Approx(20));
  CHECK(all[0].burst == Approx(5));
  CHECK(all[0].concurrency == 0);
  CHECK(all[1].concurrency == 3);
  s.set({"api", 0.5, 1, 2, 0}); // replaces
  auto api = s.get("api");
  REQUIRE(api);
  CHECK(api->rate_per_s == Approx(0.5));
  CHECK(api->concurrency == 2);
  CHECK(s.remove("api"));
  CHECK_FALSE(s.remove("api"));
  CHECK_FALSE(s.get("api"));
  // The table refuses a limit that limits nothing, whatever the caller.
  CHECK_THROWS_AS(s.set({"none", 0, 1, 0, 0}), store_error);
}

TEST_CASE("limit keys are journaled with the submit and read back", "[pg][limits]") {
  auto dsn = fresh_schema_dsn("pg_limits_keys");
  journal_store store{dsn};
  store.migrate();
  journal_store::batch b;
  auto it = submit_of("echo");
  it.spec.limits = {"api", "tenant:acme"};
  b.submits.push_back(it);
  b.submits.push_back(submit_of("echo"));
  auto r = store.commit(b);
  REQUIRE(r.submitted_ids.size() == 2);
  auto t = store.get_task(r.submitted_ids[0]);
  REQUIRE(t);
  CHECK(t->limit_keys == std::vector<std::string>{"api", "tenant:acme"});
  CHECK(store.get_task(r.submitted_ids[1])->limit_keys.empty());
  limit_store ls{dsn};
  CHECK(ls.tasks_of("api") == std::pair<int64_t, int64_t>{1, 0});
  CHECK(ls.tasks_of("tenant:other") == std::pair<int64_t, int64_t>{0, 0});
  // A QUEUED task of a full concurrency key says so.
  ls.set({"api", 0, 1, 1, 0});
  CHECK(ls.wait_reason({"api"}).empty()); // nothing runs yet
  journal_store::batch s;
  auto start = start_of(r.submitted_ids[0]);
  start.at_us = to_micros(now()); // the rate reads the starts of the last seconds
  s.transitions.push_back(start);
  REQUIRE(store.commit(s).applied == std::vector<bool>{true});
  CHECK(ls.wait_reason({"api"}) == "concurrency limit api: 1 of 1 running");
  // A rate whose one token the start just took.
  ls.set({"api", 0.1, 1, 0, 0});
  const auto why = ls.wait_reason({"api"});
  INFO(why);
  CHECK(why.rfind("rate limit api: 6/m, next token in", 0) == 0);
}

TEST_CASE("limit_watch: loads at start, reloads after a commit, ignores other schemas",
          "[pg][limits]") {
  auto dsn = fresh_schema_dsn("pg_limits_watch");
  auto other = fresh_schema_dsn("pg_limits_watch_other");
  journal_store{dsn}.migrate();
  journal_store{other}.migrate();
  limit_store s{dsn};
  s.set({"a", 1, 1, 0, 0});
  watch_log log;
  {
    limit_watch w{dsn, [&](std::vector<limit_row> rows) { log.add(std::move(rows)); }};
    REQUIRE(log.wait_for(1));
    CHECK(log.calls[0].size() == 1);
    s.set({"b", 0, 1, 2, 0});
    REQUIRE(log.wait_for(2));
    CHECK(log.calls[1].size() == 2);
    limit_store{other}.set({"x", 0, 1, 1, 0}); // another schema: not this head's
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(log.count() == 2);
    CHECK(s.remove("a"));
    REQUIRE(log.wait_for(3));
    REQUIRE(log.calls[2].size() == 1);
    CHECK(log.calls[2][0].key == "b");
  }
  const auto after = log.count(); // the watch stopped with its scope
  s.set({"c", 0, 1, 1, 0});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(log.count() == after);
}

// The persistence actor's submit lane against a real Postgres: once the first
// load was served, batches of submits only commit on a connection of their
// own, beside the transitions instead of behind them; the drain's barrier
// (an empty batch) still waits for everything; without a lane everything
// goes through the one connection, as before.

#include "taskrt/actors/persistence_actor.hpp"
#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "tests/pg/store_helpers.hpp"

#include <catch2/catch.hpp>
#include <caf/all.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>

using namespace taskrt;
using namespace taskrt::test;
using namespace std::chrono_literals;

namespace {

struct lane_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  lane_fixture() {
    register_protocol(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

/// What a request to the persistence actor came back with.
struct lane_reply {
  bool ok = false;
  journal_store::batch_result result;
  caf::error error;
};

lane_reply ask(caf::actor_system& sys, const caf::actor& p, journal_store::batch b,
               std::chrono::seconds timeout = 60s) {
  caf::scoped_actor self{sys};
  lane_reply r;
  self->request(p, timeout, std::move(b))
    .receive([&](journal_store::batch_result& res) { r.ok = true; r.result = res; },
             [&](caf::error& e) { r.error = e; });
  return r;
}

std::future<lane_reply> ask_async(caf::actor_system& sys, const caf::actor& p,
                                  journal_store::batch b) {
  return std::async(std::launch::async, [&sys, p, b] { return ask(sys, p, b); });
}

void load(caf::actor_system& sys, const caf::actor& p) {
  caf::scoped_actor self{sys};
  bool loaded = false;
  self->request(p, 60s, load_atom::value)
    .receive([&](recovery_data&) { loaded = true; }, [](caf::error&) {});
  REQUIRE(loaded);
}

journal_store::batch one_submit(const std::string& name) {
  journal_store::batch b;
  b.submits.push_back(submit_of(name));
  return b;
}

} // namespace

TEST_CASE("persistence actor: with a submit lane a submit commits while the main connection "
          "waits - the drain barrier waits for both",
          "[pg][persistence]") {
  const auto dsn = fresh_schema_dsn("actor_lane");
  auto store = std::make_shared<journal_store>(dsn);
  store->migrate();
  const auto held = store->commit(one_submit("held")).submitted_ids[0];
  lane_fixture f;
  std::atomic<int> opens{0};
  persistence_options o;
  o.open_submit_lane = [&opens, dsn] {
    ++opens;
    return std::make_shared<journal_store>(dsn);
  };
  auto p = spawn_persistence(*f.sys, store, o);
  CHECK(opens == 0); // not before the first load (recovery reads first)
  load(*f.sys, p);
  CHECK(opens == 1);
  // Window: the main connection's commit blocked on a row lock the test
  // holds. A submit sent after it must not wait for it.
  pqxx::connection holder{dsn};
  pqxx::work lock{holder};
  lock.exec("SELECT 1 FROM tasks WHERE id = " + std::to_string(held) + " FOR UPDATE");
  journal_store::batch start;
  start.transitions.push_back(start_of(held));
  auto blocked = ask_async(*f.sys, p, start);
  REQUIRE(someone_waits_on_a_lock());
  auto beside = ask(*f.sys, p, one_submit("beside"));
  REQUIRE(beside.ok); // answered while the lock is still held
  REQUIRE(beside.result.submitted_ids.size() == 1);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks WHERE name = 'beside'") == 1);
  // The barrier waits for the blocked commit (and the lane).
  auto barrier = ask_async(*f.sys, p, journal_store::batch{});
  CHECK(barrier.wait_for(300ms) == std::future_status::timeout);
  lock.commit();
  auto r = blocked.get();
  REQUIRE(r.ok);
  CHECK(r.result.applied == std::vector<bool>{true});
  CHECK(barrier.get().ok);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks WHERE id = " + std::to_string(held)
                        + " AND state = 'RUNNING'") == 1);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

TEST_CASE("persistence actor: without a lane, or one that cannot open, a submit waits behind "
          "the commit in flight",
          "[pg][persistence]") {
  const auto dsn = fresh_schema_dsn("actor_nolane");
  auto store = std::make_shared<journal_store>(dsn);
  store->migrate();
  const auto held = store->commit(one_submit("held")).submitted_ids[0];
  lane_fixture f;
  persistence_options o;
  const bool broken_lane = GENERATE(false, true);
  if (broken_lane)
    o.open_submit_lane = []() -> std::shared_ptr<journal_store> {
      throw std::runtime_error("no second connection here");
    };
  auto p = spawn_persistence(*f.sys, store, o);
  load(*f.sys, p);
  pqxx::connection holder{dsn};
  pqxx::work lock{holder};
  lock.exec("SELECT 1 FROM tasks WHERE id = " + std::to_string(held) + " FOR UPDATE");
  journal_store::batch start;
  start.transitions.push_back(start_of(held));
  auto blocked = ask_async(*f.sys, p, start);
  REQUIRE(someone_waits_on_a_lock());
  auto behind = ask_async(*f.sys, p, one_submit("behind"));
  // One connection: the submit cannot commit while the lock is held.
  CHECK(behind.wait_for(500ms) == std::future_status::timeout);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks WHERE name = 'behind'") == 0);
  lock.commit();
  CHECK(blocked.get().ok);
  auto r = behind.get();
  REQUIRE(r.ok);
  CHECK(query_count(dsn, "SELECT count(*) FROM tasks WHERE name = 'behind'") == 1);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

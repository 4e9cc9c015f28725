// Per-task requests through the client's head handle (cluster/head_coalescer)
// against a real head and Postgres: the requests are coalesced on the wire,
// yet each one keeps its own semantics: one actor's submits keep their
// order, a spec the head refuses refuses only itself, an await is answered
// when its own task ends (not when the others gathered with it do), and
// await_many answers in the order of the ids across chunks.

#include "taskrt/cluster/client.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;
using Catch::Contains;

namespace {

/// What the submitting actor saw, per request index.
struct submit_log {
  std::mutex m;
  std::vector<int64_t> ids;      // 0: refused
  std::vector<std::string> errors;
  int answered = 0;
};

std::string id_array(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i)
    out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "}";
}

} // namespace

TEST_CASE("coalesced per-task submits: order kept, a refusal refuses only its own task, "
          "group commits",
          "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_coalesce");
  head_process head{dsn, {"--workers", "0"}}; // they stay QUEUED: only submits commit
  auto& c = head.connect();
  constexpr int n = 600;
  constexpr int bad = 300;
  submit_log log;
  log.ids.assign(n, 0);
  log.errors.assign(n, "");
  {
    caf::scoped_actor self{c.system()};
    auto a = c.system().spawn([&log, h = c.head()](caf::event_based_actor* me) {
      // One request per task, all at once, as an actor would fan out.
      for (int i = 0; i < n; ++i) {
        auto s = spec("echo", {{"i", i}}, i == bad ? R"({"retries":"many"})" : "");
        me->request(h, caf::infinite, submit_atom::value, s)
          .then(
            [&log, me, i](int64_t id) {
              std::lock_guard<std::mutex> g{log.m};
              log.ids[i] = id;
              if (++log.answered == n)
                me->quit();
            },
            [&log, me, i](caf::error& e) {
              std::lock_guard<std::mutex> g{log.m};
              log.errors[i] = error_message(e);
              if (++log.answered == n)
                me->quit();
            });
      }
    });
    self->monitor(a);
    self->receive([](caf::down_msg&) {});
  }
  // Only the bad spec was refused, with the head's own reason.
  INFO(log.errors[bad]);
  CHECK_THAT(log.errors[bad], Contains("retries"));
  std::vector<int64_t> ok;
  for (int i = 0; i < n; ++i) {
    if (i == bad)
      continue;
    INFO("request " << i << ": " << log.errors[i]);
    REQUIRE(log.ids[i] > 0);
    ok.push_back(log.ids[i]);
  }
  // The order of the requests is the order of the ids (the journal's order).
  for (size_t i = 1; i < ok.size(); ++i)
    CHECK(ok[i] > ok[i - 1]);
  // Each id is the task of its own request, and they were group-committed:
  // far fewer transactions (xmin) than tasks.
  pqxx::connection conn{dsn};
  pqxx::work tx{conn};
  std::map<int64_t, int> arg_of;
  for (const auto& row : tx.exec("SELECT id, (args->>'i')::int FROM tasks WHERE id = ANY('"
                                 + id_array(ok) + "'::bigint[])"))
    arg_of[row[0].as<int64_t>()] = row[1].as<int>();
  REQUIRE(arg_of.size() == ok.size());
  for (int i = 0; i < n; ++i)
    if (i != bad)
      CHECK(arg_of.at(log.ids[i]) == i);
  auto r = tx.exec1("SELECT count(*), count(DISTINCT xmin::text) FROM task_events"
                    " WHERE kind = 'submit' AND task_id = ANY('"
                    + id_array(ok) + "'::bigint[])");
  CHECK(r[0].as<int>() == n - 1);
  INFO("transactions for " << n - 1 << " submits: " << r[1].as<int>());
  CHECK(r[1].as<int>() <= (n - 1) / 10);
}

TEST_CASE("coalesced per-task awaits: each is answered when its own task ends", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_coalesce_await");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  auto slow = c.submit(spec("sleep", {{"ms", 6000}}));
  auto quick = c.submit(spec("echo", {{"q", 1}}));
  REQUIRE(slow);
  REQUIRE(quick);
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  double quick_s = -1, slow_s = -1;
  task_state quick_state = task_state::queued, slow_state = task_state::queued;
  {
    caf::scoped_actor self{c.system()};
    auto a = c.system().spawn([&, h = c.head()](caf::event_based_actor* me) {
      // Both awaits in the same burst: the coalescer sends them together.
      auto left = std::make_shared<int>(2);
      auto ask = [&, me, left](int64_t id, double& at, task_state& st) {
        me->request(h, caf::infinite, await_atom::value, id)
          .then(
            [&, me, left](const task_outcome& out) {
              at = std::chrono::duration<double>(clock::now() - t0).count();
              st = out.state;
              if (--*left == 0)
                me->quit();
            },
            [me, left](caf::error&) {
              if (--*left == 0)
                me->quit();
            });
      };
      ask(*slow, slow_s, slow_state);
      ask(*quick, quick_s, quick_state);
    });
    self->monitor(a);
    self->receive([](caf::down_msg&) {});
  }
  CHECK(quick_state == task_state::succeeded);
  CHECK(slow_state == task_state::succeeded);
  INFO("quick answered after " << quick_s << " s, slow after " << slow_s << " s");
  CHECK(quick_s >= 0);
  CHECK(quick_s < 4.0); // not held behind the 6 s task it was sent with
  CHECK(slow_s >= 5.0);
}

TEST_CASE("client await_many answers in the order of the ids across chunks", "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_coalesce_many");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  std::vector<task_spec> specs;
  for (int i = 0; i < 700; ++i) // over two chunks of the client's 256
    specs.push_back(spec("echo", {{"i", i}}));
  auto ids = c.submit_many(specs);
  REQUIRE(ids);
  auto rev = *ids;
  std::reverse(rev.begin(), rev.end()); // any order the caller likes
  auto outs = c.await_many(rev, std::chrono::seconds(120));
  REQUIRE(outs);
  REQUIRE(outs->size() == rev.size());
  for (size_t k = 0; k < rev.size(); ++k) {
    CHECK((*outs)[k].id == rev[k]);
    CHECK((*outs)[k].state == task_state::succeeded);
    CHECK(result_of((*outs)[k])["i"] == static_cast<int>(rev.size() - 1 - k));
  }
}

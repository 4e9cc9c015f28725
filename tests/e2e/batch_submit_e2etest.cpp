// End-to-end test of the batch submit of the blocking client
// (client::submit_many → head_actor's submit_atom with a vector of specs)
// against a real head and Postgres: one commit, ids in order, all or nothing.

#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// The ids as a Postgres array literal.
std::string id_array(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i)
    out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "}";
}

} // namespace

TEST_CASE("submit_many journals N tasks in one commit and returns their ids in order",
          "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_batch");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();

  std::vector<task_spec> specs;
  for (int i = 0; i < 40; ++i)
    specs.push_back(spec("echo", {{"i", i}}));
  auto ids = c.submit_many(specs);
  REQUIRE(ids);
  REQUIRE(ids->size() == specs.size());
  for (size_t i = 1; i < ids->size(); ++i)
    CHECK((*ids)[i] > (*ids)[i - 1]);

  // The i-th id is the i-th spec's task: each echoes its own args.
  for (size_t i = 0; i < ids->size(); ++i) {
    auto out = c.await((*ids)[i], std::chrono::seconds(60));
    REQUIRE(out);
    CHECK(out->state == task_state::succeeded);
    CHECK(json::parse(out->result) == json{{"i", static_cast<int>(i)}});
  }

  // One commit: every submit event was inserted by the same transaction
  // (task_events rows are never updated, so xmin is still the inserter's).
  pqxx::connection conn{dsn};
  pqxx::work tx{conn};
  auto r = tx.exec1("SELECT count(*), count(DISTINCT xmin::text) FROM task_events"
                    " WHERE kind = 'submit' AND task_id = ANY('"
                    + id_array(*ids) + "'::bigint[])");
  CHECK(r[0].as<int>() == 40);
  CHECK(r[1].as<int>() == 1);

  // An empty batch asks nothing and gets no ids.
  auto none = c.submit_many({});
  REQUIRE(none);
  CHECK(none->empty());
}

TEST_CASE("submit_many refuses a batch with a bad spec as a whole, naming its index",
          "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_batch_bad");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();

  std::vector<task_spec> specs{spec("echo", {{"i", 0}}), spec("echo", {{"i", 1}}),
                               spec("echo", {{"i", 2}}, R"({"retries":"many"})")};
  auto ids = c.submit_many(specs);
  REQUIRE_FALSE(ids);
  const auto msg = error_message(ids.error());
  INFO(msg);
  CHECK(msg.find("task 2 of the batch") != std::string::npos);
  CHECK(msg.find("retries") != std::string::npos);

  // Nothing of it was journaled.
  pqxx::connection conn{dsn};
  pqxx::work tx{conn};
  CHECK(tx.exec1("SELECT count(*) FROM tasks")[0].as<int>() == 0);
}

TEST_CASE("submit_many refuses a batch over half the cluster frame limit before sending it",
          "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_batch_big");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  // 40 tasks of ~1 MiB args each: every one within the args limit, the batch
  // (~40 MiB) over half of the 66 MiB frame limit.
  const std::string big(1000 * 1000, 'x');
  std::vector<task_spec> specs;
  for (int i = 0; i < 40; ++i)
    specs.push_back(spec("echo", {{"i", i}, {"pad", big}}));
  auto ids = c.submit_many(specs);
  REQUIRE_FALSE(ids);
  const auto msg = error_message(ids.error());
  INFO(msg);
  CHECK(msg.find("a batch of 40 tasks is about") != std::string::npos);
  CHECK(msg.find("submit it in smaller batches") != std::string::npos);
  // The same tasks in batches of 10 go through.
  for (int part = 0; part < 4; ++part) {
    std::vector<task_spec> some(specs.begin() + part * 10, specs.begin() + part * 10 + 10);
    auto ok = c.submit_many(some);
    INFO((ok ? std::string{} : error_message(ok.error())));
    REQUIRE(ok);
    CHECK(ok->size() == 10);
  }
  pqxx::connection conn{dsn};
  pqxx::work tx{conn};
  CHECK(tx.exec1("SELECT count(*) FROM tasks")[0].as<int>() == 40);
}

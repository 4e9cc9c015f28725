// The batched head<->node data plane under faults, with real processes: a
// head, worker nodes and their worker processes against a real Postgres.
// Each case names the window it hits (a fault point of a test build,
// runtime/fault.hpp) and proves the outcome twice: from what ran (the demo
// task "stamp" writes start/tick/stop lines with its pid, and returns that
// pid) and from the journal (one accepted result per task, fencing notes).

#include "taskrt/persistence/journal_store.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <sstream>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// One line of a stamp file: "EVENT PID MONO REAL TASK ATTEMPT".
struct stamp_line {
  std::string event;
  int pid = 0;
};

std::vector<stamp_line> stamps_of(const std::string& path) {
  std::vector<stamp_line> out;
  std::istringstream in{slurp(path)};
  for (std::string line; std::getline(in, line);) {
    std::istringstream l{line};
    stamp_line s;
    l >> s.event >> s.pid;
    if (!s.event.empty())
      out.push_back(s);
  }
  return out;
}

/// The pids that stamped `event` in `path`.
std::vector<int> pids_with(const std::string& path, const std::string& event) {
  std::vector<int> out;
  for (const auto& s : stamps_of(path))
    if (s.event == event)
      out.push_back(s.pid);
  return out;
}

/// How many journal events of `kind` task `id` has.
int count_kind(journal_store& store, int64_t id, const std::string& kind) {
  int n = 0;
  for (const auto& e : store.events(id))
    n += to_string(e.kind) == kind;
  return n;
}

/// The pid the accepted result of a stamp task names.
int result_pid(const task_outcome& out) {
  auto j = json::parse(out.result, nullptr, false);
  return j.is_object() ? j.value("pid", -1) : -1;
}

/// `n` stamp tasks, each with a stamp file of its own under `dir`.
std::vector<task_spec> stamp_specs(const std::string& dir, const std::string& tag, int n,
                                   int ms, int tick_ms) {
  std::vector<task_spec> out;
  for (int i = 0; i < n; ++i)
    out.push_back(spec("stamp",
                       {{"file", dir + "/stamps-" + tag + "-" + std::to_string(i)},
                        {"ms", ms},
                        {"tick_ms", tick_ms}},
                       R"({"retries":3,"wait":0})"));
  return out;
}

std::string port_of(const std::string& address) {
  return address.substr(address.rfind(':') + 1);
}

} // namespace

TEST_CASE("node batches - head killed -9 after a dispatch batch was sent, before the node "
          "acknowledged any of it: every task ends once, one run counts",
          "[e2e][node_batches]") {
  auto dsn = fresh_schema_dsn("e2e_batch_dispatch");
  head_process head{dsn, {"--workers", "0"}, {"TASKRT_FAULT=exit_after_dispatch_batch"}};
  const auto address = head.address();
  // 2 workers, prefetch 1: a credit of 4 attempts, all in one batch.
  node_process n1{address, "n1", head.data_dir(), {"--workers", "2", "--prefetch", "1"}};
  auto& c = head.connect();
  REQUIRE(eventually([&] { return node_state(c, "n1") == "ALIVE"; }, 20'000));
  // Both workers' slots announced (a node is ALIVE with its first): else the
  // first round sends only the credit of one (a CI run saw a batch of 2).
  REQUIRE(eventually([&] {
    auto s = c.status();
    return s && s->workers == 2;
  }, 20'000));
  const auto specs = stamp_specs(head.data_dir(), "dispatch", 4, 3000, 50);
  auto ids = c.submit_many(specs);
  REQUIRE(ids);
  REQUIRE(eventually([&] { return head.log().find("fault injection") != std::string::npos; },
                     20'000));
  head.kill9();
  INFO("head log: " << head.log().substr(head.log().find("fault injection")).substr(0, 300));
  CHECK(head.log().find("dispatch batch of 4 attempts to node n1") != std::string::npos);
  journal_store store{dsn};
  // Which starts the dead head had journaled (its commits were in flight).
  std::vector<bool> start_journaled;
  for (auto id : *ids)
    start_journaled.push_back(count_kind(store, id, "start") > 0);

  head.restart({"--port", port_of(address)});
  auto& c2 = head.connect();
  int adopted = 0, fenced = 0, stale = 0;
  for (size_t i = 0; i < ids->size(); ++i) {
    const auto id = (*ids)[i];
    auto out = c2.await(id, std::chrono::seconds(90));
    REQUIRE(out);
    INFO("task " << id << " start journaled before the kill: " << start_journaled[i]);
    CHECK(out->state == task_state::succeeded);
    // The journal: one accepted result.
    CHECK(count_kind(store, id, "succeed") == 1);
    adopted += count_kind(store, id, "adopted");
    fenced += count_kind(store, id, "fenced_attempt");
    stale += count_kind(store, id, "stale_result");
    // What ran: exactly one run stamped "stop", and it is the run whose
    // result counted; any other run was killed (fenced) before its end.
    const auto path = specs[i].args;
    const auto file = json::parse(path).at("file").get<std::string>();
    INFO("stamps:\n" << slurp(file).substr(0, 1500));
    const auto stops = pids_with(file, "stop");
    REQUIRE(stops.size() == 1);
    CHECK(stops[0] == result_pid(*out));
    CHECK(pids_with(file, "start").size() >= 1);
  }
  // Every attempt of the batch was either adopted or fenced when n1
  // re-registered, or handed back unstarted (a prefetched one).
  WARN("dispatch batch window: adopted " << adopted << ", fenced " << fenced
                                         << ", stale results " << stale);
}

TEST_CASE("node batches - node killed -9 with results in its coalescing buffer: the tasks run "
          "again elsewhere and count once",
          "[e2e][node_batches]") {
  auto dsn = fresh_schema_dsn("e2e_batch_node_buffer");
  head_process head{dsn, {"--workers", "0"}};
  const auto address = head.address();
  node_process n1{address, "n1", head.data_dir(), {"--workers", "2", "--prefetch", "0"}, {},
                  {"TASKRT_FAULT=node_exit_before_report"}};
  auto& c = head.connect();
  REQUIRE(eventually([&] { return node_state(c, "n1") == "ALIVE"; }, 20'000));
  const auto specs = stamp_specs(head.data_dir(), "buffer", 2, 800, 800);
  auto ids = c.submit_many(specs);
  REQUIRE(ids);
  journal_store store{dsn};
  REQUIRE(eventually([&] {
    for (auto id : *ids)
      if (store.get_task(id)->state != task_state::running)
        return false;
    return true;
  }, 20'000));
  // n2 joins while both run on n1 (n1's 2 slots hold them).
  node_process n2{address, "n2", head.data_dir(), {"--workers", "2", "--prefetch", "0"}};
  REQUIRE(eventually([&] { return !n1.running(); }, 30'000));
  const auto n1_out = n1.output();
  INFO("n1 output: " << n1_out.substr(0, 3000));
  const auto at = n1_out.find("fault injection: node n1 exiting with");
  REQUIRE(at != std::string::npos);
  const auto task_at = n1_out.find("task=", at);
  REQUIRE(task_at != std::string::npos);
  const int64_t buffered = std::stoll(n1_out.substr(task_at + 5));
  bool found = false;
  for (size_t i = 0; i < ids->size(); ++i) {
    const auto id = (*ids)[i];
    auto out = c.await(id, std::chrono::seconds(90));
    REQUIRE(out);
    CHECK(out->state == task_state::succeeded);
    CHECK(count_kind(store, id, "succeed") == 1);
    // Its n1 attempt ended LOST (the node died), the retry ran on n2.
    CHECK(count_kind(store, id, "lose") == 1);
    CHECK(result_nodes(dsn, id) == std::vector<std::string>{"n2"});
    CHECK(out->attempt == 2);
    const auto file = json::parse(specs[i].args).at("file").get<std::string>();
    INFO("task " << id << " stamps:\n" << slurp(file).substr(0, 1500));
    const auto stops = pids_with(file, "stop");
    const auto starts = pids_with(file, "start");
    CHECK(starts.size() == 2); // once on n1, once on n2
    CHECK(std::count(stops.begin(), stops.end(), result_pid(*out)) == 1);
    if (id == buffered) {
      found = true;
      // The buffered result's run ended on n1 (stamped "stop") and yet it
      // never counted: the node died before the result left it.
      REQUIRE(stops.size() == 2);
      CHECK(stops[0] != result_pid(*out));
      CHECK(stops[0] == starts[0]);
    }
  }
  CHECK(found);
}

TEST_CASE("node batches - head killed -9 with a node's report half applied: the restarted "
          "head takes the rest from the node, each result counts once",
          "[e2e][node_batches]") {
  auto dsn = fresh_schema_dsn("e2e_batch_half_applied");
  head_process head{dsn, {"--workers", "0"}, {"TASKRT_FAULT=exit_mid_node_report"}};
  const auto address = head.address();
  // A window of 400 ms: the four results surely share one report.
  node_process n1{address, "n1", head.data_dir(),
                  {"--workers", "4", "--prefetch", "0", "--report-window-ms", "400"}};
  auto& c = head.connect();
  REQUIRE(eventually([&] { return node_state(c, "n1") == "ALIVE"; }, 20'000));
  // Four runs started in one dispatch batch end together.
  const auto specs = stamp_specs(head.data_dir(), "half", 4, 1500, 1500);
  auto ids = c.submit_many(specs);
  REQUIRE(ids);
  REQUIRE(eventually([&] { return head.log().find("fault injection") != std::string::npos; },
                     30'000));
  head.kill9();
  INFO("head log: " << head.log().substr(head.log().find("fault injection")).substr(0, 300));
  journal_store store{dsn};
  int final_before = 0;
  for (auto id : *ids)
    final_before += store.get_task(id)->state == task_state::succeeded;
  CHECK(final_before <= 1); // at most the one applied result was committed
  head.restart({"--port", port_of(address)});
  auto& c2 = head.connect();
  for (size_t i = 0; i < ids->size(); ++i) {
    const auto id = (*ids)[i];
    auto out = c2.await(id, std::chrono::seconds(90));
    REQUIRE(out);
    CHECK(out->state == task_state::succeeded);
    CHECK(out->attempt == 1); // no run was lost: the node kept every result
    CHECK(count_kind(store, id, "succeed") == 1);
    const auto file = json::parse(specs[i].args).at("file").get<std::string>();
    INFO("task " << id << " stamps:\n" << slurp(file).substr(0, 1500));
    const auto starts = pids_with(file, "start");
    const auto stops = pids_with(file, "stop");
    CHECK(starts.size() == 1); // it ran once
    REQUIRE(stops.size() == 1);
    CHECK(stops[0] == result_pid(*out));
  }
  // A result the dead head had committed came again from the node and was
  // fenced as stale; the others were accepted from the node's resend.
  int stale = 0;
  eventually([&] {
    stale = 0;
    for (auto id : *ids)
      stale += count_kind(store, id, "stale_result");
    return stale == final_before;
  }, 10'000);
  CHECK(stale == final_before);
  WARN("half-applied report: " << final_before << " result(s) committed before the kill, "
                               << stale << " stale on resend");
}

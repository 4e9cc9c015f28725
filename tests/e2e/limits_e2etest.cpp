// Rate and concurrency limits with real processes (issue 24). Every figure
// is measured from what ran: the `stamp` task appends "start"/"stop" lines
// with the monotonic clock of the host from inside the worker process.
//  - rate: 200 tasks under --rate 20/s --burst 1: starts in any 1 s window
//    at most 21, and the span of the starts close to the ideal 199/20 s;
//  - concurrency: --concurrency 3, 30 tasks of 0.5 s on 2 nodes (the head's
//    3 workers and a worker node's 3): never more than 3 at once, 3 most of
//    the time;
//  - fairness: key A with 1,000 tasks queued before key B's 10: B's finish
//    while most of A's still wait;
//  - a limit holds across a head kill -9 (the restarted head loads it).

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/sched/limit_gate.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <time.h>
#include <sstream>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// One stamped line: event, monotonic ns, task id.
struct stamp_line {
  std::string event;
  int64_t mono_ns = 0;
  int64_t task = 0;
};

std::vector<stamp_line> read_stamps(const std::string& path) {
  std::vector<stamp_line> out;
  std::ifstream f{path};
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in{line};
    stamp_line s;
    int pid = 0;
    long long real = 0;
    int attempt = 0;
    if (in >> s.event >> pid >> s.mono_ns >> real >> s.task >> attempt)
      out.push_back(s);
  }
  return out;
}

std::vector<int64_t> submit_stamps(client& c, const std::string& file, int n, int ms,
                                   const std::vector<std::string>& keys) {
  std::vector<task_spec> specs;
  for (int i = 0; i < n; ++i) {
    auto s = spec("stamp", {{"file", file}, {"ms", ms}, {"tick_ms", std::max(ms, 1)}});
    s.limits = keys;
    specs.push_back(s);
  }
  auto ids = c.submit_many(specs);
  REQUIRE(ids);
  return *ids;
}

void await_all(client& c, const std::vector<int64_t>& ids) {
  for (auto id : ids) {
    auto out = c.await(id, std::chrono::seconds(120));
    REQUIRE(out);
    REQUIRE(out->state == task_state::succeeded);
  }
}

/// How often the head's log says it applied limits (the log is appended
/// across restarts).
size_t limit_loads(const head_process& head) {
  const auto log = head.log();
  size_t n = 0;
  for (auto at = log.find("limits: 1 key(s) limited"); at != std::string::npos;
       at = log.find("limits: 1 key(s) limited", at + 1))
    ++n;
  return n;
}

void limits_cli(const head_process& head, std::vector<std::string> args) {
  args.insert(args.begin(), "limits");
  args.push_back("--db");
  args.push_back(head.dsn());
  auto r = run_cli(args);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

} // namespace

TEST_CASE("limits - rate 20/s burst 1: at most 21 starts in any second, total near ideal",
          "[e2e][limits]") {
  auto dsn = fresh_schema_dsn("e2e_limits_rate");
  head_process head{dsn, {"--workers", "4"}};
  limits_cli(head, {"set", "api", "--rate", "20/s", "--burst", "1"});
  REQUIRE(eventually([&] { return limit_loads(head) >= 1; }));
  auto& c = head.connect();
  const auto file = head.data_dir() + "/rate.stamps";
  auto ids = submit_stamps(c, file, 200, 0, {"api"});
  await_all(c, ids);
  std::vector<int64_t> starts;
  for (const auto& s : read_stamps(file))
    if (s.event == "start")
      starts.push_back(s.mono_ns);
  REQUIRE(starts.size() == 200);
  // The head's starts, as journaled when it dispatched them (its clock):
  // the limit's own bound. The processes' stamps add each worker's start
  // jitter (a late start moves into the next window): one more at most.
  std::vector<int64_t> journaled;
  {
    pqxx::connection conn{dsn};
    pqxx::work tx{conn};
    for (const auto& row : tx.exec("SELECT (extract(epoch FROM at) * 1e9)::bigint"
                                   " FROM task_events WHERE kind = 'start'"))
      journaled.push_back(row[0].as<int64_t>());
  }
  REQUIRE(journaled.size() == 200);
  const auto most_in_a_second = [](std::vector<int64_t> t) {
    std::sort(t.begin(), t.end());
    size_t most = 0;
    for (size_t i = 0, j = 0; i < t.size(); ++i) {
      while (t[i] - t[j] >= 1'000'000'000)
        ++j;
      most = std::max(most, i - j + 1);
    }
    return most;
  };
  const size_t most = most_in_a_second(journaled);
  const size_t most_ran = most_in_a_second(starts);
  const auto span_of = [](std::vector<int64_t> t) {
    std::sort(t.begin(), t.end());
    return static_cast<double>(t.back() - t.front()) / 1e9;
  };
  const double head_span_s = span_of(journaled);
  const double span_s = span_of(starts);
  const double ideal_s = 199.0 / 20;
  std::printf("limits e2e rate: 200 starts at 20/s burst 1: most in any 1 s window %zu "
              "(journaled starts), %zu (the processes' own stamps), span %.3f s (journaled) "
              "%.3f s (stamps), ideal %.3f s, ratio %.3f\n",
              most, most_ran, head_span_s, span_s, ideal_s, span_s / ideal_s);
  CHECK(most <= 21);
  CHECK(most_ran <= 22);
  // Never faster than the rate, on the head's clock (where the limit acts).
  // The bound is the documented one (docs/tasks.md): a start keeps up to
  // start_slack() tokens of lateness (0.4 at 20/s), and the first start
  // after an idle spell has that much in hand, so the n-th start comes no
  // earlier than (n - 1 - 0.4) / rate after the first: 9.930 s here (CI saw
  // 9.931 s). The processes' stamps add each worker's start jitter on top.
  const double slack_s = sched::start_slack(20) / 20;
  CHECK(head_span_s >= ideal_s - slack_s - 0.001);
  CHECK(span_s >= ideal_s - slack_s - 0.05);
  CHECK(span_s <= ideal_s * 1.25);  // sanity bound; the figure above is the result
}

TEST_CASE("limits - concurrency 3 over 2 nodes: never more than 3 running, 3 most of the time",
          "[e2e][limits]") {
  auto dsn = fresh_schema_dsn("e2e_limits_conc");
  head_process head{dsn, {"--workers", "3"}};
  limits_cli(head, {"set", "db", "--concurrency", "3"});
  REQUIRE(eventually([&] { return limit_loads(head) >= 1; }));
  node_process node{head.address(), "limits-node", head.data_dir(), {"--workers", "3"}};
  auto& c = head.connect();
  REQUIRE(eventually([&] { return nodes_of(c).size() >= 2; }));
  const auto file = head.data_dir() + "/conc.stamps";
  auto ids = submit_stamps(c, file, 30, 500, {"db"});
  await_all(c, ids);
  std::vector<std::pair<int64_t, int>> edges; // (time, +1 start / -1 stop)
  std::set<std::string> pids_seen;
  for (const auto& s : read_stamps(file))
    if (s.event == "start" || s.event == "stop")
      edges.emplace_back(s.mono_ns, s.event == "start" ? 1 : -1);
  REQUIRE(edges.size() == 60);
  std::sort(edges.begin(), edges.end()); // a stop before a start at the same ns
  int running = 0, most = 0;
  int64_t at3 = 0;
  for (size_t i = 0; i < edges.size(); ++i) {
    running += edges[i].second;
    most = std::max(most, running);
    if (running == 3 && i + 1 < edges.size())
      at3 += edges[i + 1].first - edges[i].first;
  }
  const double span = static_cast<double>(edges.back().first - edges.front().first);
  std::printf("limits e2e concurrency: 30 x 0.5 s at concurrency 3 on 2 nodes: most at once "
              "%d, 3 running %.1f%% of %.2f s (ideal 5.00 s)\n",
              most, 100.0 * static_cast<double>(at3) / span, span / 1e9);
  CHECK(most == 3);
  CHECK(static_cast<double>(at3) / span >= 0.6); // "most of the time"
}

TEST_CASE("limits - fairness: a key with 10 tasks is not starved by one with 1,000",
          "[e2e][limits]") {
  auto dsn = fresh_schema_dsn("e2e_limits_fair");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  const auto file = head.data_dir() + "/fair.stamps";
  // No limit is set on either key: the workers are the bottleneck, and keys
  // take turns for them.
  auto a = submit_stamps(c, file, 1000, 20, {"tenant:A"});
  auto b = submit_stamps(c, file, 10, 20, {"tenant:B"});
  await_all(c, b);
  std::set<int64_t> b_ids{b.begin(), b.end()};
  size_t a_done_when_b_done = 0, b_stops = 0;
  for (const auto& s : read_stamps(file)) {
    if (s.event != "stop")
      continue;
    if (b_ids.count(s.task)) {
      if (++b_stops == b.size())
        break;
    } else {
      ++a_done_when_b_done;
    }
  }
  std::printf("limits e2e fairness: key B's 10 tasks done after %zu of key A's 1000\n",
              a_done_when_b_done);
  CHECK(b_stops == 10);
  CHECK(a_done_when_b_done < 100); // FIFO would have run all 1,000 first
  // B's tasks were submitted after every one of A's.
  CHECK(*std::min_element(b.begin(), b.end()) > *std::max_element(a.begin(), a.end()));
}

TEST_CASE("limits - a concurrency limit holds across a head kill -9", "[e2e][limits]") {
  auto dsn = fresh_schema_dsn("e2e_limits_kill");
  const auto port = free_port();
  head_process head{dsn, {"--workers", "3", "--port", port}};
  limits_cli(head, {"set", "one", "--concurrency", "1"});
  REQUIRE(eventually([&] { return limit_loads(head) >= 1; }));
  const auto file = head.data_dir() + "/kill.stamps";
  auto ids = submit_stamps(head.connect(), file, 6, 300, {"one"});
  REQUIRE(eventually([&] {
    size_t n = 0;
    for (const auto& s : read_stamps(file))
      n += s.event == "start";
    return n >= 2;
  }));
  head.kill9();
  // The window: the head died with a task of the key RUNNING and 4 QUEUED.
  int64_t killed_ns = 0;
  {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    killed_ns = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
  }
  const auto loads_before = limit_loads(head);
  head.restart(); // on the same port (its arguments hold it)
  REQUIRE(eventually([&] { return limit_loads(head) > loads_before; }));
  await_all(head.connect(), ids);
  // After the restart, one task at a time.
  std::vector<std::pair<int64_t, int>> edges;
  for (const auto& s : read_stamps(file))
    if (s.mono_ns > killed_ns && (s.event == "start" || s.event == "stop"))
      edges.emplace_back(s.mono_ns, s.event == "start" ? 1 : -1);
  std::sort(edges.begin(), edges.end());
  int running = 0, most = 0, starts = 0;
  for (const auto& e : edges) {
    running += e.second;
    starts += e.second > 0;
    most = std::max(most, running);
  }
  std::printf("limits e2e kill -9: %d starts after the restart, most at once %d\n", starts, most);
  CHECK(starts >= 4);
  CHECK(most == 1);
}

// The metrics registry: the text format it renders, and exact counts under
// concurrent recording.

#include "taskrt/metrics/registry.hpp"
#include "taskrt/metrics/taskrt_metrics.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <sstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using namespace taskrt::metrics;

TEST_CASE("a counter family renders HELP - TYPE - one sample per label set", "[metrics]") {
  registry r;
  auto& f = r.add_counter("t_requests_total", "Requests\nby path", {"path", "code"});
  f.with({"/a", "200"}).inc();
  f.with({"/a", "200"}).inc(2);
  f.with({"/b\"x\\", "503"}).inc();
  f.with({"/a", "200"}).inc(-5); // ignored: counters only go up
  CHECK(r.render()
        == "# HELP t_requests_total Requests\\nby path\n"
           "# TYPE t_requests_total counter\n"
           "t_requests_total{path=\"/a\",code=\"200\"} 3\n"
           "t_requests_total{path=\"/b\\\"x\\\\\",code=\"503\"} 1\n");
}

TEST_CASE("a histogram renders cumulative buckets - +Inf - sum - count", "[metrics]") {
  registry r;
  auto& h = r.add_histogram("t_seconds", "Durations", {0.005, 0.1, 1});
  for (double v : {0.001, 0.005, 0.05, 0.5, 7.0})
    h.get().observe(v);
  CHECK(r.render()
        == "# HELP t_seconds Durations\n"
           "# TYPE t_seconds histogram\n"
           "t_seconds_bucket{le=\"0.005\"} 2\n"
           "t_seconds_bucket{le=\"0.1\"} 3\n"
           "t_seconds_bucket{le=\"1\"} 4\n"
           "t_seconds_bucket{le=\"+Inf\"} 5\n"
           "t_seconds_sum 7.556\n"
           "t_seconds_count 5\n");
}

TEST_CASE("a family without samples still renders its HELP and TYPE", "[metrics]") {
  registry r;
  r.add_gauge("t_depth", "Depth", {"queue"});
  CHECK(r.render() == "# HELP t_depth Depth\n# TYPE t_depth gauge\n");
}

TEST_CASE("one name is one family - another type for it is refused", "[metrics]") {
  registry r;
  auto& a = r.add_gauge("t_x", "X");
  auto& b = r.add_gauge("t_x", "X again");
  CHECK(&a == &b);
  CHECK_THROWS_AS(r.add_counter("t_x", "X"), std::logic_error);
}

TEST_CASE("values print as Prometheus writes them", "[metrics]") {
  CHECK(format_value(0) == "0");
  CHECK(format_value(42) == "42");
  CHECK(format_value(0.005) == "0.005");
  CHECK(format_value(1.0 / 3) == "0.3333333333333333");
  CHECK(format_value(1e300) == "1e+300");
  CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(format_value(std::nan("")) == "NaN");
}

TEST_CASE("concurrent recording from 4 threads loses no increment", "[metrics]") {
  registry r;
  auto& c = r.add_counter("t_total", "T", {"k"});
  auto& h = r.add_histogram("t_h", "H", {0.5});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        c.with({t % 2 ? "odd" : "even"}).inc();
        h.get().observe(i % 2 ? 1.0 : 0.0);
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(c.with({"odd"}).value() == 40000);
  CHECK(c.with({"even"}).value() == 40000);
  CHECK(h.get().cumulative() == std::vector<uint64_t>{40000, 80000});
  CHECK(h.get().sum() == 40000);
}

namespace {

/// What `body` returns, run in a child process: register_all sets the role of
/// the process-wide registry once, so each role gets a process of its own
/// (and this one's registry, which other tests render, stays without it).
std::string in_child(const std::function<std::string()>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    const auto text = body();
    size_t at = 0;
    while (at < text.size()) {
      auto n = ::write(fds[1], text.data() + at, text.size() - at);
      if (n <= 0)
        ::_exit(1);
      at += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;)
    text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return text;
}

std::string registered(const std::string& role, bool workers) {
  return in_child([&] {
    register_all(role, workers);
    return registry::global().render();
  });
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

} // namespace

TEST_CASE("register_all shows every taskrt metric of the head before anything is recorded",
          "[metrics]") {
  const auto text = registered("head", true);
  for (const char* name :
       {"# TYPE taskrt_tasks gauge", "taskrt_tasks{role=\"head\",state=\"QUEUED\"} 0",
        "taskrt_tasks{role=\"head\",state=\"RUNNING\"} 0",
        "taskrt_tasks{role=\"head\",state=\"WAITING\"} 0",
        "# TYPE taskrt_tasks_finished_total counter",
        "taskrt_tasks_finished_total{role=\"head\",state=\"SUCCEEDED\"} 0",
        "taskrt_tasks_finished_total{role=\"head\",state=\"LOST\"} 0",
        "# TYPE taskrt_task_transitions_total counter",
        "# TYPE taskrt_task_duration_seconds histogram",
        "# TYPE taskrt_task_queue_wait_seconds histogram",
        "# TYPE taskrt_task_retries_total counter", "# TYPE taskrt_tasks_lost_total counter",
        "taskrt_tasks_lost_total{role=\"head\",cause=\"worker_died\"} 0",
        "taskrt_tasks_lost_total{role=\"head\",cause=\"node_dead\"} 0",
        "taskrt_stale_results_total{role=\"head\"} 0",
        "taskrt_journal_commit_duration_seconds_count{role=\"head\"} 0",
        "taskrt_journal_commit_batch_size_count{role=\"head\"} 0",
        "taskrt_nodes{role=\"head\",state=\"ALIVE\"} 0",
        "taskrt_nodes{role=\"head\",state=\"LEFT\"} 0", "taskrt_slots_used{role=\"head\"} 0",
        "taskrt_slots_free{role=\"head\"} 0", "# TYPE taskrt_queue_depth gauge",
        "# TYPE taskrt_queue_oldest_age_seconds gauge",
        "taskrt_worker_process_restarts_total{role=\"head\",cause=\"crashed\"} 0",
        "taskrt_build_info{role=\"head\",version=\"", "# TYPE taskrt_http_requests_total counter",
        "taskrt_process_start_time_seconds{role=\"head\"} "}) {
    INFO(name);
    CHECK(has(text, name));
  }
  // Finished states are counters, not gauges; a node's family is not here.
  CHECK_FALSE(has(text, "taskrt_tasks{role=\"head\",state=\"SUCCEEDED\"}"));
  CHECK_FALSE(has(text, "taskrt_node_registered"));
  // A head without local workers: no worker families.
  CHECK_FALSE(has(registered("head", false), "taskrt_worker_process_restarts_total"));
}

TEST_CASE("a node exports only its own families, labelled role=node", "[metrics]") {
  const auto text = registered("node", true);
  for (const char* name :
       {"taskrt_node_registered{role=\"node\"} 0",
        "taskrt_worker_process_restarts_total{role=\"node\",cause=\"crashed\"} 0",
        "taskrt_worker_process_restarts_total{role=\"node\",cause=\"killed\"} 0",
        "# TYPE taskrt_http_requests_total counter", "taskrt_build_info{role=\"node\",version=\"",
        "taskrt_process_start_time_seconds{role=\"node\"} "}) {
    INFO(name);
    CHECK(has(text, name));
  }
  for (const char* head_only :
       {"taskrt_tasks", "taskrt_task_", "taskrt_nodes", "taskrt_slots_", "taskrt_queue_",
        "taskrt_journal_", "taskrt_stale_"}) {
    INFO(head_only);
    CHECK_FALSE(has(text, head_only));
  }
  // Every sample line carries the role.
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] != '#') {
      INFO(line);
      CHECK(has(line, "{role=\"node\""));
    }
}

TEST_CASE("the recording functions land in their families", "[metrics]") {
  const auto text = in_child([] {
    register_all("head", false);
    record_transition("echo", taskrt::task_state::succeeded);
    for (int i = 0; i < 202; ++i)
      record_finished(taskrt::task_state::succeeded);
    record_finished(taskrt::task_state::lost);
    record_lost("stuck");
    set_waiting(7);
    // The live states' publication leaves the WAITING count alone.
    set_tasks({{taskrt::task_state::queued, 3}, {taskrt::task_state::succeeded, 9}});
    set_nodes({{"ALIVE", 2}});
    set_queue("mail", 4, 1.5);
    observe_commit(0.002, 17);
    return registry::global().render();
  });
  CHECK(has(text, "taskrt_task_transitions_total{role=\"head\",task=\"echo\",state=\"SUCCEEDED\"} 1"));
  CHECK(has(text, "taskrt_tasks_finished_total{role=\"head\",state=\"SUCCEEDED\"} 202"));
  CHECK(has(text, "taskrt_tasks_finished_total{role=\"head\",state=\"LOST\"} 1"));
  CHECK(has(text, "taskrt_tasks_finished_total{role=\"head\",state=\"FAILED\"} 0"));
  CHECK(has(text, "taskrt_tasks_lost_total{role=\"head\",cause=\"stuck\"} 1"));
  CHECK(has(text, "taskrt_tasks{role=\"head\",state=\"QUEUED\"} 3"));
  CHECK(has(text, "taskrt_tasks{role=\"head\",state=\"RUNNING\"} 0"));
  CHECK(has(text, "taskrt_tasks{role=\"head\",state=\"WAITING\"} 7"));
  CHECK_FALSE(has(text, "taskrt_tasks{role=\"head\",state=\"SUCCEEDED\"}"));
  CHECK(has(text, "taskrt_nodes{role=\"head\",state=\"ALIVE\"} 2"));
  CHECK(has(text, "taskrt_nodes{role=\"head\",state=\"DEAD\"} 0"));
  CHECK(has(text, "taskrt_queue_depth{role=\"head\",queue=\"mail\"} 4"));
  CHECK(has(text, "taskrt_queue_oldest_age_seconds{role=\"head\",queue=\"mail\"} 1.5"));
  CHECK(has(text, "taskrt_journal_commit_batch_size_bucket{role=\"head\",le=\"16\"} 0"));
  CHECK(has(text, "taskrt_journal_commit_batch_size_bucket{role=\"head\",le=\"32\"} 1"));
}

TEST_CASE("a constant label comes first on every sample", "[metrics]") {
  registry r;
  r.set_constant_label("role", "node");
  r.add_counter("t_total", "T", {"k"}).with({"a"}).inc();
  r.add_gauge("t_g", "G").get().set(2);
  r.add_histogram("t_h", "H", {1}).get().observe(0.5);
  CHECK(r.render()
        == "# HELP t_total T\n# TYPE t_total counter\nt_total{role=\"node\",k=\"a\"} 1\n"
           "# HELP t_g G\n# TYPE t_g gauge\nt_g{role=\"node\"} 2\n"
           "# HELP t_h H\n# TYPE t_h histogram\n"
           "t_h_bucket{role=\"node\",le=\"1\"} 1\nt_h_bucket{role=\"node\",le=\"+Inf\"} 1\n"
           "t_h_sum{role=\"node\"} 0.5\nt_h_count{role=\"node\"} 1\n");
}

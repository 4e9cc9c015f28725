// The metrics registry: the text format it renders, and exact counts under
// concurrent recording.

#include "metrics/registry.hpp"
#include "metrics/taskrt_metrics.hpp"

#include <catch2/catch.hpp>

#include <thread>

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

TEST_CASE("register_all shows every taskrt metric before anything is recorded", "[metrics]") {
  register_all("head");
  const auto text = registry::global().render();
  for (const char* name :
       {"# TYPE taskrt_tasks gauge", "taskrt_tasks{state=\"QUEUED\"} 0",
        "taskrt_tasks{state=\"LOST\"} 0", "# TYPE taskrt_task_transitions_total counter",
        "# TYPE taskrt_task_duration_seconds histogram",
        "# TYPE taskrt_task_queue_wait_seconds histogram",
        "# TYPE taskrt_task_retries_total counter", "# TYPE taskrt_tasks_lost_total counter",
        "taskrt_stale_results_total 0", "taskrt_journal_commit_duration_seconds_count 0",
        "taskrt_journal_commit_batch_size_count 0", "taskrt_nodes{state=\"ALIVE\"} 0",
        "taskrt_nodes{state=\"LEFT\"} 0", "taskrt_slots_used 0", "taskrt_slots_free 0",
        "# TYPE taskrt_queue_depth gauge", "# TYPE taskrt_queue_oldest_age_seconds gauge",
        "taskrt_worker_process_restarts_total{cause=\"crashed\"} 0",
        "taskrt_build_info{version=\"", "# TYPE taskrt_http_requests_total counter"}) {
    INFO(name);
    CHECK(text.find(name) != std::string::npos);
  }
}

TEST_CASE("the recording functions land in their families", "[metrics]") {
  register_all("head");
  record_transition("echo", taskrt::task_state::succeeded);
  set_tasks({{taskrt::task_state::queued, 3}});
  set_nodes({{"ALIVE", 2}});
  set_queue("mail", 4, 1.5);
  observe_commit(0.002, 17);
  const auto text = registry::global().render();
  CHECK(text.find("taskrt_task_transitions_total{task=\"echo\",state=\"SUCCEEDED\"} ")
        != std::string::npos);
  CHECK(text.find("taskrt_tasks{state=\"QUEUED\"} 3") != std::string::npos);
  CHECK(text.find("taskrt_tasks{state=\"RUNNING\"} 0") != std::string::npos);
  CHECK(text.find("taskrt_nodes{state=\"ALIVE\"} 2") != std::string::npos);
  CHECK(text.find("taskrt_nodes{state=\"DEAD\"} 0") != std::string::npos);
  CHECK(text.find("taskrt_queue_depth{queue=\"mail\"} 4") != std::string::npos);
  CHECK(text.find("taskrt_queue_oldest_age_seconds{queue=\"mail\"} 1.5") != std::string::npos);
  CHECK(text.find("taskrt_journal_commit_batch_size_bucket{le=\"16\"} 0") != std::string::npos);
  CHECK(text.find("taskrt_journal_commit_batch_size_bucket{le=\"32\"} 1") != std::string::npos);
}

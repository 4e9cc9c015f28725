#include "taskrt/metrics/taskrt_metrics.hpp"

#include "taskrt/runtime/version.hpp"

#include "taskrt/metrics/registry.hpp"

#include <chrono>

namespace taskrt::metrics {

namespace {

/// States a task lives in (gauges) and states it finishes in (counters).
constexpr task_state live_states[] = {task_state::queued, task_state::running};
constexpr task_state final_states[] = {task_state::succeeded, task_state::failed,
                                       task_state::cancelled, task_state::lost};
/// The causes record_lost is given (scheduler_attempts.cpp, lost_cause).
constexpr const char* lost_causes[] = {"worker_died", "node_dead", "stuck", "recovery",
                                       "other"};
constexpr const char* node_states[] = {"ALIVE", "SUSPECT", "DEAD", "DRAINING", "LEFT"};

/// Seconds: 1 ms .. ~65 s for tasks (doubling), 0.5 ms .. ~1 s for commits.
const std::vector<double>& task_buckets() {
  static const auto b = exponential_buckets(0.001, 2, 17);
  return b;
}

family<gauge>& tasks() {
  static auto& f = registry::global().add_gauge(
    "taskrt_tasks",
    "Tasks by state: live ones (QUEUED, RUNNING) and those WAITING for their parents",
    {"state"});
  return f;
}
family<counter>& finished() {
  static auto& f = registry::global().add_counter(
    "taskrt_tasks_finished_total",
    "Tasks that reached a final state (no retry follows) since this head started, by state",
    {"state"});
  return f;
}
family<counter>& transitions() {
  static auto& f = registry::global().add_counter(
    "taskrt_task_transitions_total", "Journaled task transitions by task name and target state",
    {"task", "state"});
  return f;
}
family<histogram>& duration() {
  static auto& f = registry::global().add_histogram(
    "taskrt_task_duration_seconds", "Running time of an attempt, by task name", task_buckets(),
    {"task"});
  return f;
}
family<histogram>& queue_wait() {
  static auto& f = registry::global().add_histogram(
    "taskrt_task_queue_wait_seconds",
    "Time from runnable (enqueued) to the start of an attempt, by task name", task_buckets(),
    {"task"});
  return f;
}
family<counter>& retries() {
  static auto& f = registry::global().add_counter(
    "taskrt_task_retries_total", "Retry decisions that re-queued a task, by task name", {"task"});
  return f;
}
family<counter>& lost() {
  static auto& f = registry::global().add_counter("taskrt_tasks_lost_total",
                                              "Attempts that ended LOST, by cause", {"cause"});
  return f;
}
family<counter>& stale() {
  static auto& f = registry::global().add_counter(
    "taskrt_stale_results_total", "Results of stale leases fenced and dropped");
  return f;
}
family<histogram>& commit_seconds() {
  static auto& f = registry::global().add_histogram(
    "taskrt_journal_commit_duration_seconds", "Duration of one journal group commit",
    exponential_buckets(0.0005, 2, 12));
  return f;
}
family<histogram>& commit_items() {
  static auto& f = registry::global().add_histogram(
    "taskrt_journal_commit_batch_size", "Transitions written by one journal group commit",
    exponential_buckets(1, 2, 14));
  return f;
}
family<gauge>& nodes() {
  static auto& f = registry::global().add_gauge("taskrt_nodes", "Worker nodes by state", {"state"});
  return f;
}
family<gauge>& slots_used() {
  static auto& f = registry::global().add_gauge("taskrt_slots_used",
                                            "Worker slots running or reserved for an attempt");
  return f;
}
family<gauge>& slots_free() {
  static auto& f = registry::global().add_gauge("taskrt_slots_free", "Idle worker slots");
  return f;
}
family<gauge>& queue_depth() {
  static auto& f = registry::global().add_gauge("taskrt_queue_depth", "QUEUED tasks per queue",
                                            {"queue"});
  return f;
}
family<gauge>& throttled() {
  static auto& f = registry::global().add_gauge(
    "taskrt_limit_throttled_tasks",
    "QUEUED tasks waiting for a rate or concurrency limit per limit key", {"key"});
  return f;
}
family<gauge>& queue_age() {
  static auto& f = registry::global().add_gauge(
    "taskrt_queue_oldest_age_seconds", "Age of the oldest runnable QUEUED task per queue",
    {"queue"});
  return f;
}
family<counter>& restarts() {
  static auto& f = registry::global().add_counter(
    "taskrt_worker_process_restarts_total", "Worker processes restarted, by cause", {"cause"});
  return f;
}
family<gauge>& registered() {
  static auto& f = registry::global().add_gauge(
    "taskrt_node_registered", "1 while this worker node is registered with a head");
  return f;
}
family<counter>& http_requests() {
  static auto& f = registry::global().add_counter(
    "taskrt_http_requests_total", "HTTP requests answered, by path and status code",
    {"path", "code"});
  return f;
}

} // namespace

void register_all(const std::string& role, bool workers) {
  static const auto started = std::chrono::duration<double>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  auto& r = registry::global();
  r.set_constant_label("role", role);
  r.add_gauge("taskrt_build_info", "Version and commit of this process (always 1)",
              {"version", "commit"})
    .with({version(), build_commit()})
    .set(1);
  r.add_gauge("taskrt_process_start_time_seconds", "Start time of the process since the Unix epoch")
    .get()
    .set(started);
  if (role == "head") {
    for (auto s : live_states)
      tasks().with({to_string(s)});
    tasks().with({to_string(task_state::waiting)});
    for (auto s : final_states)
      finished().with({to_string(s)});
    transitions();
    duration();
    queue_wait();
    retries();
    for (auto* c : lost_causes)
      lost().with({c});
    stale().get();
    commit_seconds().get();
    commit_items().get();
    for (auto* s : node_states)
      nodes().with({s});
    slots_used().get();
    slots_free().get();
    queue_depth();
    queue_age();
    throttled();
  } else {
    registered().get();
  }
  if (workers) {
    restarts().with({"crashed"});
    restarts().with({"killed"});
  }
  http_requests();
}

void record_transition(const std::string& task, task_state to) {
  transitions().with({task, to_string(to)}).inc();
}

void record_finished(task_state state) {
  finished().with({to_string(state)}).inc();
}

void set_tasks(const std::map<task_state, int64_t>& counts) {
  for (auto s : live_states) {
    auto i = counts.find(s);
    tasks().with({to_string(s)}).set(i == counts.end() ? 0 : static_cast<double>(i->second));
  }
}

void set_waiting(int64_t n) {
  tasks().with({to_string(task_state::waiting)}).set(static_cast<double>(n));
}

void observe_task_duration(const std::string& task, double seconds) {
  duration().with({task}).observe(seconds);
}

void observe_queue_wait(const std::string& task, double seconds) {
  queue_wait().with({task}).observe(seconds);
}

void record_retry(const std::string& task) {
  retries().with({task}).inc();
}

void record_lost(const std::string& cause) {
  lost().with({cause}).inc();
}

void record_stale_result() {
  stale().get().inc();
}

void set_nodes(const std::map<std::string, int64_t>& counts) {
  for (auto* s : node_states)
    if (counts.find(s) == counts.end())
      nodes().with({s}).set(0);
  for (auto& [state, n] : counts)
    nodes().with({state}).set(static_cast<double>(n));
}

void set_slots(int64_t used, int64_t free) {
  slots_used().get().set(static_cast<double>(used));
  slots_free().get().set(static_cast<double>(free));
}

void set_queue(const std::string& queue, int64_t depth, double oldest_age_s) {
  queue_depth().with({queue}).set(static_cast<double>(depth));
  queue_age().with({queue}).set(oldest_age_s);
}

void set_throttled(const std::string& key, int64_t tasks) {
  throttled().with({key}).set(static_cast<double>(tasks));
}

void observe_commit(double seconds, int64_t items) {
  commit_seconds().get().observe(seconds);
  commit_items().get().observe(static_cast<double>(items));
}

void record_worker_restart(const std::string& cause) {
  restarts().with({cause}).inc();
}

void set_node_registered(bool registered_now) {
  registered().get().set(registered_now ? 1 : 0);
}

void record_http_request(const std::string& path, int code) {
  http_requests().with({path, std::to_string(code)}).inc();
}

} // namespace taskrt::metrics

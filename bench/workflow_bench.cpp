/// Workflows at scale (issue 25): one graph of 1 + N + 1 `noop` tasks, a
/// fan-out root -> N and a fan-in N -> sink, submitted as one commit
/// (client::submit_graph), against a running head.
///
///   workflow_bench --address H:P --db DSN [--n 10000] [--head-pid PID]
///                  [--min-workers 1] [--timeout 600]
///
/// Prints one JSON line: submit_s (the one commit of the whole graph),
/// run_s (submit acknowledged to the sink final), release_ms (from the
/// journaled end of the last of the N parents to the start of the sink,
/// both from the journal), fanout_ms (root's end to the first child's
/// start), and with --head-pid the head's VmRSS and VmHWM (kB) while the
/// N tasks were WAITING and at the end. Bounded by --timeout. Exit 0 on
/// success, 1 on a failure (printed), 2 on a usage error.

#include "taskrt/cluster/client.hpp"
#include "taskrt/persistence/journal_store.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

namespace {

using namespace std::chrono;

/// Reads KEY (e.g. "VmRSS") in kB from /proc/PID/status; -1 when unknown.
int64_t proc_kb(int pid, const std::string& key) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0)
      return std::stoll(line.substr(key.size() + 1));
  return -1;
}

int usage(const char* why) {
  std::fprintf(stderr, "workflow_bench: %s\nusage: workflow_bench --address H:P --db DSN "
                       "[--n 10000] [--head-pid PID] [--min-workers 1] [--timeout 600]\n",
               why);
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  std::string address, dsn;
  int64_t n = 10'000;
  int head_pid = 0, min_workers = 1, timeout_s = 600;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc)
      return usage("missing value");
    const std::string v = argv[++i];
    if (a == "--address")
      address = v;
    else if (a == "--db")
      dsn = v;
    else if (a == "--n")
      n = std::stoll(v);
    else if (a == "--head-pid")
      head_pid = std::stoi(v);
    else if (a == "--min-workers")
      min_workers = std::stoi(v);
    else if (a == "--timeout")
      timeout_s = std::stoi(v);
    else
      return usage(("unknown option " + a).c_str());
  }
  if (address.empty() || dsn.empty() || n < 1 || n > 10'000)
    return usage("--address and --db are required; --n is 1..10000");
  taskrt::client c{address};
  if (!c.connected()) {
    std::fprintf(stderr, "workflow_bench: %s\n", c.connect_error().c_str());
    return 1;
  }
  const auto deadline = steady_clock::now() + seconds(timeout_s);
  for (;;) {
    auto s = c.status();
    if (s && s->recovered && s->workers >= min_workers)
      break;
    if (steady_clock::now() > deadline) {
      std::fprintf(stderr, "workflow_bench: no %d ready workers in time\n", min_workers);
      return 1;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::vector<taskrt::graph_task> g;
  taskrt::task_spec noop;
  noop.name = "noop";
  noop.origin = "workflow_bench";
  g.push_back({"root", noop, {}});
  std::vector<std::string> mids;
  for (int64_t i = 0; i < n; ++i) {
    mids.push_back("m" + std::to_string(i));
    g.push_back({mids.back(), noop, {"root"}});
  }
  g.push_back({"sink", noop, mids});
  const auto t0 = steady_clock::now();
  auto ids = c.submit_graph(g);
  const auto t1 = steady_clock::now();
  if (!ids) {
    std::fprintf(stderr, "workflow_bench: submit: %s\n",
                 taskrt::error_message(ids.error()).c_str());
    return 1;
  }
  const int64_t rss_waiting = head_pid ? proc_kb(head_pid, "VmRSS") : -1;
  auto out = c.await(ids->at("sink"), seconds(timeout_s));
  const auto t2 = steady_clock::now();
  if (!out || out->state != taskrt::task_state::succeeded) {
    std::fprintf(stderr, "workflow_bench: the sink did not succeed\n");
    return 1;
  }
  // From the journal: the last parent's end, the sink's start.
  taskrt::journal_store store{dsn};
  int64_t last_parent_end = 0, first_child_start = 0, root_end = 0, sink_start = 0;
  for (const auto& e : store.events(ids->at("root")))
    if (e.kind == taskrt::transition_kind::succeed)
      root_end = e.at_us;
  for (const auto& m : mids)
    for (const auto& e : store.events(ids->at(m))) {
      if (e.kind == taskrt::transition_kind::succeed)
        last_parent_end = std::max(last_parent_end, e.at_us);
      if (e.kind == taskrt::transition_kind::start && (first_child_start == 0 || e.at_us < first_child_start))
        first_child_start = e.at_us;
    }
  for (const auto& e : store.events(ids->at("sink")))
    if (e.kind == taskrt::transition_kind::start && sink_start == 0)
      sink_start = e.at_us;
  nlohmann::json j{{"n", n},
                   {"tasks", n + 2},
                   {"submit_s", duration<double>(t1 - t0).count()},
                   {"run_s", duration<double>(t2 - t1).count()},
                   {"fanout_ms", (first_child_start - root_end) / 1000.0},
                   {"release_ms", (sink_start - last_parent_end) / 1000.0}};
  if (head_pid) {
    j["head_rss_kb_waiting"] = rss_waiting;
    j["head_rss_kb_end"] = proc_kb(head_pid, "VmRSS");
    j["head_hwm_kb"] = proc_kb(head_pid, "VmHWM");
  }
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

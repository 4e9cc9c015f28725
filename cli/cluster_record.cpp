#include "taskrt/cli/cluster_record.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

std::string names_of(const std::vector<cluster_process>& ps) {
  std::string out;
  for (const auto& p : ps)
    out += (out.empty() ? "" : ", ") + p.id + " (pid " + std::to_string(p.proc.pid) + ")";
  return out;
}

/// Reaps `pid` if it is an exited child of ours (a failed `up` stops its own
/// children); harmless for anyone else's process.
void reap(int pid) {
  ::waitpid(pid, nullptr, WNOHANG);
}

/// Sends SIGTERM to `group` and waits until all exited or `timeout_s` passed,
/// then SIGKILLs the rest. True when none runs at the end.
bool stop_group(const std::vector<cluster_process>& group, double timeout_s,
                const std::string& who, const std::string& what) {
  std::vector<cluster_process> running;
  for (const auto& p : group) {
    if (!process_alive(p.proc)) {
      std::fprintf(stderr, "%s: %s (pid %d) is not running\n", who.c_str(), p.id.c_str(),
                   p.proc.pid);
      continue;
    }
    ::kill(p.proc.pid, SIGTERM);
    running.push_back(p);
  }
  if (running.empty())
    return true;
  std::fprintf(stderr, "%s: %s %s\n", who.c_str(), what.c_str(), names_of(running).c_str());
  const auto start = clock_type::now();
  auto next_note = 5.0;
  while (!running.empty() && seconds_since(start) < timeout_s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (auto i = running.begin(); i != running.end();) {
      if (process_alive(i->proc)) {
        ++i;
        continue;
      }
      reap(i->proc.pid);
      std::fprintf(stderr, "%s: %s stopped (%.1f s)\n", who.c_str(), i->id.c_str(),
                   seconds_since(start));
      i = running.erase(i);
    }
    if (!running.empty() && seconds_since(start) >= next_note) {
      std::fprintf(stderr, "%s: still waiting for %s (%.0f s of %.0f)\n", who.c_str(),
                   names_of(running).c_str(), seconds_since(start), timeout_s);
      next_note += 5;
    }
  }
  if (running.empty())
    return true;
  for (const auto& p : running) {
    std::fprintf(stderr, "%s: %s (pid %d) did not stop within %.0f s: sending SIGKILL\n",
                 who.c_str(), p.id.c_str(), p.proc.pid, timeout_s);
    ::kill(p.proc.pid, SIGKILL);
  }
  // SIGKILL cannot be ignored; only an uninterruptible sleep delays it.
  const auto killed_at = clock_type::now();
  bool any = true;
  while (any && seconds_since(killed_at) < 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    any = false;
    for (const auto& p : running)
      if (process_alive(p.proc))
        any = true;
      else
        reap(p.proc.pid);
  }
  for (const auto& p : running)
    if (process_alive(p.proc))
      std::fprintf(stderr, "%s: %s (pid %d) survived SIGKILL\n", who.c_str(), p.id.c_str(),
                   p.proc.pid);
  return !any;
}

} // namespace

std::string cluster_record_path(const std::string& data_dir) {
  return data_dir + "/cluster.json";
}

std::optional<cluster_record> read_cluster_record(const std::string& data_dir) {
  std::ifstream f{cluster_record_path(data_dir)};
  if (!f)
    return std::nullopt;
  auto j = json::parse(f, nullptr, false);
  if (!j.is_object() || !j.contains("processes") || !j["processes"].is_array())
    return std::nullopt;
  cluster_record r;
  r.address = j.value("address", "");
  r.started_at = j.value("started_at", "");
  for (const auto& p : j["processes"]) {
    if (!p.is_object())
      continue;
    cluster_process cp;
    cp.role = p.value("role", "");
    cp.id = p.value("id", "");
    cp.proc.pid = p.value("pid", 0);
    cp.proc.start_ticks = p.value("start_ticks", uint64_t{0});
    cp.log = p.value("log", "");
    r.processes.push_back(std::move(cp));
  }
  return r;
}

void write_cluster_record(const std::string& data_dir, const cluster_record& r) {
  json procs = json::array();
  for (const auto& p : r.processes)
    procs.push_back({{"role", p.role},
                     {"id", p.id},
                     {"pid", p.proc.pid},
                     {"start_ticks", p.proc.start_ticks},
                     {"log", p.log}});
  json j = {{"address", r.address}, {"started_at", r.started_at}, {"processes", procs}};
  auto path = cluster_record_path(data_dir);
  auto tmp = path + ".tmp";
  {
    std::ofstream f{tmp};
    f << j.dump(2) << "\n";
  }
  ::chmod(tmp.c_str(), 0600);
  std::rename(tmp.c_str(), path.c_str());
}

void remove_cluster_record(const std::string& data_dir) {
  ::unlink(cluster_record_path(data_dir).c_str());
}

std::vector<cluster_process> alive_processes(const cluster_record& r) {
  std::vector<cluster_process> out;
  for (const auto& p : r.processes)
    if (process_alive(p.proc))
      out.push_back(p);
  return out;
}

bool stop_cluster(const cluster_record& r, double timeout_s, const std::string& who) {
  std::vector<cluster_process> nodes, heads;
  for (const auto& p : r.processes)
    (p.role == "head" ? heads : nodes).push_back(p);
  // Nodes first, while the head is there to journal them DRAINING and LEFT.
  const bool nodes_ok = stop_group(nodes, timeout_s, who, "draining worker node(s)");
  const bool head_ok = stop_group(heads, timeout_s, who, "stopping");
  return nodes_ok && head_ok;
}

} // namespace taskrt::cli

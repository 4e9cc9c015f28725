// `taskrt down`: stops the cluster `taskrt up` recorded in DATA_DIR/cluster.json.

#include "taskrt/cli/cluster_commands.hpp"
#include "taskrt/cli/cluster_record.hpp"
#include "taskrt/cluster/head_node.hpp"

#include <chrono>
#include <cstdio>
#include <memory>

namespace taskrt::cli {

namespace {

int run_down(const std::string& data_dir, double timeout_s) {
  const auto dir = data_dir.empty() ? default_data_dir() : data_dir;
  auto rec = read_cluster_record(dir);
  if (!rec || alive_processes(*rec).empty()) {
    if (rec)
      remove_cluster_record(dir);
    std::printf("no cluster started by `taskrt up` runs in %s\n", dir.c_str());
    if (read_state_file(dir))
      std::printf("(a head started with `taskrt start --head` stops with `taskrt stop`)\n");
    return ok;
  }
  const auto start = std::chrono::steady_clock::now();
  if (!stop_cluster(*rec, timeout_s, "down"))
    return fail(failed, "down: some processes are still running (see above)");
  remove_cluster_record(dir);
  size_t nodes = 0;
  for (const auto& p : rec->processes)
    nodes += p.role == "node" ? 1 : 0;
  std::printf("stopped the head and %zu worker node(s) in %.1f s\n", nodes,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return ok;
}

} // namespace

void add_down_command(CLI::App& app, cli_env& env) {
  auto data_dir = std::make_shared<std::string>();
  auto timeout = std::make_shared<double>(60);
  auto* cmd = app.add_subcommand("down", "Stop the cluster started by `taskrt up`");
  cmd->footer(R"(Drains the worker nodes (SIGTERM: running attempts finish within the node's
drain grace or are handed back, then the node leaves: LEFT), then stops the
head (the drain `taskrt stop` asks for) and waits for every process to exit.
Whatever still runs after --timeout seconds (per step) gets SIGKILL, and down
says so. Exit 0 when everything stopped (also when nothing was running), 1
otherwise. The embedded Postgres keeps running, so `taskrt nodes` and `taskrt
tasks` still work; `taskrt db stop` stops it.
Examples:
  taskrt down
  taskrt down --data-dir /tmp/c1 --timeout 10)");
  cmd->add_option("--data-dir", *data_dir,
                  "Where `taskrt up` recorded the cluster (default: ~/.local/share/taskrt)");
  cmd->add_option("--timeout", *timeout, "Seconds each step (nodes, head) waits before SIGKILL")
    ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([&env, data_dir, timeout] { env.exit_code = run_down(*data_dir, *timeout); });
}

} // namespace taskrt::cli

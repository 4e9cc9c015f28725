// `taskrt up`: a head and N worker nodes as background processes of this
// machine, recorded in DATA_DIR/cluster.json for `taskrt down`.

#include "taskrt/cli/cluster_commands.hpp"
#include "taskrt/cli/cluster_record.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/cluster/client.hpp"
#include "taskrt/cluster/head_node.hpp"
#include "taskrt/runtime/time.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include <unistd.h>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

/// Options of `taskrt up`.
struct up_options {
  int nodes = 2;
  int workers = 2;
  int head_workers = 0;
  int port = default_cluster_port;
  double timeout_s = 60;
  std::string data_dir, db, output = "table";
};

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

/// True when `pid` runs a taskrt binary: `self` (this program, which may be
/// a user's own taskrt::run binary) or one named taskrt* (a head recorded in
/// head.json that is still there, as opposed to a stale file and a recycled
/// pid).
bool runs_taskrt(int pid, const std::string& self) {
  if (pid <= 0 || !process_alive({pid, 0}))
    return false;
  char buf[PATH_MAX] = {0};
  auto n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof(buf) - 1);
  if (n <= 0)
    return true; // cannot tell (another user's process): assume it is a head
  std::string exe{buf, static_cast<size_t>(n)};
  auto base = exe.substr(exe.rfind('/') + 1);
  return exe == self || base.rfind("taskrt", 0) == 0;
}

/// The running `taskrt up`: what it started so far, so a failure can name
/// the culprit, show its log and stop everything.
class up_run {
public:
  up_run(up_options o, std::string exe, std::string dir)
    : o_(std::move(o)), exe_(std::move(exe)), dir_(std::move(dir)) {
    rec_.started_at = to_rfc3339(now());
  }

  /// Starts everything and waits for it; the exit code.
  int run() {
    const auto start = clock_type::now();
    deadline_ = start + std::chrono::milliseconds(static_cast<int64_t>(o_.timeout_s * 1000));
    if (int rc = start_head(); rc != ok)
      return rc;
    std::fprintf(stderr, "up: head listening on %s (%.1f s)\n", rec_.address.c_str(),
                 seconds_since(start));
    if (int rc = start_nodes(); rc != ok)
      return rc;
    if (int rc = wait_alive(); rc != ok)
      return rc;
    std::fprintf(stderr, "up: cluster up in %.1f s\n", seconds_since(start));
    print_result();
    return ok;
  }

private:
  int start_head() {
    // A head started earlier and killed leaves its state file behind; the new
    // head writes its own, which is how we learn its port.
    ::unlink((dir_ + "/head.json").c_str());
    std::vector<std::string> argv{exe_, "start", "--head", "--workers",
                                  std::to_string(o_.head_workers), "--data-dir", dir_};
    argv.push_back("--port"); // 0: any free port (the state file tells which)
    argv.push_back(std::to_string(o_.port));
    std::vector<std::string> env; // a DSN may hold a password: not in argv
    if (!o_.db.empty())
      env.push_back("TASKRT_DATABASE_URL=" + o_.db);
    if (!spawn("head", "head", argv, env))
      return failed;
    const auto& head = rec_.processes.front();
    std::fprintf(stderr, "up: starting the head (pid %d, log %s)\n", head.proc.pid,
                 head.log.c_str());
    const auto waiting_since = clock_type::now();
    double next_note = 5;
    while (clock_type::now() < deadline_) {
      if (seconds_since(waiting_since) >= next_note) {
        std::fprintf(stderr, "up: still waiting for the head to listen (%.0f s of %.0f%s)\n",
                     next_note, o_.timeout_s,
                     o_.db.empty() && process_env().database_url.empty()
                       ? "; a first start sets up the embedded Postgres"
                       : "");
        next_note += 5;
      }
      std::string how;
      if (child_exited(head.proc.pid, how))
        return abort_up("the head exited during start (" + how + ")", {head});
      auto sf = read_state_file(dir_);
      if (sf && sf->pid == head.proc.pid && sf->port != 0) {
        rec_.address = sf->host + ":" + std::to_string(sf->port);
        host_ = sf->host;
        port_ = sf->port;
        write_cluster_record(dir_, rec_);
        return ok;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return abort_up("the head did not start listening within " + seconds_text(o_.timeout_s),
                    {head});
  }

  int start_nodes() {
    if (o_.nodes == 0)
      return ok;
    std::string started;
    for (int i = 1; i <= o_.nodes; ++i) {
      auto id = "node-" + std::to_string(i);
      if (!spawn("node", id,
                  {exe_, "start", "--address", rec_.address, "--workers",
                   std::to_string(o_.workers), "--node-id", id}))
        return failed;
      started += (started.empty() ? "" : ", ") + id + " (pid "
                 + std::to_string(rec_.processes.back().proc.pid) + ")";
    }
    std::fprintf(stderr, "up: starting %d worker node(s) with %d worker(s) each: %s\n", o_.nodes,
                 o_.workers, started.c_str());
    return ok;
  }

  int wait_alive() {
    if (o_.nodes == 0)
      return ok;
    client c{host_, port_};
    if (!c.connected())
      return abort_up("cannot reach the head: " + c.connect_error(), {rec_.processes.front()});
    std::set<std::string> alive;
    size_t reported = 0;
    const auto waiting_since = clock_type::now();
    double next_note = 5;
    while (clock_type::now() < deadline_) {
      for (const auto& p : rec_.processes) {
        std::string how;
        if (child_exited(p.proc.pid, how))
          return abort_up(p.id + " exited during start (" + how + ")", {p});
      }
      caf::scoped_actor self{c.system()};
      self->request(c.head(), std::chrono::seconds(5), nodes_atom::value)
        .receive(
          [&](std::vector<node_view>& nodes) {
            for (const auto& n : nodes)
              if (n.state == node_status::alive)
                alive.insert(n.id);
              else
                alive.erase(n.id);
          },
          [](caf::error&) {});
      std::vector<cluster_process> missing;
      for (const auto& p : rec_.processes)
        if (p.role == "node" && alive.count(p.id) == 0)
          missing.push_back(p);
      const auto ready = static_cast<size_t>(o_.nodes) - missing.size();
      if (ready != reported) {
        reported = ready;
        std::fprintf(stderr, "up: %zu/%d node(s) ALIVE\n", ready, o_.nodes);
      }
      if (missing.empty())
        return ok;
      if (seconds_since(waiting_since) >= next_note) {
        std::string names;
        for (const auto& p : missing)
          names += (names.empty() ? "" : ", ") + p.id;
        std::fprintf(stderr, "up: still waiting for %s (%.0f s)\n", names.c_str(), next_note);
        next_note += 5;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (clock_type::now() >= deadline_) {
        std::string names;
        for (const auto& p : missing)
          names += (names.empty() ? "" : ", ") + p.id;
        return abort_up(names + " did not become ALIVE within " + seconds_text(o_.timeout_s),
                        missing);
      }
    }
    return abort_up("timed out", {});
  }

  /// Starts one process and records it; false (after cleaning up) on failure.
  bool spawn(const std::string& role, const std::string& id,
             const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    cluster_process p;
    p.role = role;
    p.id = id;
    p.log = dir_ + "/" + id + ".log";
    log_offset_[id] = file_size(p.log);
    try {
      p.proc = spawn_detached(argv, p.log, env);
    } catch (const std::exception& e) {
      abort_up("cannot start " + id + ": " + e.what(), {});
      return false;
    }
    rec_.processes.push_back(std::move(p));
    write_cluster_record(dir_, rec_);
    return true;
  }

  /// Says what failed, shows the tail of the culprits' logs, stops whatever
  /// was started; returns 1.
  int abort_up(const std::string& why, const std::vector<cluster_process>& culprits) {
    fail(failed, "up: " + why);
    for (const auto& p : culprits) {
      auto tail = tail_file(p.log, 15, log_offset_[p.id]);
      std::fprintf(stderr, "--- last lines of %s ---\n%s", p.log.c_str(),
                   tail.empty() ? "(empty)\n" : indent_lines(tail, "  ").c_str());
    }
    if (!alive_processes(rec_).empty()) {
      std::fprintf(stderr, "up: stopping what was started\n");
      if (!stop_cluster(rec_, 15, "up"))
        return failed; // the record stays for `taskrt down`
    }
    remove_cluster_record(dir_);
    return failed;
  }

  void print_result() {
    json rows = json::array();
    for (const auto& p : rec_.processes)
      rows.push_back({{"role", p.role}, {"id", p.id}, {"pid", p.proc.pid}, {"log", p.log}});
    const auto f = parse_output(o_.output);
    if (f == output_format::json || f == output_format::yaml) {
      print_doc({{"address", rec_.address}, {"data_dir", dir_}, {"processes", rows}}, f);
      return;
    }
    static const std::vector<column> cols{
      {"ROLE", "role"}, {"ID", "id"}, {"PID", "pid"}, {"LOG", "log"}};
    print_list(rows, cols, f, "");
    const bool default_dir = dir_ == default_data_dir();
    std::printf("head at %s; data dir %s\nstop with: taskrt down%s\n", rec_.address.c_str(),
                dir_.c_str(), default_dir ? "" : (" --data-dir " + dir_).c_str());
  }

  up_options o_;
  std::string exe_, dir_, host_;
  uint16_t port_ = 0;
  cluster_record rec_;
  std::map<std::string, uint64_t> log_offset_;
  clock_type::time_point deadline_;
};

int run_up(const up_options& o, const std::string& exe) {
  auto dir = o.data_dir.empty() ? default_data_dir() : o.data_dir;
  if (!make_dirs(dir))
    return fail(failed, "up: cannot create the data dir " + dir);
  if (char* real = ::realpath(dir.c_str(), nullptr)) {
    dir = real;
    std::free(real);
  }
  if (auto rec = read_cluster_record(dir)) {
    auto alive = alive_processes(*rec);
    if (!alive.empty()) {
      std::string names;
      for (const auto& p : alive)
        names += (names.empty() ? "" : ", ") + p.id + " pid " + std::to_string(p.proc.pid);
      return fail(failed, "up: a cluster is already up in " + dir + " (" + names
                            + "); stop it with `taskrt down --data-dir " + dir + "`");
    }
  }
  if (auto sf = read_state_file(dir); sf && runs_taskrt(sf->pid, exe))
    return fail(failed, "up: a head already runs in " + dir + " (pid " + std::to_string(sf->pid)
                          + ", " + sf->host + ":" + std::to_string(sf->port)
                          + "); stop it with `taskrt stop --data-dir " + dir
                          + "` or pick another --data-dir");
  return up_run{o, exe, dir}.run();
}

} // namespace

void add_up_command(CLI::App& app, cli_env& env) {
  auto o = std::make_shared<up_options>();
  auto* cmd = app.add_subcommand("up", "Start a head and N worker nodes on this machine");
  cmd->footer(R"(Starts a head (embedded Postgres in the data dir unless --db or
$TASKRT_DATABASE_URL names one) and worker nodes node-1..node-N as background
processes, each logging to DATA_DIR/ID.log, records their pids in
DATA_DIR/cluster.json, and waits until the head listens and every node is
ALIVE. If anything fails to start, shows the end of its log, stops what was
started and exits 1. `taskrt down` stops the cluster.
Examples:
  taskrt up                                # head + 2 nodes with 2 workers each
  taskrt up --nodes 3 --workers 4 --port 7400
  taskrt up --nodes 2 --head-workers 2     # the head runs tasks too
  taskrt up --data-dir /tmp/c1 -o json     # {"address":..., "processes":[...]}
  taskrt nodes; taskrt down)");
  cmd->add_option("--nodes", o->nodes, "Worker nodes to start")
    ->capture_default_str()->check(CLI::Range(0, 64));
  cmd->add_option("--workers", o->workers, "Worker processes per node")
    ->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--head-workers", o->head_workers, "Worker processes on the head")
    ->capture_default_str()->check(CLI::Range(0, 1024));
  cmd->add_option("--port", o->port, "Port of the head (0: any free port)")
    ->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--data-dir", o->data_dir,
                  "State, logs and embedded Postgres (default: ~/.local/share/taskrt)");
  cmd->add_option("--db", o->db, "Postgres DSN (default: $TASKRT_DATABASE_URL, else embedded)");
  cmd->add_option("--timeout", o->timeout_s, "Seconds to wait for the head and the nodes")
    ->capture_default_str()->check(CLI::PositiveNumber);
  add_output_option(cmd, o->output);
  cmd->callback([&env, o] { env.exit_code = run_up(*o, env.exe); });
}

} // namespace taskrt::cli

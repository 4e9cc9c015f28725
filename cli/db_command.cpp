// `taskrt db start|stop|status`: the embedded Postgres of a data dir, which a
// head starts when it has no --db and which keeps running after the head
// stops (so the read commands keep working).

#include "taskrt/cli/cluster_commands.hpp"
#include "taskrt/cluster/head_node.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace taskrt::cli {

namespace {

/// Runs the helper with `args`, its output passed through; its exit status
/// (127 when it cannot be run).
int run_helper(const std::string& script, std::vector<std::string> args) {
  if (script.empty()) {
    std::fprintf(stderr, "taskrt: no embedded-Postgres helper (PREFIX/libexec/taskrt/pg next to "
                         "the binary): pass --pg-script or set TASKRT_PG_SCRIPT\n");
    return 127;
  }
  args.insert(args.begin(), script);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "taskrt: cannot run %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  int st = 0;
  if (pid < 0 || ::waitpid(pid, &st, 0) != pid)
    return 127;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/// The pid of a head that runs on this data dir (its state file names a live
/// process), or 0.
int running_head(const std::string& dir) {
  auto sf = read_state_file(dir);
  if (!sf || sf->pid <= 0)
    return 0;
  return ::kill(sf->pid, 0) == 0 || errno == EPERM ? sf->pid : 0;
}

int run_db(const std::string& action, const std::string& data_dir, const std::string& script) {
  const auto dir = data_dir.empty() ? default_data_dir() : data_dir;
  const auto pg_dir = dir + "/postgres";
  struct stat sb{};
  const bool exists = ::stat(pg_dir.c_str(), &sb) == 0;
  if (action == "start") {
    try {
      std::printf("%s\n", start_embedded_postgres(pg_dir, script).c_str());
      return ok;
    } catch (const std::exception& e) {
      return fail(failed, e.what());
    }
  }
  if (!exists)
    return fail(failed, "no embedded Postgres in " + dir + " (a head started there without "
                        "--db makes one)");
  if (action == "status") {
    // "running DSN" (exit 0) or "stopped" (exit 3 from the helper: 1 here).
    return run_helper(script, {"status", pg_dir}) == 0 ? ok : failed;
  }
  if (int pid = running_head(dir))
    return fail(failed, "a head (pid " + std::to_string(pid) + ") runs on this Postgres: "
                        "stop it first (`taskrt stop`, or `taskrt down` for `taskrt up`)");
  if (run_helper(script, {"stop", pg_dir}) != 0)
    return fail(failed, "could not stop the embedded Postgres in " + pg_dir);
  std::printf("stopped the embedded Postgres in %s\n", pg_dir.c_str());
  return ok;
}

} // namespace

void add_db_command(CLI::App& app, cli_env& env) {
  auto action = std::make_shared<std::string>();
  auto data_dir = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("db", "Start, stop or show the embedded Postgres of a data dir");
  cmd->footer(R"(A head started without --db (and without $TASKRT_DATABASE_URL) runs its
journal on an embedded Postgres in DATA_DIR/postgres. It keeps running after
the head stops, so `taskrt nodes`, `taskrt tasks` and `taskrt summary` keep
working; `taskrt db stop` stops it (refused while a head runs on it), `taskrt
db start` starts it again (a head starts it by itself), `taskrt db status`
prints "running DSN" (exit 0) or "stopped" (exit 1).
Examples:
  taskrt db status
  taskrt db stop
  taskrt db stop --data-dir /tmp/c1)");
  cmd->add_option("action", *action, "start, stop or status")
    ->required()->check(CLI::IsMember({"start", "stop", "status"}));
  cmd->add_option("--data-dir", *data_dir,
                  "The head's data dir (default: $TASKRT_DATA_DIR, else ~/.local/share/taskrt)");
  auto script = std::make_shared<std::string>(env.pg_script);
  cmd->add_option("--pg-script", *script,
                  "The embedded-Postgres helper (default: $TASKRT_PG_SCRIPT, else "
                  "libexec/taskrt/pg next to the binary)")
    ->capture_default_str();
  cmd->callback([&env, action, data_dir, script] {
    env.exit_code = run_db(*action, *data_dir, *script);
  });
}

} // namespace taskrt::cli

#include "taskrt/cli/run.hpp"

#include "taskrt/cli/cli_env.hpp"
#include "taskrt/cli/commands.hpp"
#include "taskrt/runtime/fault.hpp"
#include "taskrt/runtime/version.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

#include <unistd.h>

namespace taskrt {

namespace {

/// The running binary: worker processes and `up`'s nodes re-execute it.
std::string self_exe(const char* argv0) {
  char exe[4096] = {0};
  auto n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  return n > 0 ? std::string(exe, static_cast<size_t>(n)) : std::string{argv0};
}

/// The helper that runs the embedded Postgres: $TASKRT_PG_SCRIPT, else the
/// first that exists of EXE_DIR/../libexec/taskrt/pg (an installed taskrt
/// binary, and build/bin/taskrt: the build copies scripts/pg to
/// build/libexec/taskrt/pg); `compiled_in` (the installed taskrt package a
/// program was built against with CMake); CMAKE_INSTALL_PREFIX/libexec/
/// taskrt/pg as configured when taskrt was built (programs built with
/// pkg-config). "" when none exists (`--pg-script` then has to say).
std::string locate_pg_helper(const std::string& exe, const char* compiled_in) {
  if (!process_env().pg_script.empty())
    return process_env().pg_script;
  const auto dir = exe.substr(0, exe.rfind('/') + 1);
  for (const std::string& cand : {dir + "../libexec/taskrt/pg", std::string{compiled_in},
                                  std::string{TASKRT_CONFIGURED_PG_HELPER}})
    if (!cand.empty() && ::access(cand.c_str(), X_OK) == 0)
      return cand;
  return {};
}

/// The examples in the help of every subcommand say `taskrt`; a program of
/// one's own (`app`, built on taskrt::run) says its own name there instead.
void name_examples(CLI::App& app, const std::string& prog) {
  static const std::regex word{R"((^|[\s`(])taskrt(?= ))"};
  for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->footer(std::regex_replace(sub->get_footer(), word, "$1" + prog));
    name_examples(*sub, prog);
  }
}

} // namespace

namespace detail {

int run_cli(int argc, char** argv, const task_registry& tasks,
            const strategy_registry& strategies, const char* pg_helper) {
  cli::cli_env env;
  env.tasks = tasks;
  env.strategies = strategies;
  env.exe = self_exe(argc > 0 ? argv[0] : "taskrt");
  env.pg_script = locate_pg_helper(env.exe, pg_helper ? pg_helper : "");
  const auto prog = env.exe.substr(env.exe.rfind('/') + 1);

  CLI::App app{"taskrt: an actor-model task runtime with a Postgres journal", prog};
  const auto names = tasks.names();
  const std::string task = tasks.find("echo") || names.empty() ? "echo" : names.front();
  app.footer("Examples:\n  " + prog + R"( start --head                         start a head (embedded Postgres)
  )" + prog + " submit " + task + R"( --args '{"x":1}' --wait  run a task and wait for it
  )" + prog + R"( tasks list --state FAILED            the dead-letter queue
  )" + prog + R"( tasks describe 42                    what happened to task 42, and why
  )" + prog + R"( retry-plan --policy '{"retries":3,"backoff":60}' --failures 4
Exit codes: 0 success, 1 failed or not found, 2 usage error.
Run `)" + prog + " COMMAND --help` for the options and examples of each command.");
  app.require_subcommand(1);
  // Tests only (runtime/fault.hpp): the rolling upgrade test runs this build
  // as two releases; a build without hooks always announces its own.
  TASKRT_FAULT_HOOK(!process_env().fault_version.empty(),
    const auto& v = process_env().fault_version;
    if (major_minor(v).first < 0) {
      std::fprintf(stderr, "taskrt: TASKRT_FAULT_VERSION=%s: not a version MAJOR.MINOR.PATCH\n",
                   v.c_str());
      return cli::usage;
    }
    announce_version(v);
  );
  app.set_version_flag("--version", prog + " " + version_line(), "Print the version and the commit, then exit");
  // `taskrt start --head --config FILE`: options from an INI/TOML file, in a
  // section named after the command ([start] workers = 4).
  app.set_config("--config", "", "Read options from an INI/TOML file ([start] workers = 4)");
  app.fallthrough();
  // [openssl] tls-dir of the config file applies to every command; it is read
  // before parsing because command callbacks run inside app.parse.
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string path;
    if (arg == "--config" && i + 1 < argc)
      path = argv[i + 1];
    else if (arg.rfind("--config=", 0) == 0)
      path = arg.substr(9);
    if (path.empty())
      continue;
    try {
      env.config_tls = cli::read_config_tls(path);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "taskrt: --config %s: %s\n", path.c_str(), e.what());
      return cli::usage;
    }
  }
  env.program = prog;
  // Warnings of a CLI command (a group-readable key, ...) go to stderr, so
  // `-o json` stays JSON; `start` installs its own logger (--log-format).
  spdlog::set_default_logger(spdlog::stderr_color_mt("taskrt-cli"));
  cli::add_all_commands(app, env);
  if (prog != "taskrt")
    name_examples(app, prog);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // `taskrt statsu` should name the word, not say "a subcommand is required".
    const auto extra = app.remaining();
    if (app.get_subcommands().empty() && !extra.empty() && extra.front().rfind('-', 0) != 0)
      std::fprintf(stderr, "taskrt: unknown command '%s' (see --help)\n", extra.front().c_str());
    else
      std::fprintf(stderr, "taskrt: %s (see --help)\n", e.what());
    return cli::usage;
  }
  return env.exit_code;
}

} // namespace detail

} // namespace taskrt

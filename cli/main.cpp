/// The `taskrt` binary: every command of the CLI, and (hidden) the worker
/// process the head re-executes.

#include "cli/cli_env.hpp"
#include "cli/commands.hpp"
#include "examples/demo_tasks.hpp"
#include "examples/strategies.hpp"

#include <cstdio>
#include <string>

#include <unistd.h>

int main(int argc, char** argv) {
  taskrt::cli::cli_env env;
  taskrt::register_demo_tasks(env.tasks);
  taskrt::register_example_strategies(env.strategies);
  char exe[4096] = {0};
  auto n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  env.exe = n > 0 ? std::string(exe, static_cast<size_t>(n)) : std::string{argv[0]};

  CLI::App app{"taskrt: an actor-model task runtime with a Postgres journal"};
  app.footer(R"(Examples:
  taskrt start --head                         start a head (embedded Postgres)
  taskrt submit echo --args '{"x":1}' --wait  run a task and wait for it
  taskrt tasks list --state FAILED            the dead-letter queue
  taskrt tasks describe 42                    what happened to task 42, and why
  taskrt retry-plan --policy '{"retries":3,"backoff":60}' --failures 4
Exit codes: 0 success, 1 failed or not found, 2 usage error.
Run `taskrt COMMAND --help` for the options and examples of each command.)");
  app.require_subcommand(1);
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
      env.config_tls = taskrt::cli::read_config_tls(path);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "taskrt: --config %s: %s\n", path.c_str(), e.what());
      return taskrt::cli::usage;
    }
  }
  taskrt::cli::add_all_commands(app, env);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // `taskrt statsu` should name the word, not say "a subcommand is required".
    const auto extra = app.remaining();
    if (app.get_subcommands().empty() && !extra.empty() && extra.front().rfind('-', 0) != 0)
      std::fprintf(stderr, "taskrt: unknown command '%s' (see --help)\n", extra.front().c_str());
    else
      std::fprintf(stderr, "taskrt: %s (see --help)\n", e.what());
    return taskrt::cli::usage;
  }
  return env.exit_code;
}

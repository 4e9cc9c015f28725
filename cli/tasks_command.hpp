#pragma once
/// `taskrt tasks ...`: list, describe, events, watch and purge read Postgres
/// directly (they work while the head is down); retry, cancel and wait go
/// through the head.

#include "taskrt/cli/cli_env.hpp"

namespace taskrt::cli {

/// Adds `tasks` with its subcommands list, describe, events, watch, wait,
/// retry, cancel, purge.
void add_tasks_command(CLI::App& app, cli_env& env);

} // namespace taskrt::cli

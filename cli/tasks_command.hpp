#pragma once
/// `taskrt tasks ...`: list and describe read Postgres directly (they work
/// while the head is down); retry, cancel and wait go through the head.

#include "cli/cli_env.hpp"

namespace taskrt::cli {

/// Adds `tasks` with its subcommands list, describe, wait, retry, cancel.
void add_tasks_command(CLI::App& app, cli_env& env);

} // namespace taskrt::cli

#pragma once
/// Every command of the `taskrt` binary registers itself on the app here.

#include "taskrt/cli/cli_env.hpp"

namespace taskrt::cli {

/// `taskrt retry-plan ...`
void add_retry_plan_command(CLI::App& app, cli_env& env);

/// `taskrt schedule-plan ...`
void add_schedule_plan_command(CLI::App& app, cli_env& env);

/// `taskrt schedules add|list|describe|pause|resume|trigger|delete`
void add_schedules_command(CLI::App& app, cli_env& env);
/// `taskrt limits set|list|describe|delete` (cli/limits_command.cpp).
void add_limits_command(CLI::App& app, cli_env& env);

/// `taskrt certs generate DIR ...`
void add_certs_command(CLI::App& app, cli_env& env);

/// Adds every command in the order `taskrt --help` lists them.
void add_all_commands(CLI::App& app, cli_env& env);

} // namespace taskrt::cli

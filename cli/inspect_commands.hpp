#pragma once
/// Cluster-wide inspection commands: `taskrt summary`, `taskrt status`,
/// `taskrt nodes`.

#include "taskrt/cli/cli_env.hpp"

namespace taskrt::cli {

/// `taskrt summary`: tasks by name × state, failures by error kind, LOST by cause.
void add_summary_command(CLI::App& app, cli_env& env);

/// `taskrt status`: the head, Postgres, and recent activity.
void add_status_command(CLI::App& app, cli_env& env);

/// `taskrt nodes`: the node registry table.
void add_nodes_command(CLI::App& app, cli_env& env);

} // namespace taskrt::cli

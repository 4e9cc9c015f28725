#pragma once
/// A whole cluster on this machine: `taskrt up` starts a head and N worker
/// nodes in the background, `taskrt down` stops them (see cluster_record.hpp).

#include "taskrt/cli/cli_env.hpp"

namespace taskrt::cli {

/// `taskrt up [--nodes N] [--workers W] [--head-workers H] ...`
void add_up_command(CLI::App& app, cli_env& env);

/// `taskrt down [--data-dir DIR] [--timeout S]`
void add_down_command(CLI::App& app, cli_env& env);

/// `taskrt db start|stop|status [--data-dir DIR]`: the embedded Postgres.
void add_db_command(CLI::App& app, cli_env& env);

} // namespace taskrt::cli

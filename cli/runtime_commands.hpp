#pragma once
/// Commands that run or talk to a head: start, stop, submit, and the hidden
/// worker-process entry point.

#include "taskrt/cli/cli_env.hpp"

namespace taskrt::cli {

/// `taskrt start --head ...`
void add_start_command(CLI::App& app, cli_env& env);

/// `taskrt stop`
void add_stop_command(CLI::App& app, cli_env& env);

/// `taskrt submit NAME ...`
void add_submit_command(CLI::App& app, cli_env& env);

/// `taskrt worker-process` (hidden; the head re-executes the binary with it).
void add_worker_process_command(CLI::App& app, cli_env& env);

} // namespace taskrt::cli

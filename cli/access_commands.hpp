#pragma once
/// Access to the HTTP API: `taskrt tokens add|list|revoke` and `taskrt
/// dashboard` (a one-time login link). They write Postgres directly
/// (persistence/access_store.hpp), so every head of the database, a standby
/// too, knows the result.

#include "taskrt/cli/cli_env.hpp"

namespace taskrt::cli {

/// `taskrt tokens add NAME --role viewer|operator`, `tokens list`, `tokens revoke NAME`.
void add_tokens_command(CLI::App& app, cli_env& env);

/// `taskrt dashboard`: prints a login link for this head's HTTP port.
void add_dashboard_command(CLI::App& app, cli_env& env);

} // namespace taskrt::cli

#pragma once
/// How commands reach Postgres (read commands) and the head (commands that
/// change state), with the options every such command shares.

#include "taskrt/cli/cli_env.hpp"
#include "taskrt/cluster/client.hpp"
#include "taskrt/persistence/journal_store.hpp"

#include <caf/error.hpp>

#include <memory>
#include <string>

namespace taskrt::cli {

/// Where to find the database, the head, and how to print.
struct common_opts {
  std::string db, address, data_dir, output = "table";
  tls_flags tls;
};

/// Adds --db and --data-dir.
void add_db_options(CLI::App* cmd, common_opts& o);

/// Adds --address, --data-dir, --tls-dir and --tls-name.
void add_head_options(CLI::App* cmd, common_opts& o);

/// The connection settings of the CLI's journal reads: a connect bounded by
/// 3 s and every read by a client-side deadline of 10 s
/// ($TASKRT_DB_TIMEOUT seconds when set), purges by 10 min, so a command
/// against a hung Postgres (stopped, frozen, black-holed) fails with a clear
/// message (exit 1) instead of waiting for it.
journal_options cli_journal_options();

/// The database of a read command (--db, $TASKRT_DATABASE_URL or the state
/// file in --data-dir), or "" after printing that none is known (exit 1).
std::string store_dsn(const common_opts& o, int& exit_code);

/// The message of a failed call to the API's tables (tokens, dashboard
/// logins): a journal a head of this version never migrated has none yet.
std::string api_store_failure(const caf::error& err);

/// Opens the journal for a read command, or prints why not (exit 1).
std::unique_ptr<journal_store> open_store(const common_opts& o, int& exit_code);

/// Connects to the head, or prints why not (env.exit_code = 1).
std::unique_ptr<client> open_head(const common_opts& o, cli_env& env);

/// Connects to the head: the address from --address, $TASKRT_ADDRESS or the
/// state file in `data_dir`; TLS as resolve_tls_options says, else as the
/// state file says when the address came from it (a local head started with
/// --tls-dir). Null and `err` set when that fails.
std::unique_ptr<client> connect_to_head(const std::string& address_flag,
                                        const std::string& data_dir, const tls_flags& tls,
                                        const cli_env& env, std::string& err);

/// The head's address as resolved from the options ("" when unknown).
std::string head_address(const common_opts& o);

/// Prints "WHAT: message of e" and returns 1.
int head_error(const caf::error& e, const std::string& what);

} // namespace taskrt::cli

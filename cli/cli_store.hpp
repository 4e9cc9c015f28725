#pragma once
/// How commands reach Postgres (read commands) and the head (commands that
/// change state), with the options every such command shares.

#include "cli/cli_env.hpp"
#include "cluster/client.hpp"
#include "persistence/journal_store.hpp"

#include <memory>
#include <string>

namespace taskrt::cli {

/// Where to find the database, the head, and how to print.
struct common_opts {
  std::string db, address, data_dir, output = "table";
};

/// Adds --db and --data-dir.
void add_db_options(CLI::App* cmd, common_opts& o);

/// Adds --address and --data-dir.
void add_head_options(CLI::App* cmd, common_opts& o);

/// Opens the journal for a read command, or prints why not (exit 1).
std::unique_ptr<journal_store> open_store(const common_opts& o, int& exit_code);

/// Connects to the head, or prints why not (exit 1).
std::unique_ptr<client> open_head(const common_opts& o, int& exit_code);

/// The head's address as resolved from the options ("" when unknown).
std::string head_address(const common_opts& o);

/// Prints "WHAT: message of e" and returns 1.
int head_error(const caf::error& e, const std::string& what);

} // namespace taskrt::cli

#pragma once
/// What every command of the `taskrt` binary shares: the registered tasks and
/// strategies, the exit code, and how to find the head and the database.

#include "taskrt/cluster/env_config.hpp"
#include "taskrt/cluster/tls.hpp"
#include "taskrt/runtime/retry_policy.hpp"
#include "taskrt/runtime/task_registry.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace taskrt::cli {

/// The cluster port a head listens on unless --port says otherwise, and
/// where commands look for a head when nothing else names one.
constexpr uint16_t default_cluster_port = 7400;

/// Exit codes of every command.
enum exit_code : int { ok = 0, failed = 1, usage = 2 };

/// Shared state of one `taskrt` invocation.
struct cli_env {
  task_registry tasks;
  strategy_registry strategies;
  int exit_code = ok;
  std::string exe; ///< this binary, re-executed for worker processes
  std::string program = "taskrt"; ///< its name, as help examples and hints say it
  tls_options config_tls; ///< [openssl] tls-dir / tls-name of the --config file
  /// The embedded-Postgres helper: $TASKRT_PG_SCRIPT, else the first found
  /// of EXE_DIR/../libexec/taskrt/pg and the installed one (cli/run.cpp).
  std::string pg_script;
};

/// The TLS options of one command: --tls-dir, --tls-name.
struct tls_flags {
  std::string dir;
  std::string name;
};

/// Adds --tls-dir and --tls-name to `cmd`.
void add_tls_options(CLI::App* cmd, tls_flags& f);

/// The TLS options in effect, each of dir and name from the first that sets
/// it: the flags (or the command's section of the --config file),
/// $TASKRT_TLS_DIR / $TASKRT_TLS_NAME, the [openssl] section of the --config
/// file. An empty dir: no TLS.
tls_options resolve_tls_options(const tls_flags& f, const cli_env& env);

/// Reads the [openssl] section (tls-dir, tls-name) of an INI/TOML config
/// file; throws std::runtime_error (naming the line) when the file cannot be
/// read, a line is neither [section] nor key = value, or the section holds
/// other keys.
tls_options read_config_tls(const std::string& path);

/// The keys of section [NAME] of the config file at `path` that are not
/// options of the command `cmd` named NAME (comma-separated; "" when none).
/// CLI11 ignores such keys, so a typo would silently be a default.
std::string unknown_config_keys(const std::string& path, const CLI::App& cmd);

/// Prints "taskrt: MESSAGE" on stderr and returns `code`.
int fail(int code, const std::string& message);

/// The DSN for read commands: --db, else $TASKRT_DATABASE_URL, else the state
/// file of the head in `data_dir`, else the embedded Postgres of `data_dir`
/// (DATA_DIR/postgres/dsn: it outlives the head's state file, so the read
/// commands keep working after `stop` and `down`). Empty when none is known.
std::string resolve_dsn(const std::string& flag, const std::string& data_dir);

/// The head address "host:port": --address, else $TASKRT_ADDRESS, else the
/// state file, else 127.0.0.1:7400 (default_cluster_port). `defaulted`, when
/// given, tells whether it is that last fallback.
std::string resolve_address(const std::string& flag, const std::string& data_dir,
                            bool* defaulted = nullptr);

/// Splits "host:port"; false when malformed.
bool split_address(const std::string& addr, std::string& host, uint16_t& port);

/// "user@host" of whoever runs the CLI, recorded with operations.
std::string origin();

} // namespace taskrt::cli

#pragma once
/// The one place taskrt reads its environment. Every TASKRT_… variable (and
/// the few conventional ones taskrt honours) is read here, once per process;
/// the CLI turns the values into fields of head_options / worker_node_options
/// and of the commands' own options, where a flag (or --config) overrides
/// them. Nothing below the CLI reads the environment. docs/cli.md lists every
/// variable (tests/lint/env_reads_test.sh checks both).

#include <string>

namespace taskrt {

/// The environment as taskrt sees it; "" for unset (or set to "").
struct env_config {
  std::string database_url;          ///< TASKRT_DATABASE_URL
  std::string address;               ///< TASKRT_ADDRESS
  std::string data_dir;              ///< TASKRT_DATA_DIR
  std::string tls_dir;               ///< TASKRT_TLS_DIR
  std::string tls_name;              ///< TASKRT_TLS_NAME
  std::string pg_script;             ///< TASKRT_PG_SCRIPT
  std::string db_timeout;            ///< TASKRT_DB_TIMEOUT (seconds, as given)
  std::string heartbeat_ms;          ///< TASKRT_HEARTBEAT_MS (as given)
  std::string connection_timeout_ms; ///< TASKRT_CONNECTION_TIMEOUT_MS (as given)
  std::string api_key_ttl;           ///< TASKRT_API_KEY_TTL (a duration, as given)
  std::string fault;                 ///< TASKRT_FAULT; read only with fault hooks
  std::string fault_version;         ///< TASKRT_FAULT_VERSION; read only with fault hooks
  std::string xdg_data_home;         ///< XDG_DATA_HOME (the default data dir)
  std::string home;                  ///< HOME (the default data dir)
  std::string columns;               ///< COLUMNS (table width)
  bool no_color = false;             ///< NO_COLOR is set to something
  bool malloc_arena_max = false;     ///< MALLOC_ARENA_MAX (glibc's) is set
};

/// Reads the environment now.
env_config read_env_config();

/// The environment as read at the first call (the process's own settings:
/// taskrt never changes its environment).
const env_config& process_env();

} // namespace taskrt

#include "taskrt/cluster/env_config.hpp"

#include "taskrt/runtime/fault.hpp"

#include <cstdlib>

namespace taskrt {

namespace {

std::string get(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

} // namespace

env_config read_env_config() {
  env_config e;
  e.database_url = get("TASKRT_DATABASE_URL");
  e.address = get("TASKRT_ADDRESS");
  e.data_dir = get("TASKRT_DATA_DIR");
  e.tls_dir = get("TASKRT_TLS_DIR");
  e.tls_name = get("TASKRT_TLS_NAME");
  e.pg_script = get("TASKRT_PG_SCRIPT");
  e.db_timeout = get("TASKRT_DB_TIMEOUT");
  e.heartbeat_ms = get("TASKRT_HEARTBEAT_MS");
  e.connection_timeout_ms = get("TASKRT_CONNECTION_TIMEOUT_MS");
  e.api_key_ttl = get("TASKRT_API_KEY_TTL");
  TASKRT_FAULT_HOOK(true, e.fault = get("TASKRT_FAULT");
                          e.fault_version = get("TASKRT_FAULT_VERSION"););
  e.xdg_data_home = get("XDG_DATA_HOME");
  e.malloc_arena_max = std::getenv("MALLOC_ARENA_MAX") != nullptr;
  e.home = get("HOME");
  e.columns = get("COLUMNS");
  e.no_color = !get("NO_COLOR").empty();
  return e;
}

const env_config& process_env() {
  static const env_config e = read_env_config();
  return e;
}

} // namespace taskrt

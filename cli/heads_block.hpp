#pragma once
/// The heads of a journal (active and standing by) as `taskrt status` and
/// `taskrt nodes` show them, read from Postgres (persistence/leader_lock.hpp).

#include <nlohmann/json.hpp>

#include <string>

namespace taskrt::cli {

/// [{role, address, since, backend_pid}], the active head first; an object
/// {"error": ...} when Postgres cannot be asked.
nlohmann::json read_heads(const std::string& dsn);

/// "Heads     active 127.0.0.1:7400 (since ...)  standby 127.0.0.1:7401 ...".
void print_heads(const nlohmann::json& heads);

} // namespace taskrt::cli

#pragma once
/// DSN helpers: passwords never reach logs, errors or CLI output.

#include <string>

namespace taskrt {

/// `dsn` with any password replaced by "***" (URI and key=value forms).
std::string redact_dsn(const std::string& dsn);

} // namespace taskrt

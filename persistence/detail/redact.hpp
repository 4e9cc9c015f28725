#pragma once
/// Keeps DSN passwords out of error messages.

#include <string>

namespace taskrt::detail {

/// The password a DSN carries (URI "user:pw@" or key=value "password=pw"),
/// or empty.
std::string dsn_password(const std::string& dsn);

/// `text` with every occurrence of `secret` replaced by "***".
std::string redact(std::string text, const std::string& secret);

/// The DSN with its password replaced by "***", fit for messages.
std::string redacted_dsn(const std::string& dsn);

} // namespace taskrt::detail

#pragma once
/// DSN handling shared by every part that prints, logs or extends a libpq
/// connection string: one redactor for every libpq form, so that passwords
/// never reach logs, errors or CLI output.
///
/// Forms understood (libpq "Connection Strings"):
///   keyword/value   host=db password=secret  password='it''s \' x'
///   URI             postgresql://user:secret@host/db?sslmode=require
///                   postgres://host/db?user=u&password=secret

#include <string>
#include <utility>
#include <vector>

namespace taskrt {

/// `dsn` with the value of every password-like parameter ("password",
/// "sslpassword", in userinfo, as a keyword or as a query parameter) replaced
/// by "***". Everything else is kept as written.
std::string redact_dsn(const std::string& dsn);

/// The secret values `dsn` carries (as written and, for URIs, percent-decoded).
std::vector<std::string> dsn_secrets(const std::string& dsn);

/// `text` (e.g. an error message from libpq) with every secret of `dsn`
/// replaced by "***".
std::string redact_secrets(std::string text, const std::string& dsn);

/// The parameter names `dsn` sets (keyword/value keys, URI query keys, plus
/// "user"/"password"/"host"/"port"/"dbname" where a URI gives them).
std::vector<std::string> dsn_keys(const std::string& dsn);

/// `dsn` with `key=value` added for every pair whose key the DSN does not set
/// already (the DSN's own settings win). Values must not need quoting.
std::string dsn_with_defaults(const std::string& dsn,
                              const std::vector<std::pair<std::string, std::string>>& kv);

} // namespace taskrt

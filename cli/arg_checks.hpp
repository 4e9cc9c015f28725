#pragma once
/// Checks of command-line values that CLI11 would otherwise convert
/// silently (an id out of range clamped to the largest int64) or pass on to
/// Postgres (invalid UTF-8 in a filter). A failed check is a usage error
/// (exit 2) naming the option.

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace taskrt::cli {

/// A task id: a whole number from 1 to 9223372036854775807, nothing else
/// (no sign, no spaces, no exponent).
CLI::Validator task_id_check();

/// Text that goes into a query as a name (filters): valid UTF-8 without
/// control characters; the error names `flag` and the byte at fault.
std::optional<std::string> check_filter_text(const std::string& value, const std::string& flag);

} // namespace taskrt::cli

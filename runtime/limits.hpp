#pragma once
/// Limits on what a submitter or a task may send, and the checks every edge
/// runs (the CLI, the C++ client, child tasks, the head's submit, workers
/// before a result, checkpoint or progress value goes out). Postgres refuses
/// some values outright (a `\u0000` in jsonb, invalid UTF-8 in text: SQLSTATE
/// 22P05/22021), so they are refused here, before anything is journaled.
///
/// Each check returns nothing when the value is fine, else a one-line
/// message that names the problem ("args: nesting deeper than 64 levels").
///
/// The limits of a process are set once at start (`taskrt start
/// --max-json-bytes/--max-json-depth/--max-name-bytes`, or [start] in
/// --config) before any actor runs, and passed to re-executed worker
/// processes on their command line.

#include "taskrt/runtime/task.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace taskrt {

/// The limits in effect; the defaults are the documented ones.
struct limits {
  /// Largest JSON text of args, a result, a checkpoint or a progress value.
  size_t max_json_bytes = size_t{1} << 20;
  /// Deepest nesting of arrays/objects in such a value.
  size_t max_json_depth = 64;
  /// Longest task name, queue, lock or idempotency key, in bytes.
  size_t max_name_bytes = 255;
};

/// Upper bounds of the configurable limits (Postgres keeps a jsonb value
/// below 256 MiB; names are indexed).
inline constexpr size_t max_json_bytes_cap = size_t{128} << 20;
inline constexpr size_t max_json_depth_cap = 10'000;
inline constexpr size_t max_name_bytes_cap = 1024;

/// Largest per-attempt time limit, scheduling delay or policy wait, in
/// seconds (100 years): beyond it a number is taken for a mistake.
inline constexpr double max_seconds = 100.0 * 365 * 24 * 3600;

/// Error kind of an attempt whose result, checkpoint or progress value broke
/// the limits (it ends FAILED).
inline constexpr const char* bad_result_kind = "taskrt.bad_result";

/// The limits of this process (the defaults until set_process_limits).
const limits& process_limits();

/// Sets the limits of this process; call before actors start. Returns an
/// error when a value is outside [1, cap].
std::optional<std::string> set_process_limits(const limits& l);

/// Checks a limits struct against the caps.
std::optional<std::string> check_limits(const limits& l);

/// `text` is valid UTF-8 (no overlong forms, no surrogates).
bool valid_utf8(std::string_view text);

/// A JSON text `what` ("args", "result", ...): size, UTF-8, syntax, depth,
/// no `\u0000` in any string or key, finite numbers.
std::optional<std::string> check_json_text(std::string_view text, std::string_view what,
                                           const limits& l = process_limits());

/// A JSON value produced in this process (a task's result): the same rules
/// as check_json_text, without dumping a value that cannot be dumped.
std::optional<std::string> check_json_value(const nlohmann::json& value, std::string_view what,
                                            const limits& l = process_limits());

/// A name-like field `what` (task name, queue, lock, key): at most
/// max_name_bytes, valid UTF-8, no control characters; `required`: not empty.
std::optional<std::string> check_name(std::string_view value, std::string_view what,
                                      bool required, const limits& l = process_limits());

/// A number of seconds `what` (time limit, delay): finite, >= 0, at most
/// max_seconds. Says "not a number" for NaN rather than "negative".
std::optional<std::string> check_seconds(double value, std::string_view what);

/// Every field of a submitted task spec (the policy's syntax only: its
/// meaning is checked by parse_retry_policy).
std::optional<std::string> check_task_spec(const task_spec& spec,
                                           const limits& l = process_limits());

} // namespace taskrt

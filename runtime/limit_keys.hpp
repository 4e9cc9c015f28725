#pragma once
/// The limit keys of a task (`taskrt limits`): the submit's own (`--limit`,
/// repeatable) plus its registration's defaults, with templates filled in
/// from the task's args. A template names an args field in braces,
/// "tenant:{args.tenant}" or "{args.org.id}"; the field must be a string or
/// an integer. Duplicates count once; at most max_limit_keys per task.

#include <nlohmann/json.hpp>

#include <string>
#include <variant>
#include <vector>

namespace taskrt {

/// Limit keys one task may carry at most.
inline constexpr size_t max_limit_keys = 16;

/// The keys of a task: `given` then `defaults`, templates filled in from
/// `args`, each checked as a name; or a one-line error naming the key.
std::variant<std::vector<std::string>, std::string>
resolve_limit_keys(const std::vector<std::string>& given,
                   const std::vector<std::string>& defaults, const nlohmann::json& args);

/// Keys as stored in the journal (a JSON array text; "" for none), and back.
std::string limit_keys_text(const std::vector<std::string>& keys);
std::vector<std::string> limit_keys_of(const std::string& text);

} // namespace taskrt

#pragma once
/// Running one head operation over many tasks: selection by ids or filter,
/// confirmation on a TTY, progress on stderr, and a summary of the results.

#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/filter_opts.hpp"

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace taskrt::cli {

/// Options of a bulk command besides the filter.
struct bulk_opts {
  std::vector<int64_t> ids;
  bool yes = false;
};

/// Adds the positional ids and --yes.
void add_bulk_options(CLI::App* cmd, bulk_opts& b);

/// The ids to operate on: the given ids, or the tasks matching the filter
/// `fo` restricted to `allowed` states (the ones the operation applies to).
/// Usage error (exit 2) when both or neither are given; nothing on error.
std::optional<std::vector<int64_t>> select_ids(const bulk_opts& b, const filter_opts& fo,
                                               const std::vector<task_state>& allowed,
                                               const common_opts& o, int& exit_code);

/// Asks "VERB N task(s)? [y/N]" when stdin and stderr are terminals and
/// --yes was not given; true to go on.
bool confirm(const bulk_opts& b, const std::string& verb, size_t n);

/// The result of one task's operation: empty on success, else the error.
using bulk_op = std::function<std::string(int64_t id, nlohmann::json& result)>;

/// Runs `op` on each id with progress on stderr (when it is a terminal),
/// prints the summary (JSON: {"action", "requested", "ok": [...],
/// "failed": [{"id","error"}]}) and returns the exit code (1 if any failed).
int run_bulk(const std::vector<int64_t>& ids, const std::string& action,
             const std::string& past_tense, const std::string& output, const bulk_op& op);

} // namespace taskrt::cli

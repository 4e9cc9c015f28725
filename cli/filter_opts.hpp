#pragma once
/// The task filter options shared by `tasks list`, `retry`, `cancel`, `purge`
/// and `summary`, and their translation into a persistence task_filter.

#include <CLI/CLI.hpp>

#include "persistence/task_filter.hpp"

#include <optional>
#include <string>
#include <vector>

namespace taskrt::cli {

/// The raw option values; empty ones do not filter.
struct filter_opts {
  std::vector<std::string> states;
  std::string name, queue, node, lock, error_kind, since, until, sort = "-id";
  int64_t limit = 0;
  std::string queue_flag = "--queue"; ///< the queue filter's option name, for errors
};

/// Which filter options a command gets.
enum filter_flags : unsigned {
  f_state = 1, f_name = 2, f_queue = 4, f_node = 8, f_lock = 16, f_error_kind = 32,
  f_since = 64, f_until = 128, f_sort = 256, f_limit = 512,
  f_all = 1023,
};

/// Adds the options named by `flags` to `cmd`. `queue_flag` is the name of
/// the queue filter option ("--queue", or "--in-queue" where --queue means
/// something else).
void add_filter_options(CLI::App* cmd, filter_opts& o, unsigned flags,
                        const std::string& queue_flag = "--queue");

/// True when any filtering option (not sort/limit) was given.
bool has_filter(const filter_opts& o);

/// Builds the task_filter; on a bad value prints a one-line error, sets
/// `exit_code` to 2 and returns nothing.
std::optional<task_filter> make_filter(const filter_opts& o, int& exit_code);

/// The list of state names for help texts and errors.
const char* state_names();

} // namespace taskrt::cli

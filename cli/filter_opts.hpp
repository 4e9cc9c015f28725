#pragma once
/// The task filter options shared by `tasks list`, `retry`, `cancel`, `purge`
/// and `summary`, and their translation into a persistence task_filter.

#include <CLI/CLI.hpp>

#include "taskrt/persistence/task_filter.hpp"

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

/// How the queue filter is spelled. The bulk commands (retry, cancel, purge)
/// all say --in-queue, as retry's --queue sets a new queue.
enum class queue_filter {
  queue,             ///< --queue (read commands: tasks list, summary)
  in_queue,          ///< --in-queue (retry)
  in_queue_or_queue, ///< --in-queue, and the old --queue as a hidden alias (cancel, purge)
};

/// Adds the options named by `flags` to `cmd`.
void add_filter_options(CLI::App* cmd, filter_opts& o, unsigned flags,
                        queue_filter queue = queue_filter::queue);

/// True when any filtering option (not sort/limit) was given.
bool has_filter(const filter_opts& o);

/// Builds the task_filter; on a bad value prints a one-line error, sets
/// `exit_code` to 2 and returns nothing.
std::optional<task_filter> make_filter(const filter_opts& o, int& exit_code);

/// The list of state names for help texts and errors.
const char* state_names();

} // namespace taskrt::cli

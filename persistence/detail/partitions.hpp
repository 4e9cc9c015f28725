#pragma once
/// The daily partitions of task_events and the batched deletes of retention
/// and purge (private to taskrt_persistence). See migration 5 in schema.cpp
/// for the layout and journal_store.hpp for the contracts.

#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/retention.hpp"
#include "taskrt/persistence/task_filter.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace taskrt::detail {

/// Partitions of task_events but the DEFAULT one, oldest first.
std::vector<partition_info> list_partitions(pqxx::connection& c);

/// Creates the missing daily partitions from the day of `now_us` on.
std::vector<std::string> ensure_partitions(pqxx::connection& c, int64_t now_us, int days_ahead);

/// Deletes, in batches of `batch`, the final tasks that `cond` (SQL on
/// tasks, without WHERE) selects, with their checkpoints, and their events
/// in partitions whose rows are at or after `events_from` (SQL timestamptz;
/// empty: no events). `limit` > 0 caps the total. Adds to `r`.
void delete_tasks(pqxx::connection& c, const std::string& cond, const std::string& events_from,
                  int batch, int64_t limit, const progress_fn& progress, retention_result& r);

/// Drops the partitions whose events are all more than an hour older than
/// `cutoff_us`, keeping the events of tasks that still exist. Adds to `r`.
void drop_old_partitions(pqxx::connection& c, int64_t cutoff_us, const progress_fn& progress,
                         retention_result& r);

/// Deletes, in batches, events of the DEFAULT partition older than
/// `cutoff_us` whose task no longer exists. Adds to `r`.
void clean_default_partition(pqxx::connection& c, int64_t cutoff_us, int batch,
                             retention_result& r);

} // namespace taskrt::detail

#pragma once
/// What journal retention and purges report (journal_store::apply_retention,
/// journal_store::purge, journal_store::ensure_partitions).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace taskrt {

/// One daily partition of task_events (or the partition that holds the
/// journal from before partitioning, task_events_legacy).
struct partition_info {
  std::string name;
  int64_t from_us = 0;   ///< lower bound; INT64_MIN for MINVALUE (task_events_legacy)
  int64_t to_us = 0;     ///< upper bound (exclusive)
  int64_t bytes = 0;     ///< size with its indexes
  int64_t est_rows = -1; ///< Postgres' estimate (pg_class.reltuples); -1: unknown
};

/// Called after each batch of a long operation with a line saying how far it is.
using progress_fn = std::function<void(const std::string&)>;

/// How apply_retention works.
struct retention_options {
  int batch = 1000; ///< tasks per delete transaction
  /// Also delete, by row, the events of the deleted tasks that sit in the
  /// partitions not dropped now (the newest day or so). Off for the head's
  /// periodic retention (they go with their partition a day later, never by
  /// row), on for `taskrt tasks purge` (the tasks go with their journal now).
  bool delete_events = false;
  progress_fn progress; ///< may be empty
};

/// What apply_retention did.
struct retention_result {
  int64_t tasks_deleted = 0;     ///< final tasks older than the cutoff (rows, checkpoints)
  int64_t batches = 0;           ///< delete transactions
  int64_t events_deleted = 0;    ///< rows deleted one by one (delete_events, default partition)
  std::vector<partition_info> dropped; ///< whole partitions dropped
  int64_t events_kept = 0;       ///< events of remaining tasks moved out of dropped partitions
  int64_t partitions_skipped = 0; ///< droppable but their lock was busy (next time)
  double seconds = 0;            ///< wall time
};

} // namespace taskrt

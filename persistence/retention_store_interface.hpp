#pragma once
/// Deleting old journal: purges, daily partitions of task_events and
/// retention. Implemented by journal_store (Postgres) and memory_journal (in
/// memory, where a partition is a bookkeeping entry per UTC day).

#include "taskrt/persistence/retention.hpp"
#include "taskrt/persistence/task_filter.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace taskrt {

/// Retention and partitions. Every method throws store_error on failure.
/// Nothing of a task that is not final is ever deleted.
class retention_store_interface {
public:
  virtual ~retention_store_interface() = default;

  /// Deletes the final tasks matching `f` with their events and checkpoints
  /// (oldest created first; `f.limit` caps the total); returns how many.
  virtual int64_t purge(const task_filter& f, const progress_fn& progress = {},
                        int batch = 1000) = 0;

  /// Creates the daily partitions (task_events_pYYYYMMDD) from the UTC day of
  /// `now_us` to `days_ahead` days later that do not exist yet; returns the
  /// names created.
  virtual std::vector<std::string> ensure_partitions(int64_t now_us, int days_ahead = 7) = 0;

  /// The partitions but the DEFAULT one, oldest first.
  virtual std::vector<partition_info> partitions() = 0;

  /// Retention at `cutoff_us`: final tasks last changed before it go (rows,
  /// checkpoints; events too with `o.delete_events`), then partitions whose
  /// every event is more than an hour older than the cutoff.
  virtual retention_result apply_retention(int64_t cutoff_us,
                                           const retention_options& o = {}) = 0;
};

} // namespace taskrt

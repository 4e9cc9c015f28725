#pragma once
/// The reads behind the CLI and the API: listings, one task, its journal and
/// checkpoints, and the aggregates of `taskrt summary` / `taskrt status`.
/// Implemented by journal_store (Postgres) and memory_journal (in memory).

#include "taskrt/persistence/checkpoint_row.hpp"
#include "taskrt/persistence/event_row.hpp"
#include "taskrt/persistence/progress_row.hpp"
#include "taskrt/persistence/summary_rows.hpp"
#include "taskrt/persistence/task_filter.hpp"
#include "taskrt/runtime/task.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// Reads for the CLI/API. Every method throws store_error on failure.
class task_reads_interface {
public:
  virtual ~task_reads_interface() = default;

  /// Tasks matching `f`, in `f.order`.
  virtual std::vector<task_record> list_tasks(const task_filter& f) = 0;

  /// The task `id`, if it exists.
  virtual std::optional<task_record> get_task(int64_t id) = 0;

  /// The journal of `task_id`, in journal order.
  virtual std::vector<event_row> events(int64_t task_id) = 0;

  /// The journal of `task_id` after event id `after_id`, in journal order.
  virtual std::vector<event_row> events_after(int64_t task_id, int64_t after_id) = 0;

  /// The checkpoints of `task_id`, oldest first.
  virtual std::vector<checkpoint_row> checkpoints(int64_t task_id) = 0;

  /// The latest progress value `task_id` reported, if any.
  virtual std::optional<progress_row> progress(int64_t task_id) = 0;

  /// Tasks matching `f` (limit and order ignored) counted by name and state,
  /// ordered by name, then state.
  virtual std::vector<name_state_count> count_by_name_state(const task_filter& f) = 0;

  /// "fail" events of the tasks matching `f`, at or after `f.since_us`,
  /// grouped by error kind, most frequent first.
  virtual std::vector<error_kind_count> failures_by_kind(const task_filter& f) = 0;

  /// "lose" events of the tasks matching `f`, at or after `f.since_us`,
  /// grouped by reason and signal, most frequent first.
  virtual std::vector<lost_cause_count> lost_by_cause(const task_filter& f) = 0;

  /// Journal events at or after `since_us` counted by kind; only `kinds`
  /// when not empty.
  virtual std::vector<event_kind_count>
  event_counts_since(int64_t since_us, const std::vector<event_kind>& kinds = {}) = 0;

  /// Tasks per state.
  virtual state_counts count_by_state() = 0;

  /// The QUEUED tasks at `now_us`: ready ones apart from scheduled ones.
  virtual queue_age queued_age(int64_t now_us) = 0;
};

} // namespace taskrt

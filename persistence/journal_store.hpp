#pragma once
/// The journal store: the only code that talks to Postgres. Synchronous and
/// single-threaded: one owner (the persistence actor, the CLI) calls it.

#include "taskrt/persistence/checkpoint_row.hpp"
#include "taskrt/persistence/event_row.hpp"
#include "taskrt/persistence/journal_options.hpp"
#include "taskrt/persistence/node_store_interface.hpp"
#include "taskrt/persistence/node_row.hpp"
#include "taskrt/persistence/retention.hpp"
#include "taskrt/persistence/retention_store_interface.hpp"
#include "taskrt/persistence/store_error.hpp"
#include "taskrt/persistence/summary_rows.hpp"
#include "taskrt/persistence/task_filter.hpp"
#include "taskrt/persistence/task_reads_interface.hpp"
#include "taskrt/persistence/transition_store_interface.hpp"
#include "taskrt/runtime/task.hpp"
#include "taskrt/runtime/task_state.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// Journals task transitions in batched, guarded group commits and answers
/// recovery and CLI queries. Every method throws store_error on failure; after
/// an outage-class one the next call reconnects.
///
/// It implements the four narrow interfaces its callers should depend on
/// (transitions + recovery, node rows, reads, retention); memory_journal
/// implements the same ones in memory for unit tests.
class journal_store : public transition_store_interface,
                      public node_store_interface,
                      public task_reads_interface,
                      public retention_store_interface {
public:
  /// Connects to `dsn` (URI or key=value form) with the timeouts of `opts`
  /// (those the DSN sets itself win). Throws store_error; the message never
  /// contains the password.
  explicit journal_store(const std::string& dsn, journal_options opts = {});

  ~journal_store();

  journal_store(journal_store&&) noexcept;
  journal_store& operator=(journal_store&&) noexcept;
  journal_store(const journal_store&) = delete;
  journal_store& operator=(const journal_store&) = delete;

  /// Applies the schema migrations not applied yet (tracked in table
  /// schema_version). Idempotent and safe against concurrent callers.
  void migrate();

  /// The schema version the database is at (0 before migrate()).
  int schema_version();

  // -- writes: each commit() is one transaction ------------------------------

  /// Writes `b` in one transaction with a handful of round trips whatever its
  /// size (multi-row statements, never one statement per item).
  ///
  /// With a `commit_id` (unique per batch, e.g. random), the id and the result
  /// are written to table commit_log in the same transaction; calling commit()
  /// again with the same id and batch after an in-doubt or broken commit
  /// returns the result of the first one if it went through, and writes the
  /// batch otherwise: never twice. Log rows older than ten minutes are pruned.
  batch_result commit(const batch& b, const std::string& commit_id = {});

  /// A fresh random commit id for commit().
  static std::string new_commit_id();

  /// A number that grows at every call, kept in Postgres (committed, so it
  /// never repeats, not even after a Postgres crash). A head takes one at
  /// start: (generation, counter) leases are unique across head lifetimes.
  /// From then on this store's writes (commit, node rows) are fenced: each
  /// transaction holds the generation row FOR SHARE and fails with a
  /// store_error of class `fenced` once another head has taken a newer
  /// generation, so a head that lost its leadership writes nothing after the
  /// new head started recovering (which takes the generation first).
  int64_t next_head_generation();

  /// The head generation this store's writes are fenced on (0: none).
  int64_t fence_generation() const;

  /// Fences this store's writes on `generation`, taken by another store of
  /// the same head (a second connection of its persistence): they fail as
  /// next_head_generation() describes once a newer one exists.
  void fence_on(int64_t generation);

  // -- recovery ---------------------------------------------------------------

  /// Every QUEUED and RUNNING task, plus the FAILED and LOST tasks whose end
  /// has no final decision (journals of older versions: the fail/lose event
  /// carries no "decision" and no "retry_decision" note after it gives up,
  /// i.e. none came or it said retry but no retry transition followed), by id.
  /// A FAILED/LOST task whose fail/lose event detail holds "decision" is final.
  std::vector<task_record> load_unfinished();

  /// The tasks a head holds at start, in one snapshot: RUNNING, half-done
  /// FAILED/LOST, QUEUED ones scheduled after `now_us` or with a cancel
  /// requested, and a window of at most `window` due QUEUED tasks per queue.
  /// Every live row is read once (the windows come from the index of live
  /// tasks). Analyzes `tasks` first when its statistics are stale.
  /// QUEUED tasks scheduled after `horizon_us` are left out too (they are
  /// read by queued_between as time comes); `later` counts them.
  windowed_load load_windowed(int64_t now_us, size_t window, int64_t horizon_us);

  /// The QUEUED tasks without a cancel request scheduled in (`after_us`,
  /// `until_us`], by run_at: a range scan of the index of live tasks by
  /// run_at.
  std::vector<task_record> queued_between(int64_t after_us, int64_t until_us);

  /// Up to `limit` QUEUED tasks of `queue` due by `now_us`, without a cancel
  /// request, after `after` (from the first when empty), best first: a
  /// range scan of the index of live tasks.
  std::vector<task_record> queued_after(const std::string& queue,
                                        const std::optional<queue_position>& after,
                                        int64_t now_us, size_t limit);

  /// The data of the newest checkpoint of `task_id`.
  std::optional<std::string> latest_checkpoint(int64_t task_id);

  /// The data of the newest checkpoint of each of `task_ids` that has one,
  /// in one query.
  std::map<int64_t, std::string> latest_checkpoints(const std::vector<int64_t>& task_ids);

  // -- node registry ----------------------------------------------------------

  /// Inserts or replaces the row of `n.id`.
  void upsert_node(const node_row& n);

  /// Inserts or replaces the rows of `ns` in one statement (the last row of
  /// an id wins).
  void upsert_nodes(const std::vector<node_row>& ns);

  /// Deletes DEAD and LEFT nodes whose last heartbeat is older than
  /// `older_than_us`; returns how many.
  int64_t prune_nodes(int64_t older_than_us);

  /// Every known node, by id.
  std::vector<node_row> nodes();

  // -- reads for the CLI ------------------------------------------------------

  /// Tasks matching `f`, in `f.order`.
  std::vector<task_record> list_tasks(const task_filter& f);

  /// The task `id`, if it exists.
  std::optional<task_record> get_task(int64_t id);

  /// The journal of `task_id`, in journal order.
  std::vector<event_row> events(int64_t task_id);

  /// The checkpoints of `task_id`, oldest first.
  std::vector<checkpoint_row> checkpoints(int64_t task_id);

  /// The latest progress value of `task_id` (tasks.progress), if any; none
  /// on a journal below schema 15, which has no such column.
  std::optional<progress_row> progress(int64_t task_id);

  /// Deletes the final tasks (SUCCEEDED, FAILED, CANCELLED, LOST) matching
  /// `f` with their events and checkpoints, in transactions of at most
  /// `batch` tasks (oldest created first; `f.order` is ignored, `f.limit`
  /// caps the total); returns how many tasks went. `progress` hears after
  /// each batch.
  int64_t purge(const task_filter& f, const progress_fn& progress = {}, int batch = 1000);

  // -- partitions and retention of the journal ---------------------------------

  /// Creates the daily partitions of task_events (UTC days, named
  /// task_events_pYYYYMMDD) from the day of `now_us` to `days_ahead` days
  /// later that no partition covers yet; rows of those days waiting in the
  /// DEFAULT partition move into them. Returns the names created. Each one
  /// takes its own short transaction (lock_timeout 5 s).
  std::vector<std::string> ensure_partitions(int64_t now_us, int days_ahead = 7);

  /// The partitions of task_events but the DEFAULT one, oldest first.
  std::vector<partition_info> partitions();

  /// Retention at `cutoff_us`:
  /// 1. deletes the final tasks whose last change is older than the cutoff
  ///    (rows and checkpoints) in batches of `o.batch`, each its own
  ///    transaction; with `o.delete_events`, their events in the partitions
  ///    that stay too;
  /// 2. drops each partition whose every event is more than an hour older
  ///    than the cutoff (the hour allows for clocks of different heads);
  ///    events in it of tasks that remain (QUEUED, RUNNING, or final but
  ///    more recent) move to the DEFAULT partition first, in the same
  ///    transaction, which holds an exclusive lock on task_events for that
  ///    moment (journal commits wait; lock_timeout 1 s, below the
  ///    commits' call deadline, else it is skipped);
  /// 3. deletes, in batches, events of the DEFAULT partition older than the
  ///    cutoff whose task is gone.
  /// Nothing of a task that remains is ever deleted.
  retention_result apply_retention(int64_t cutoff_us, const retention_options& o = {});


  /// Round-trip time of a trivial query, in milliseconds.
  double ping_ms();

  // -- aggregate reads for `taskrt summary` / `taskrt status` ------------------

  /// Tasks matching `f` (limit and order ignored) counted by name and state,
  /// ordered by name, then state.
  std::vector<name_state_count> count_by_name_state(const task_filter& f);

  /// "fail" events of the tasks matching `f` (limit and order ignored), at
  /// or after `f.since_us` (0: all), grouped by error kind, most frequent first.
  std::vector<error_kind_count> failures_by_kind(const task_filter& f);

  /// "lose" events of the tasks matching `f`, at or after `f.since_us`,
  /// grouped by reason and signal, most frequent first.
  std::vector<lost_cause_count> lost_by_cause(const task_filter& f);

  /// Journal events at or after `since_us` counted by kind; only the kinds
  /// in `kinds` when it is not empty. Reads only the partitions and block
  /// ranges (BRIN index on `at`) of that time, and for the rare kinds
  /// (fail, lose, retry, manual_retry) only their partial index.
  std::vector<event_kind_count> event_counts_since(int64_t since_us,
                                                   const std::vector<event_kind>& kinds = {});

  /// Tasks per state without a scan of the whole table, for `taskrt status`.
  state_counts count_by_state();

  /// The QUEUED tasks at `now_us`: ready ones (and since when the oldest
  /// waits) apart from scheduled ones.
  queue_age queued_age(int64_t now_us);

  /// The journal of `task_id` after event id `after_id`, in journal order.
  std::vector<event_row> events_after(int64_t task_id, int64_t after_id);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace taskrt

#pragma once
/// The journal's write path and what a head reads at start: guarded group
/// commits (with their commit log), head-generation fencing, recovery loads
/// and queue windows. Implemented by journal_store (Postgres) and
/// memory_journal (in memory, for unit tests); tests/contract/ holds the one
/// suite both pass.

#include "taskrt/runtime/note_kind.hpp"
#include "taskrt/runtime/task.hpp"
#include "taskrt/runtime/task_state.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// Transitions + recovery. Every method throws store_error on failure.
class transition_store_interface {
public:
  virtual ~transition_store_interface() = default;

  /// A new task. It is journaled QUEUED at attempt 0 with a "submit" event.
  struct submit_item {
    task_spec spec;
    std::string resolved_policy; ///< retry policy JSON; empty: spec.policy
    std::string queue;           ///< resolved queue; empty: spec.queue or "default"
    double time_limit_s = 0;     ///< resolved limit; 0: spec.time_limit_s
    int64_t now_us = 0;          ///< submit time; also run_at when spec has none
    /// Why no node can run it yet ("no ALIVE node runs NAME"), written in
    /// its submit event's detail as "waiting"; empty: a node can.
    std::string waiting;
  };

  /// A guarded transition of an existing task.
  struct transition_item {
    int64_t task_id = 0;
    transition_kind kind = transition_kind::start;
    task_state expected_state = task_state::queued; ///< guard
    int32_t expected_attempt = 0;                   ///< guard
    int32_t new_attempt = 0;     ///< attempt after the transition
    int64_t lease_epoch = 0;     ///< lease epoch after the transition
    int64_t run_at_us = 0;       ///< 0: unchanged
    std::optional<int32_t> priority;
    std::optional<std::string> queue;
    std::optional<std::string> lock; ///< "" clears the lock
    std::optional<int32_t> retry_base;
    std::optional<int32_t> unstarted;
    std::string node;   ///< empty: unchanged
    std::string result; ///< JSON text; empty: unchanged
    std::string error;  ///< JSON text of error_info; empty: unchanged
    nlohmann::json detail = nlohmann::json::object(); ///< goes to the event
    int64_t at_us = 0;
  };

  /// An event without a state change: "stale_result", "retry_decision",
  /// "checkpoint", "progress", "rejected", ...
  struct note_item {
    int64_t task_id = 0;
    int32_t attempt = 0;
    note_kind kind = note_kind::progress;
    nlohmann::json detail = nlohmann::json::object();
    int64_t at_us = 0;
    std::string node;
  };

  /// A checkpoint saved by an attempt.
  struct checkpoint_item {
    int64_t task_id = 0;
    int32_t attempt = 0;
    std::string data; ///< no NUL bytes
    int64_t at_us = 0;
  };

  /// The latest progress value of a running attempt (tasks.progress).
  struct progress_item {
    int64_t task_id = 0;
    int32_t attempt = 0;
    std::string data; ///< JSON text
    int64_t at_us = 0;
  };

  /// What one commit() writes. Journal order within a batch: submits, then
  /// transitions in vector order, then notes, then checkpoints, then
  /// progress (the last item of a task wins; an item whose attempt is no
  /// longer the task's current one writes nothing).
  ///
  /// Submits with a `spec.key` that a task already has (or that an earlier
  /// submit of the same batch has) write nothing and return that task's id.
  /// A submit with parents (`spec.after`, -N for the N-th submit of this
  /// batch) is journaled WAITING with its edges, then settled like the
  /// children of every task a transition of the batch ends (see
  /// batch_result::released).
  /// A "requeue" transition's event carries the attempt it hands back
  /// (expected_attempt). A note of kind "cancel_requested" also sets
  /// tasks.cancel_requested; a "manual_retry" transition clears it. Several
  /// transitions of the same task may follow each other; each one's guard
  /// sees the effect of the ones before it.
  struct batch {
    std::vector<submit_item> submits;
    std::vector<transition_item> transitions;
    std::vector<note_item> notes;
    std::vector<checkpoint_item> checkpoints;
    std::vector<progress_item> progress;

    /// True when there is nothing to write.
    bool empty() const {
      return submits.empty() && transitions.empty() && notes.empty()
             && checkpoints.empty() && progress.empty();
    }
  };

  /// The outcome of one commit().
  struct batch_result {
    std::vector<int64_t> submitted_ids; ///< one per submit, in order
    /// One per submit: true when its idempotency key matched a task that
    /// already existed (submitted_ids then holds that task's id and nothing
    /// was written for it).
    std::vector<bool> existing;
    /// One per transition: false when its guard failed or the transition is
    /// illegal from the expected state; nothing but a "rejected" note (for
    /// illegal ones) is written for it.
    std::vector<bool> applied;
    /// Dependencies (migration 7), moved in the same transaction: tasks that
    /// left WAITING for QUEUED as their parents' ends allowed (submits with
    /// parents that were final already included), and those that ended
    /// CANCELLED with reason upstream_failed, cascading; rows as committed.
    std::vector<task_record> released;
    std::vector<task_record> settled;
    /// Ids of CANCELLED tasks that wait again (a manual retry of the parent
    /// whose failure cancelled them).
    std::vector<int64_t> rewaited;
  };

  /// A place in a queue's order (priority desc, run_at, id): reads "after"
  /// it start with the next task.
  struct queue_position {
    int32_t priority = 0;
    int64_t run_at_us = 0;
    int64_t id = 0;
  };

  /// What a head with bounded queue windows loads at start.
  struct windowed_load {
    /// load_unfinished() but for the QUEUED tasks due by now without a
    /// cancel request, of which only the first `window` of each queue
    /// (priority desc, run_at, id) are here.
    std::vector<task_record> tasks;
    /// Per queue: its QUEUED tasks due by now without a cancel request.
    std::map<std::string, int64_t> due;
    int64_t max_id = 0; ///< the highest task id in the journal
    /// When the statistics of `tasks` were stale (a burst of writes since the
    /// last ANALYZE), it analyzed first: the rows changed since then; else 0.
    int64_t analyzed_changes = 0;
    int64_t later = 0; ///< QUEUED tasks scheduled after the horizon (not in `tasks`)
    int64_t waiting = 0; ///< WAITING tasks (never in `tasks`: no head holds them)
  };

  /// Writes `b` in one transaction; see journal_store::commit. With a
  /// `commit_id`, a second call with the same id returns the first one's
  /// result when it went through and never writes the batch twice.
  virtual batch_result commit(const batch& b, const std::string& commit_id = {}) = 0;

  /// Takes the next head generation and fences this store's writes on it:
  /// once another store took a newer one, writes fail with a store_error of
  /// class `fenced` and write nothing.
  virtual int64_t next_head_generation() = 0;

  /// The head generation this store's writes are fenced on (0: none).
  virtual int64_t fence_generation() const = 0;

  /// Fences this store's writes on `generation` (taken by another store of
  /// the same head).
  virtual void fence_on(int64_t generation) = 0;

  /// Every QUEUED and RUNNING task plus the FAILED/LOST ones whose end has no
  /// final decision, by id.
  virtual std::vector<task_record> load_unfinished() = 0;

  /// What a head with bounded queue windows loads at start.
  virtual windowed_load load_windowed(int64_t now_us, size_t window, int64_t horizon_us) = 0;

  /// The QUEUED tasks without a cancel request scheduled in (`after_us`,
  /// `until_us`], by run_at.
  virtual std::vector<task_record> queued_between(int64_t after_us, int64_t until_us) = 0;

  /// Up to `limit` QUEUED tasks of `queue` due by `now_us`, without a cancel
  /// request, after `after` (from the first when empty), best first.
  virtual std::vector<task_record> queued_after(const std::string& queue,
                                                const std::optional<queue_position>& after,
                                                int64_t now_us, size_t limit) = 0;

  /// The data of the newest checkpoint of `task_id`.
  virtual std::optional<std::string> latest_checkpoint(int64_t task_id) = 0;

  /// The data of the newest checkpoint of each of `task_ids` that has one.
  virtual std::map<int64_t, std::string> latest_checkpoints(const std::vector<int64_t>& task_ids) = 0;

  /// Round-trip time of a trivial query, in milliseconds (a health probe).
  virtual double ping_ms() = 0;
};

/// The detail of `it`'s submit event, the same in every store: its origin,
/// parent_id (a spawned child), key, why it waits for a node ("waiting"),
/// and its parents ("after"; -N: the N-th submit of the batch) with their
/// trigger. Fields without a value are left out.
nlohmann::json submit_detail(const transition_store_interface::submit_item& it);

} // namespace taskrt

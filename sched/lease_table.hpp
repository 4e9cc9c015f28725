#pragma once
/// The RUNNING attempts the head knows of, and the leases that fence them.
///
/// A lease is `(generation << 32) | ++counter`: the generation grows at
/// every head start (kept in Postgres), so a lease is never handed out twice,
/// in this head's lifetime or an earlier one, and is also always above the
/// task's previous lease. A result counts only when its (task, attempt,
/// lease) is the task's current running attempt (current()); anything else
/// is stale and the caller journals it as such. The lease is journaled and
/// fenced on: keep the encoding.
///
/// One running attempt:
/// ```
///   add (dispatch, or recovery of a RUNNING row) ──► RUNNING ──remove──► gone
///          began=false when prefetched ─mark_began─► began=true
///          worker 0 until adopted ──────move_to────► worker w
/// ```
/// Node leases (time-bound, runtime/lease.hpp): when the head last granted
/// each node its lease (a heartbeat or registration answered; the head's own
/// node: its local renewal tick), on the head's monotonic clock, never
/// before this head started (an earlier head's grants are over by then plus
/// a lease). A lock whose attempt was lost without its process being known
/// dead stays fenced until that attempt's lease is over for sure: fence_lock
/// keeps it, expired_fences hands it on.
///
/// Indexed by task id, by lease, by node and by worker: each lookup O(1),
/// each change O(log n); the attempts of one node or worker are listed in
/// O(k) (a node dies, a worker goes down), never by a scan of every task.
/// Plain data, no I/O.

#include "taskrt/sched/slot_table.hpp"

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace taskrt::sched {

/// One RUNNING attempt under one lease.
struct running_attempt_entry {
  int64_t task_id = 0;
  int32_t attempt = 0;
  int64_t lease = 0;
  std::string node;   ///< node it runs on
  slot_id worker = 0; ///< 0: not known (recovered, not adopted yet)
  bool began = true;  ///< false while a prefetched attempt waits behind another
};

/// The running attempts, indexed (see above), and the lease counter.
class lease_table {
public:
  /// Sets this head's generation (from the journal at recovery).
  void set_generation(int64_t generation) { generation_ = generation; }

  /// This head's generation.
  int64_t generation() const { return generation_; }

  /// A lease never handed out before: `(generation << 32) | ++counter`,
  /// raised above `previous` (the task's last lease) if it must be.
  int64_t issue(int64_t previous);

  /// Records the running attempt `a` (replacing its task's previous one).
  void add(running_attempt_entry a);

  /// Ends the running attempt of `task_id`; false when it had none.
  bool remove(int64_t task_id);

  /// The running attempt of `task_id`, or null.
  const running_attempt_entry* find(int64_t task_id) const;

  /// The running attempt holding exactly (task, attempt, lease), or null:
  /// a result or event under anything else is stale.
  const running_attempt_entry* current(int64_t task_id, int32_t attempt, int64_t lease) const;

  /// The running attempt under `lease`, or null.
  const running_attempt_entry* by_lease(int64_t lease) const;

  /// The attempt of `task_id` now counts against `worker`; returns the
  /// worker it counted against before (0: none).
  slot_id move_to(int64_t task_id, slot_id worker);

  /// The prefetched attempt of `task_id` began.
  void mark_began(int64_t task_id);

  /// Tasks running on `node`, by id.
  std::vector<int64_t> on_node(const std::string& node) const;

  /// Tasks running on `worker`, by id.
  std::vector<int64_t> on_worker(slot_id worker) const;

  /// How many attempts run on `node`.
  int32_t count_on(const std::string& node) const;

  /// How many attempts run.
  size_t size() const { return by_task_.size(); }

  /// This head started at `mono_ns`: no node's lease was granted by it
  /// before then (last_grant() is never earlier).
  void set_grant_floor(int64_t mono_ns) { grant_floor_ns_ = mono_ns; }

  /// The head granted `node` its lease at `mono_ns`.
  void granted(const std::string& node, int64_t mono_ns);

  /// When `node`'s lease was last granted (the grant floor at least).
  int64_t last_grant(const std::string& node) const;

  /// `lock` stays held until `until_ns` (a later fence of it wins).
  void fence_lock(const std::string& lock, int64_t until_ns);

  /// The fence on `lock` (0: none).
  int64_t lock_fence(const std::string& lock) const;

  /// Removes and returns the locks whose fences are over at `now_ns`.
  std::vector<std::string> expired_fences(int64_t now_ns);

private:
  std::unordered_map<int64_t, running_attempt_entry> by_task_;
  std::unordered_map<int64_t, int64_t> by_lease_; ///< lease → task
  std::unordered_map<std::string, std::set<int64_t>> by_node_;
  std::unordered_map<slot_id, std::set<int64_t>> by_worker_;
  int64_t generation_ = 0;
  uint32_t counter_ = 0;
  std::unordered_map<std::string, int64_t> grants_; ///< node → last grant (mono ns)
  int64_t grant_floor_ns_ = 0;
  std::unordered_map<std::string, int64_t> fences_; ///< lock → held until (mono ns)
};

} // namespace taskrt::sched

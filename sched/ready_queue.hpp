#pragma once
/// The head's QUEUED tasks, in memory: which task a worker gets next.
///
/// Order within a queue: priority desc, run_at, id (ready_key). Tasks sit in
/// lanes, one per (queue, task name), so a worker that runs only some names
/// is offered only those, without skipping the others. At most one task per
/// lock runs: a task with a lock waits on its lock's wait list; while the
/// lock is free the best waiter of each lane is offered, while it is held
/// none is (hold/release move one task per lane, never a rescan). A task
/// whose run_at is still ahead waits in a timer-ordered set until then.
///
/// Where one task is (per id):
/// ```
///   push, run_at > now            promote_due(now ≥ run_at)
///   ─────────────────► SCHEDULED ─────────────────────────┐
///   push, run_at ≤ now                                    ▼
///   ───────────────────────────────────────────► READY (no lock: offered)
///                                                  │
///                                                  └ with a lock: WAITING on the
///                                                    lock's list; offered while the
///                                                    lock is free and it is the best
///                                                    waiter of its lane
///   remove (start, cancel, retry-now) takes it out from any of them.
/// ```
/// Costs, with n tasks: push, remove, promote of one task O(log n); hold and
/// release O(L log n) for the L lanes the lock's waiters are in; peek O(1)
/// for a worker that takes every queue and name, else a walk over the lanes'
/// best tasks in order that ends at the first lane it takes (O(H) for H
/// non-empty lanes at worst, whatever the number of tasks).
///
/// Plain data, no I/O, no clock: the caller passes `now`.

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace taskrt::sched {

/// Order of ready tasks: priority desc, run_at, id (total: ids are unique).
struct ready_key {
  int32_t priority = 0;
  int64_t run_at_us = 0;
  int64_t id = 0;

  /// True when this task runs before `o`.
  bool operator<(const ready_key& o) const {
    if (priority != o.priority)
      return priority > o.priority;
    if (run_at_us != o.run_at_us)
      return run_at_us < o.run_at_us;
    return id < o.id;
  }
  /// Same task, same place in the order.
  bool operator==(const ready_key& o) const {
    return priority == o.priority && run_at_us == o.run_at_us && id == o.id;
  }
};

/// What the ready queue needs to know of a QUEUED task.
struct queued_task {
  int64_t id = 0;
  std::string queue;
  std::string name;
  std::string lock; ///< empty: none
  int32_t priority = 0;
  int64_t run_at_us = 0;
};

/// Which tasks a worker may be offered. Null or empty: no restriction.
struct task_filter {
  const std::vector<std::string>* queues = nullptr;       ///< queues it serves
  const std::unordered_set<std::string>* names = nullptr; ///< task names it runs
};

/// The QUEUED tasks of the head, by queue, lock and time (see above).
class ready_queue {
public:
  /// Adds task `t`: ready if its run_at is not after `now_us`, else
  /// scheduled. A task already held is replaced (its values may change).
  void push(const queued_task& t, int64_t now_us);

  /// Takes task `id` out wherever it waits; false when it is not held.
  bool remove(int64_t id);

  /// True when task `id` is held (ready, waiting on a lock, or scheduled).
  bool contains(int64_t id) const;

  /// Moves the scheduled tasks whose run_at is not after `now_us` to their
  /// queues; returns how many moved.
  size_t promote_due(int64_t now_us);

  /// The best task `f` admits whose lock (if any) is free, or 0. It stays
  /// held until remove().
  int64_t peek(const task_filter& f = {}) const;

  /// Marks `lock` held (a task with it runs): its waiters are offered no more.
  void hold(const std::string& lock);

  /// Frees `lock`: the best waiter of each lane is offered again.
  void release(const std::string& lock);

  /// True when `lock` is held.
  bool held(const std::string& lock) const;

  /// True when some task is offered (ready, its lock free).
  bool has_ready() const { return !heads_.empty(); }

  /// Tasks held: ready, waiting on a lock, or scheduled.
  size_t size() const { return entries_.size(); }

  /// Tasks scheduled for later.
  size_t scheduled() const { return timers_.size(); }

  /// The run_at of the next scheduled task, or 0 when none is.
  int64_t next_due_us() const { return timers_.empty() ? 0 : timers_.begin()->first; }

private:
  /// The tasks of one (queue, name) that are offered now.
  struct lane {
    std::string queue;
    std::string name;
    std::set<ready_key> offered;
    size_t refs = 0; ///< entries in this lane (any state)
  };
  /// A lock: held or not, and its ready waiters per lane.
  struct lock_entry {
    std::string name;
    bool held = false;
    std::map<lane*, std::set<ready_key>> waiting;
    size_t refs = 0; ///< entries with this lock (any state)
  };
  /// Where a task is.
  struct entry {
    ready_key key;
    lane* ln = nullptr;
    lock_entry* lk = nullptr;
    bool scheduled = false;
  };

  void make_ready(entry& e);
  void unready(entry& e);
  void offer(lane& l, const ready_key& k);
  void withdraw(lane& l, const ready_key& k);
  void unref(entry& e);

  std::map<std::pair<std::string, std::string>, lane> lanes_;
  std::unordered_map<std::string, lock_entry> locks_;
  std::unordered_map<int64_t, entry> entries_;
  std::set<std::pair<int64_t, int64_t>> timers_; ///< (run_at, id) of scheduled tasks
  std::set<ready_key> heads_;                    ///< the best offered task of each lane
};

} // namespace taskrt::sched

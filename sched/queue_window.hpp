#pragma once
/// Which QUEUED tasks of each queue the head holds in memory: a bounded
/// window per queue, the rest stays in the journal and is read back in order.
///
/// Only tasks that are due when they arrive are windowed (a task scheduled
/// for later waits on a timer in memory, whatever its queue). A queue is
/// either whole (every due QUEUED task of it is in memory) or spilled: then
/// a frontier F splits it, every held task ranks at or before F (ready_key
/// order) and every task only in the journal ranks after F. So the best task
/// of a queue is always in memory and order is kept.
///
/// ```
///             held > capacity: the worst held task leaves, F before it
///   WHOLE ───────────────────────────────────────────────────► SPILLED(F)
///     ▲                                                          │  │
///     │ a refill returned fewer rows than asked                  │  │ held < capacity/2:
///     └──────────────────────────────────────────────────────────┘  │ refill "after F"
///                           a full refill: F moves to its last row ◄┘ (one in flight)
/// ```
/// While a refill is in flight every arriving task is held (its snapshot may
/// miss it) and none is evicted; the tasks that leave memory by a change of
/// state meanwhile (started, cancelled, moved) are remembered, so the older
/// snapshot cannot bring them back. Each operation O(log n) for n held.
///
/// Plain data, no I/O, no clock.

#include "taskrt/sched/ready_queue.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

namespace taskrt::sched {

/// A refill to read from the journal: the due QUEUED tasks of `queue` after
/// `after` (all of them when empty), best first, at most `limit`.
struct refill_request {
  std::string queue;
  std::optional<ready_key> after;
  size_t limit = 0;
};

/// What a refill brings: the indexes of the rows to hold, and the held
/// tasks to drop from memory (they rank after the new frontier).
struct refill_result {
  std::vector<size_t> take;
  std::vector<int64_t> evicted;
};

/// What admit() decided.
struct admit_result {
  bool held = false;     ///< false: the task stays in the journal only
  int64_t evicted = 0;   ///< a held task to drop from memory (0: none)
};

/// The bounded windows of the head's queues (see above).
class queue_window {
public:
  /// At most `capacity` due tasks per queue in memory (at least 2).
  explicit queue_window(size_t capacity = 20000);

  /// The capacity per queue.
  size_t capacity() const { return capacity_; }

  /// A due QUEUED task `k` of `queue` arrives (a submit): held, or left in
  /// the journal when it ranks after the frontier; holding it may evict the
  /// worst held task.
  admit_result admit(const std::string& queue, const ready_key& k);

  /// A due QUEUED task `k` that must be held (a retry, a hand-back, a manual
  /// retry, recovery): always held; trim() evicts later.
  void hold(const std::string& queue, const ready_key& k);

  /// The held tasks over capacity, worst first, to drop from memory (none
  /// while a refill is in flight); the frontier moves before them.
  std::vector<int64_t> trim(const std::string& queue);

  /// Task `k` leaves memory by a change of state (start, cancel, a move).
  /// Unknown keys (scheduled tasks) are ignored but for a refill in flight.
  void leave(const std::string& queue, const ready_key& k);

  /// Task `id`, only in the journal, left `queue` by a change of state there
  /// (cancelled, or moved into memory by a manual retry).
  void left_journal(const std::string& queue, int64_t id);

  /// The refill `queue` needs now (spilled, under half its capacity, none in
  /// flight), which is then in flight; or nothing.
  std::optional<refill_request> want_refill(const std::string& queue);

  /// The queues that are spilled.
  const std::set<std::string>& spilled_queues() const { return spilled_; }

  /// A refill of `queue` came back with `rows` (key order, as asked). Takes
  /// the rows to hold: not changed since it was asked and not
  /// `known` to the caller. The caller knows the tasks it holds already and
  /// those whose submit it has not seen acknowledged yet (ids above the
  /// highest acknowledged: the acknowledgement admits them; taken here too,
  /// one could start before its own acknowledgement came and be held again).
  /// The frontier moves to the last row, and the tasks held while the
  /// refill was in flight that rank after it leave memory (evicted), or the
  /// queue is whole again when fewer rows came than asked. The frontier moves to the last row, or the queue
  /// is whole again when fewer rows came than asked.
  template <class Known>
  refill_result refilled(const std::string& queue, const std::vector<ready_key>& rows,
                         Known&& known) {
    refill_result out;
    auto& q = queues_[queue];
    for (size_t i = 0; i < rows.size(); ++i)
      if (!q.touched.count(rows[i].id) && !known(rows[i].id))
        out.take.push_back(i);
    end_refill(queue, rows, out);
    return out;
  }

  /// A refill of `queue` failed (the journal is down): asked again later.
  void refill_failed(const std::string& queue);

  /// Recovery of `queue`: the first `held` due tasks were loaded, of `total`
  /// due in the journal; spilled when the load was full (capacity rows).
  void recovered(const std::string& queue, const std::vector<ready_key>& held, int64_t total);

  /// True when `queue` is spilled.
  bool spilled(const std::string& queue) const { return spilled_.count(queue) > 0; }

  /// Due tasks of `queue` held in memory (windowed ones).
  size_t held(const std::string& queue) const;

  /// Due QUEUED tasks of `queue` only in the journal (as far as the head
  /// counted them: a gauge, exact again whenever the queue is whole).
  int64_t outside(const std::string& queue) const;

  /// The sum of outside() over every queue.
  int64_t outside_total() const;

  /// The frontier of `queue` (nothing when it is whole).
  std::optional<ready_key> frontier(const std::string& queue) const;

private:
  struct queue_state {
    std::set<ready_key> held;
    std::optional<ready_key> frontier; ///< set while spilled
    bool refilling = false;
    std::unordered_set<int64_t> touched; ///< left memory while a refill was in flight
    size_t asked = 0;                    ///< rows the refill in flight asked for
    int64_t outside = 0;
  };

  void end_refill(const std::string& queue, const std::vector<ready_key>& rows,
                  refill_result& out);
  void move_frontier_before(queue_state& q, const std::string& name, const ready_key& k);

  size_t capacity_;
  std::map<std::string, queue_state> queues_;
  std::set<std::string> spilled_;
};

/// The key just before `k` in ready_key order (same priority and run_at,
/// id - 1): "after it" includes `k`.
ready_key just_before(const ready_key& k);

} // namespace taskrt::sched

#pragma once
/// Rate and concurrency limits per key, in front of the ready queue: which
/// QUEUED task that carries limit keys may be offered to a worker now.
///
/// A task with keys waits here, not in the ready queue. Each key has a token
/// bucket (rate, burst) and a concurrency count, both optional (a key with no
/// limit set only takes part in the round-robin), and at most one *pending*
/// task: released to the ready queue, not yet started (the lateness of a
/// start after its token is kept, up to start_slack()). A key's candidate is
/// its best waiting task (ready_key order); a candidate is released when it
/// is the candidate of every one of its keys and each of them has no pending
/// task, a token and a free place. Its start takes the token and the place
/// (so starts, not releases, follow the bucket); the end of its attempt frees
/// the place.
///
/// ```
///   push, run_at > now          run_at reached
///   ───────────────► SCHEDULED ─────────────────┐
///   push, due                                   ▼
///   ─────────────────────────────────────────► WAITING (on each key)
///                  every key: candidate, no pending, token, place
///                                               ▼
///                                            PENDING (in the ready queue)
///                                               │ started()
///                                               ▼
///                                            RUNNING ──ended()──► gone
///   remove() takes a task out of SCHEDULED, WAITING or PENDING.
/// ```
/// Round-robin: each release gets the next value of a strictly increasing
/// release clock, which the caller uses as the task's run_at in the ready
/// queue. A key's next task is released only after its pending one started,
/// so it ranks after the pending tasks of the other keys: one tenant with a
/// backlog of thousands cannot starve another, and a task over its limit
/// never blocks tasks of other keys or of no key in its queue.
///
/// Cost: only keys whose state changed (a push, a start, an end, a token due,
/// a limit set) are examined, each in O(k log n) for a task of k keys, so the
/// cost per dispatch does not grow with the number of keys.
///
/// Plain data, no I/O, no clock: the caller passes `now`.

#include "taskrt/sched/ready_queue.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace taskrt::sched {

/// The limit of one key; zero fields mean "no such limit".
struct key_limit {
  double rate_per_s = 0; ///< tokens per second (0: no rate limit)
  double burst = 1;      ///< bucket size (≥ 1 when a rate is set)
  int32_t concurrency = 0; ///< RUNNING tasks at most (0: no concurrency limit)
};

/// A task the gate lets into the ready queue, ranked by `release_us`
/// (strictly increasing over the gate's life) in place of its run_at.
struct released_task {
  int64_t id = 0;
  int64_t release_us = 0;
};

/// Why a task waits in the gate.
struct wait_reason {
  enum class kind : uint8_t { none, scheduled, rate, concurrency, behind, pending };
  kind what = kind::none;
  std::string key;          ///< the key that holds it
  key_limit limit;          ///< that key's limit
  int64_t next_token_us = 0; ///< rate: when the key has its next token
  int32_t running = 0;      ///< concurrency: RUNNING tasks of the key
  int64_t other = 0;        ///< behind/pending: the task ahead of it on the key
};

/// The per-key limits and the tasks they hold (see above).
class limit_gate {
public:
  /// Sets (or replaces) the limit of `key`. A new rate starts with a full
  /// bucket; a changed one keeps its tokens (at most the new burst).
  void set_limit(const std::string& key, const key_limit& l, int64_t now_us);

  /// Removes the limit of `key`: its tasks are no longer throttled.
  void clear_limit(const std::string& key);

  /// The limit of `key`, if one is set.
  std::optional<key_limit> limit_of(const std::string& key) const;

  /// Adds QUEUED task `id` with `keys` (at least one), ranked by `k`:
  /// scheduled when k.run_at_us > now_us, else waiting. A task already held
  /// is replaced.
  void push(int64_t id, const std::vector<std::string>& keys, const ready_key& k,
            int64_t now_us);

  /// Takes task `id` out of the gate while it waits or is pending (cancel,
  /// move, hand-back); true when it was there. Running tasks are left to
  /// ended().
  bool remove(int64_t id);

  /// Pending task `id` starts: takes a token and a place of each key. False
  /// (and nothing changes) when `id` is not pending here.
  bool started(int64_t id, int64_t now_us);

  /// Counts task `id` with `keys` as RUNNING without a token (an attempt
  /// adopted after a head restart).
  void adopt_running(int64_t id, const std::vector<std::string>& keys);

  /// The attempt of running task `id` ended: frees its places. False when
  /// it was not running here.
  bool ended(int64_t id);

  /// The tasks to put into the ready queue now, in release order.
  std::vector<released_task> poll(int64_t now_us);

  /// The earliest time poll() may release something it cannot now (a
  /// scheduled task due, a token due), or 0 when no such time is known.
  int64_t next_wake_us() const;

  /// True when task `id` is held (scheduled, waiting or pending).
  bool holds(int64_t id) const;

  /// True when task `id` is pending (released, not started).
  bool pending(int64_t id) const;

  /// Why task `id` waits now (kind::none when it does not wait here).
  wait_reason why(int64_t id, int64_t now_us) const;

  /// Waiting tasks (throttled, or behind another of their key) per key with
  /// at least one.
  std::map<std::string, size_t> waiting_per_key() const;

  /// Tasks scheduled or waiting (not the pending ones: those are in the
  /// ready queue already).
  size_t size() const;

  /// RUNNING tasks counted against `key`.
  int32_t running(const std::string& key) const;

  /// Keys with any state (a limit, a task, a count).
  size_t keys() const { return keys_.size(); }

private:
  enum class where : uint8_t { scheduled, waiting, pending, running };
  struct key_state {
    std::string name;
    std::optional<key_limit> limit;
    double tokens = 0;
    int64_t refill_us = 0; ///< the time `tokens` was computed at
    int32_t running = 0;
    int64_t pending = 0;
    std::set<ready_key> waiting;
    int64_t wake_us = 0; ///< armed token timer (0: none)
    bool dirty = false;
    size_t refs = 0; ///< tasks in any state with this key
  };
  struct entry {
    ready_key key;
    std::vector<key_state*> keys;
    where at = where::scheduled;
  };

  key_state& key(const std::string& name);
  double tokens_at(const key_state& k, int64_t now_us) const;
  int64_t token_due_us(const key_state& k, int64_t now_us) const;
  void mark(key_state& k);
  void examine(key_state& k, int64_t now_us, std::vector<released_task>& out);
  void make_waiting(int64_t id, entry& e);
  void drop(int64_t id, entry& e);
  void unref(key_state* k);

  std::unordered_map<std::string, key_state> keys_;
  std::unordered_map<int64_t, entry> entries_;
  std::set<std::pair<int64_t, int64_t>> timers_; ///< (run_at, id) of scheduled tasks
  std::set<std::pair<int64_t, std::string>> token_timers_; ///< (due, key)
  std::vector<key_state*> dirty_;
  std::vector<key_state*> work_; ///< poll()'s buffer, kept to spare allocations
  int64_t clock_us_ = 0;
};

/// Tokens of lateness a start keeps (at most half a token and 20 ms worth):
/// starts in any window of W seconds number at most burst + rate·W + this.
double start_slack(double rate_per_s);

/// Parses a rate "N/s", "N/m" or "N/h" (N > 0, a number) into tokens per
/// second; nothing when it is not one.
std::optional<double> parse_rate(const std::string& text);

/// The rate as given back to a user: "20/s", "1.5/m", "100/h" (the unit
/// that shows it with the fewest decimals).
std::string format_rate(double per_s);

} // namespace taskrt::sched

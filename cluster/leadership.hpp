#pragma once
/// What keeps one head active per journal while it runs (the lock itself is
/// persistence/leader_lock.hpp):
///
/// ```
///   active head                                  standby head
///   lock_watcher: every 200 ms, held()?          silent_head_watch: every 1 s,
///     yes ─► (its session stays busy)              is the active session silent
///     no  ─► take the lock back                    for more than takeover_after_s?
///             ├─ got it: go on                       yes ─► end that session
///             ├─ Postgres away: try again                   (the lock passes to the
///             └─ another head has it:                        standby waiting for it)
///                exit 3 (stepped down)
/// ```
/// A head that wakes after being silent (paused, hung) finds its lock taken
/// (exit 3) and its journal writes fenced (journal_store::next_head_generation),
/// whichever it meets first.

#include "taskrt/persistence/leader_lock.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace taskrt {

/// The active head's watch over its leader lock (see above). Starts at
/// construction, right after the lock is taken, so the lock's session is
/// busy (never silent) during migrations and recovery too.
class lock_watcher {
public:
  /// Watches `lock` (taken); on a loss it takes a new lock at `dsn` under
  /// `address`. With `enabled` false (tests: TASKRT_FAULT=no_lock_watch) it
  /// never checks: only the journal fence stops this head then.
  lock_watcher(std::unique_ptr<leader_lock> lock, std::string dsn, std::string address,
               std::string state_path, bool enabled);
  /// Stops watching (the lock is released with its session).
  ~lock_watcher();
  lock_watcher(const lock_watcher&) = delete;
  lock_watcher& operator=(const lock_watcher&) = delete;

  /// Renames the lock's session (the port became known after publish).
  void set_address(const std::string& address);

private:
  void run();

  std::mutex m_; // guards lock_ and address_ (the session is used by both threads)
  std::unique_ptr<leader_lock> lock_;
  std::string dsn_;
  std::string address_;
  std::string state_path_;
  bool enabled_;
  std::atomic<bool> watching_{true};
  std::thread thread_;
};

/// A standby's watch over the active head while it waits for the lock: ends
/// the active head's session when it has been silent for more than
/// `takeover_after_s` seconds (0: never).
class silent_head_watch {
public:
  /// Starts watching the journal at `dsn` (only the session holding the
  /// lock is ever ended; standbys wait without a lock).
  silent_head_watch(std::string dsn, double takeover_after_s);
  /// Stops watching.
  ~silent_head_watch();
  silent_head_watch(const silent_head_watch&) = delete;
  silent_head_watch& operator=(const silent_head_watch&) = delete;

private:
  void run();

  std::string dsn_;
  double takeover_after_s_;
  std::atomic<bool> watching_{true};
  std::thread thread_;
};

} // namespace taskrt

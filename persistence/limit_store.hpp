#pragma once
/// The limits per key (`taskrt limits`) in Postgres, and a watch the active
/// head keeps on them.
///
/// SQL used: the `limits` table (migration 9: key, rate_per_s, burst,
/// concurrency, updated_at); a change and `NOTIFY taskrt_limits,
/// current_schema()` commit in one transaction, so a listener that reloads
/// on the notification sees the change. The watch LISTENs on a connection
/// of its own and reloads every limit at start, on each notification of its
/// schema and after a reconnect: no query runs while nothing changes.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace taskrt {

/// One key's limit as stored; 0 fields mean "no such limit".
struct limit_row {
  std::string key;
  double rate_per_s = 0;
  double burst = 1;
  int32_t concurrency = 0;
  int64_t updated_us = 0;
};

/// Reads and changes the limits at one DSN (a connection per call; the CLI's
/// use). Throws store_error.
class limit_store {
public:
  explicit limit_store(std::string dsn);

  /// Every limit, by key.
  std::vector<limit_row> list() const;

  /// The limit of `key`, if set.
  std::optional<limit_row> get(const std::string& key) const;

  /// Sets the limit of `row.key` (replacing it) and notifies the head.
  void set(const limit_row& row) const;

  /// Deletes the limit of `key` and notifies the head; false when none was.
  bool remove(const std::string& key) const;

  /// QUEUED and RUNNING tasks per key that carry `key` (for describe).
  std::pair<int64_t, int64_t> tasks_of(const std::string& key) const;

  /// Why a QUEUED task with `keys` waits, as the journal shows it ("rate
  /// limit api.github: 20/s, next token in 0.4 s", "concurrency limit db:
  /// 3 of 3 running"), or "" when no limit holds it now. The tokens are
  /// estimated by replaying the journaled starts of the key's tasks over
  /// the last 2·burst/rate seconds through the bucket.
  std::string wait_reason(const std::vector<std::string>& keys) const;

private:
  std::string dsn_;
};

/// The head's watch on the limits (see above): calls `on_change` with every
/// limit on a thread of its own, at start and after each change.
class limit_watch {
public:
  limit_watch(std::string dsn, std::function<void(std::vector<limit_row>)> on_change);
  ~limit_watch();
  limit_watch(const limit_watch&) = delete;
  limit_watch& operator=(const limit_watch&) = delete;

private:
  void run();

  std::string dsn_;
  std::function<void(std::vector<limit_row>)> on_change_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace taskrt

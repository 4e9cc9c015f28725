#pragma once
/// The head's maintenance tick for the journal: a thread with its own
/// Postgres connection that, at start and then every `interval_s`, creates
/// the daily partitions of task_events a week ahead and, with a retention,
/// applies it (journal_store::apply_retention: final tasks older than the
/// retention deleted in batches, whole partitions dropped, events of tasks
/// that remain kept). Then it purges the HTTP API's tables
/// (access_store::purge_expired): idempotency keys older than
/// `api_key_ttl_s`, audit rows older than the retention (kept as long as
/// the journal's events), expired logins and sessions. It logs what it
/// created, dropped and purged. A failure (a
/// Postgres outage) is logged and tried again at the next tick; it never
/// stops the head.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace taskrt {

class journal_store;

/// Settings of the maintenance tick.
struct journal_maintenance_options {
  std::string dsn;
  double retain_s = 0;     ///< `start --head --retain`; 0: keep everything
  /// `start --head --api-key-ttl`: idempotency keys of the HTTP API older
  /// than this go (audit rows go with `retain_s`, like the journal's events)
  double api_key_ttl_s = 86400;
  double interval_s = 600; ///< between two ticks
};

/// Runs the tick on its own thread from construction to destruction (which
/// stops it between two batches and joins it).
class journal_maintenance {
public:
  /// Starts the thread; the first tick runs at once.
  explicit journal_maintenance(journal_maintenance_options opts);

  /// Stops the thread (at the next batch boundary) and joins it.
  ~journal_maintenance();

  journal_maintenance(const journal_maintenance&) = delete;
  journal_maintenance& operator=(const journal_maintenance&) = delete;

private:
  void run();
  void tick();
  void apply_journal_retention(journal_store& store, int64_t now_us);
  void purge_access(int64_t now_us);
  bool stopping();

  journal_maintenance_options opts_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

/// "30d", "12h", "90m", "45s": a retention for the log.
std::string retention_text(double seconds);

} // namespace taskrt

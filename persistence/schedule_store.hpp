#pragma once
/// Periodic schedules in Postgres (tables schedules and schedule_events,
/// migration 8 of persistence/detail/schema.cpp).
///
/// The CLI adds, pauses, resumes, triggers and deletes schedules here; each
/// such write sends NOTIFY taskrt_schedules in its transaction, so the
/// active head (actors/schedule_actor.hpp), which LISTENs, reloads at once
/// without polling. The head records every tick it decides (one row per
/// tick: fired, caught_up, skipped with a reason, triggered) and moves the
/// schedule's next_tick forward in the same transaction; next_tick only
/// moves forward, so a deposed head cannot move it back.

#include "taskrt/persistence/journal_options.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// One schedule: its rule, what each tick submits, and its state.
struct schedule_row {
  std::string name;
  std::string task;
  std::string args = "{}";  ///< JSON text
  std::string cron;         ///< cron expression, or empty for every_s
  int64_t every_s = 0;      ///< fixed interval, or 0 for cron
  std::string tz = "UTC";
  std::string missed = "skip";     ///< skip | latest | all
  int64_t catchup_window_s = 0;    ///< `all`: fire missed ticks this recent; 0: any
  std::string overlap = "allow";   ///< allow | skip | buffer-one
  int64_t jitter_s = 0;            ///< run_at = tick + [0, jitter)
  std::string queue;
  int32_t priority = 0;
  std::string policy;
  double time_limit_s = 0;
  std::string lock;
  bool declared = false;           ///< registered in C++, upserted at head start
  bool paused = false;
  int64_t next_tick_us = 0;        ///< first tick not yet decided; 0: none
  int64_t last_tick_us = 0;        ///< last tick fired; 0: none
  std::vector<int64_t> recent_task_ids; ///< tasks of the last ticks fired, newest last
  int64_t trigger_at_us = 0;       ///< a manual trigger waiting for the head; 0: none
  int64_t created_us = 0;
  int64_t updated_us = 0;
};

/// One decided tick.
struct schedule_event_row {
  int64_t id = 0;
  std::string schedule;
  int64_t tick_us = 0;
  std::string kind;   ///< fired | caught_up | skipped | triggered
  std::string reason; ///< why skipped or caught up
  int64_t task_id = 0; ///< 0: none
  int64_t at_us = 0;
};

/// Access to the schedules' tables. Not thread-safe: one per thread.
/// Errors are store_error (persistence/store_error.hpp); the connection is
/// reopened on the next call after an outage.
class schedule_store {
public:
  explicit schedule_store(const std::string& dsn, journal_options opts = {});
  ~schedule_store();

  /// Inserts `s`; false when a schedule of that name exists.
  bool add(const schedule_row& s);

  /// Inserts or updates a declared schedule: its rule and task settings are
  /// replaced; its state stays, except next_tick, which becomes
  /// `next_tick_us` when the rule (cron, every, tz) changed.
  void upsert_declared(const schedule_row& s);

  /// Every schedule, by name.
  std::vector<schedule_row> list();

  /// The schedule `name`.
  std::optional<schedule_row> get(const std::string& name);

  /// Pauses or resumes; false when there is no such schedule.
  bool set_paused(const std::string& name, bool paused);

  /// Asks the active head to fire a tick now (at the time of this call);
  /// the instant requested, or nothing when there is no such schedule.
  std::optional<int64_t> request_trigger(const std::string& name);

  /// Deletes the schedule and its events; false when there is none.
  bool remove(const std::string& name);

  /// The latest `limit` events of `name`, oldest first.
  std::vector<schedule_event_row> events(const std::string& name, int limit);

  /// Counts of events of `name` by kind.
  std::map<std::string, int64_t> event_counts(const std::string& name);

  // -- the head -------------------------------------------------------------

  /// LISTEN taskrt_schedules on this connection.
  void listen();

  /// Waits up to `timeout_ms` for a NOTIFY; true when one (or more) came.
  bool await_change(int64_t timeout_ms);

  /// The ids of the tasks holding `keys`, by key.
  std::map<std::string, int64_t> tasks_by_key(const std::vector<std::string>& keys);

  /// The states ("QUEUED", ...) of the tasks `ids` that exist.
  std::map<int64_t, std::string> task_states(const std::vector<int64_t>& ids);

  /// Records `events` of schedule `name` (a tick already recorded keeps its
  /// first answer) and, in the same transaction, moves next_tick to
  /// `next_tick_us` if that is later; a fired tick also sets last_tick and
  /// appends its task to recent_task_ids (the newest `keep` stay).
  void record_ticks(const std::string& name, const std::vector<schedule_event_row>& events,
                    int64_t next_tick_us, size_t keep = 2);

  /// Clears a manual trigger request once handled (if still `trigger_at_us`).
  void clear_trigger(const std::string& name, int64_t trigger_at_us);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace taskrt

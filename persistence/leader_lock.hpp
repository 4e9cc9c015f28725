#pragma once
/// Leadership of a journal: one active head per database (per schema, so test
/// schemas in one database do not collide). The active head holds a Postgres
/// advisory lock on a connection of its own; Postgres drops the session, and
/// with it the lock, the moment that process dies (kill -9 closes its socket)
/// or, after the server-side TCP keepalives give up, when its host is gone.
///
/// ```
///   standby ──pg_advisory_lock granted──► active ──connection lost / lock gone──► (step down)
///     (waits in Postgres' lock queue,       │
///      "taskrt-standby ADDR")               └── "taskrt-head ADDR"
/// ```
/// A head that stops talking while its connection stays up (SIGSTOP, a hung
/// process) keeps its lock; a standby sees that in silent_s and ends its
/// session (end_session) to take over.
/// Who is who is readable by any process from pg_locks joined with
/// pg_stat_activity: sessions(dsn). The application name of each session is
/// "taskrt-head HOST:PORT" (active) or "taskrt-standby HOST:PORT" (waiting).
///
/// SQL used: pg_try_advisory_lock(k1, k2), pg_advisory_lock(k1, k2) with
/// k1 = 1953654130 and k2 = hashtext(current_schema()); set_config for
/// application_name; pg_locks, pg_stat_activity. No table of its own.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace taskrt {

/// A head process seen in Postgres: holding (active) or waiting for the lock.
struct head_session {
  std::string role;    ///< "active" or "standby"
  std::string address; ///< HOST:PORT from the session's application name
  int32_t backend_pid = 0;
  std::string since;   ///< when the session started (RFC 3339, UTC)
  /// Seconds since the session last sent a statement. The active head checks
  /// its lock every 200 ms on this session, so a large value means the head
  /// is paused, hung or cut off from Postgres (see end_session).
  double silent_s = 0;
};

/// The leadership lock of the journal at one DSN, on a dedicated connection.
class leader_lock {
public:
  /// Connects as "taskrt-standby ADDRESS" with TCP keepalives on both sides.
  /// Throws store_error (transient when the server cannot be reached).
  leader_lock(const std::string& dsn, const std::string& address);
  ~leader_lock();

  leader_lock(const leader_lock&) = delete;
  leader_lock& operator=(const leader_lock&) = delete;

  /// Takes the lock if it is free; true when this session now holds it (its
  /// application name becomes "taskrt-head ADDRESS").
  bool try_acquire();

  /// Waits in Postgres' queue until the lock is granted (true), or the
  /// connection breaks (throws store_error).
  bool acquire();

  /// A cheap check that the connection is alive and still holds the lock.
  /// False on any error: the caller can no longer prove it leads.
  bool held();

  /// Why held() last returned false (empty otherwise).
  const std::string& last_error() const;

  /// Renames the session after the address became known (a port picked at
  /// publish time). Throws store_error.
  void set_address(const std::string& address);

  /// HOST:PORT of the active head (from its session), empty when none holds it.
  std::string holder();

  /// Every head session of the journal at `dsn`: the active one first, then
  /// the standbys in queue order. Throws store_error.
  static std::vector<head_session> sessions(const std::string& dsn);

  /// Ends the head session with backend `pid` (pg_terminate_backend), which
  /// releases its lock: a standby takes over a head that is silent (paused
  /// or hung) though its connection is alive. Such a head, if it wakes, finds
  /// its lock gone and its journal writes fenced. True when it was ended.
  /// Throws store_error.
  static bool end_session(const std::string& dsn, int32_t pid);

  /// `dsn` with client-side keepalives and a TCP user timeout added, so a
  /// vanished server is noticed in seconds rather than minutes.
  static std::string with_keepalives(const std::string& dsn);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace taskrt

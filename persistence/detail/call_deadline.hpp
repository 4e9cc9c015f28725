#pragma once
/// Client-side deadlines of libpq calls (private to taskrt_persistence).
///
/// A Postgres that is stopped (SIGSTOP, a frozen VM, a storage stall, a
/// black-holed network) enforces no server-side timeout, and on loopback or
/// a live link the kernel keeps acknowledging what libpq sends, so neither
/// statement_timeout, TCP keepalives nor tcp_user_timeout end the wait. One
/// watchdog thread per process (monotonic clock) holds the deadline of every
/// call in flight; when one passes, it shuts the call's socket down
/// (shutdown(fd, SHUT_RDWR)). The blocked libpq call then returns at once
/// with a broken connection (pqxx::broken_connection, or pqxx::in_doubt_error
/// when it was waiting for the answer to COMMIT), which the store reports as
/// an outage-class store_error like any lost connection.
///
///   call_deadline d{PQsocket(conn), 1500ms};   // armed
///   ... blocking libpq calls ...
///   d.fired();                                  // true: the watchdog cut it
///                                               // (disarmed when destroyed)

#include <chrono>
#include <cstdint>

namespace taskrt::detail {

/// One armed deadline on socket `fd`, disarmed when destroyed. The socket
/// must stay open while the deadline is armed (the store closes a connection
/// only after the call returned).
class call_deadline {
public:
  /// Arms a deadline `limit` from now on `fd`; a limit <= 0 or fd < 0 arms
  /// nothing.
  call_deadline(int fd, std::chrono::milliseconds limit);
  ~call_deadline();

  call_deadline(const call_deadline&) = delete;
  call_deadline& operator=(const call_deadline&) = delete;

  /// True when the deadline passed and the watchdog shut the socket down.
  bool fired() const;

  /// The limit, counted from when it was armed.
  std::chrono::milliseconds limit() const { return limit_; }

  /// Moves the deadline to `limit` from when it was armed (a call that
  /// learns, part way, that it is long by design); nothing when unarmed or
  /// already fired.
  void extend_to(std::chrono::milliseconds limit);

private:
  uint64_t token_ = 0;
  std::chrono::milliseconds limit_;
  std::chrono::steady_clock::time_point armed_at_;
};

} // namespace taskrt::detail

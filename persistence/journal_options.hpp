#pragma once
/// Connection settings of the journal store.

#include "taskrt/runtime/fault.hpp"

namespace taskrt {

/// Timeouts the journal store sets on every connection so that a Postgres
/// that crashed, hangs or sits behind a dead link is noticed in seconds
/// instead of at the kernel's TCP timeout (minutes). A setting the DSN gives
/// itself (e.g. `?connect_timeout=2`, or `options=-c statement_timeout=0`)
/// wins over the libpq ones. 0 leaves the libpq / server default.
///
/// The call deadlines are the client side's own (a watchdog thread on the
/// monotonic clock shuts the socket of an overrunning call down; see
/// persistence/detail/call_deadline.hpp): they hold when the server is
/// stopped and enforces nothing, and when the kernel still acknowledges what
/// is sent (so keepalives and tcp_user_timeout never fire). connect_timeout
/// is enforced by libpq on the client too.
struct journal_options {
  int connect_timeout_s = 3;        ///< libpq connect_timeout (libpq's minimum is 2)
  int keepalives_idle_s = 10;       ///< libpq keepalives_idle
  int keepalives_interval_s = 3;    ///< libpq keepalives_interval
  int keepalives_count = 3;         ///< libpq keepalives_count
  int tcp_user_timeout_ms = 15'000; ///< libpq tcp_user_timeout
  int statement_timeout_ms = 60'000; ///< SET statement_timeout (none for migrations,
                                     ///< recovery loads and purges)
  /// SET LOCAL idle_in_transaction_session_timeout in each fenced write
  /// transaction: a head paused (SIGSTOP), hung or starved inside one holds
  /// the head generation row FOR SHARE, and the head taking over waits for
  /// it in next_head_generation. Postgres ends such a session after this
  /// long, which releases its locks (its commit fails: in doubt, resolved
  /// from the commit log). A running head sends a transaction's statements
  /// back to back; this bounds only a process that stopped inside one.
  int idle_in_transaction_timeout_ms = 2'000;
  /// Client-side deadline of every call (a commit, a read, a ping), from its
  /// first byte sent to its last byte read; 0: none.
  int call_deadline_ms = 1'500;
  /// Client-side deadline of the calls that are long by design: migrations,
  /// recovery loads, purges, partition upkeep and retention; 0: none.
  int long_call_deadline_ms = 600'000;
  /// A fault point of the tests (runtime/fault.hpp; none in a build without
  /// fault hooks): stop_in_commit.
  fault_point fault = fault_point::none;
};

} // namespace taskrt

#pragma once
/// Connection settings of the journal store.

namespace taskrt {

/// Timeouts the journal store sets on every connection so that a Postgres
/// that crashed, hangs or sits behind a dead link is noticed in seconds
/// instead of at the kernel's TCP timeout (minutes). A setting the DSN gives
/// itself (e.g. `?connect_timeout=2`, or `options=-c statement_timeout=0`)
/// wins over these. 0 leaves the libpq / server default.
struct journal_options {
  int connect_timeout_s = 10;       ///< libpq connect_timeout
  int keepalives_idle_s = 10;       ///< libpq keepalives_idle
  int keepalives_interval_s = 3;    ///< libpq keepalives_interval
  int keepalives_count = 3;         ///< libpq keepalives_count
  int tcp_user_timeout_ms = 15'000; ///< libpq tcp_user_timeout
  int statement_timeout_ms = 60'000; ///< SET statement_timeout (none for migrations,
                                     ///< recovery loads and purges)
};

} // namespace taskrt

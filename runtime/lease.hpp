#pragma once
/// Attempt leases with a time bound: the arithmetic both ends use, and the
/// decision of a worker process's watchdog. Pure functions of the monotonic
/// clock (CLOCK_MONOTONIC, nanoseconds); no wall clock anywhere.
///
/// Every attempt on a node runs under that node's lease. The head grants it
/// for `lease` on each heartbeat (and at registration); the node forwards the
/// end of its lease down every worker pipe, and each worker process fences
/// itself (kills itself, with the task it runs) when its lease has not been
/// renewed:
/// ```
///   node      sends heartbeat at s ─────────────► head grants at g ≥ s
///   node      lease ends at  s + lease            (node's clock)
///   worker    exits at       s + lease - margin   (same host, same clock)
///   head      a lock the attempt held is free at  g + lease + margin (head's clock)
/// ```
/// So the worker is gone 2·margin before the head hands its lock on, as
/// long as the clocks' rates differ from real time by less than
/// max_drift_rate() (see docs/reliability.md).

#include <cstdint>

namespace taskrt::lease {

/// Exit code of a worker process that fenced itself (its lease ran out).
inline constexpr int fenced_exit_code = 75;

/// CLOCK_MONOTONIC now, in nanoseconds.
int64_t mono_ns();

/// The terms the head grants: how long a lease lasts and the safety margin
/// (the worker fences itself `margin` early, the head waits `margin` late).
struct terms {
  int64_t lease_ns = 10'000'000'000;
  int64_t margin_ns = 1'000'000'000;
};

/// The terms for `lease_s` and `margin_s` seconds.
terms terms_of(double lease_s, double margin_s);

/// Why `lease_s` and `margin_s` cannot be used (empty: they can): the lease
/// at least 3 s (three heartbeats), the margin above 0 and at most a quarter
/// of the lease.
const char* check_terms(double lease_s, double margin_s);

/// The end of a node's lease renewed by a heartbeat (or registration) the
/// node sent at `sent_ns` (its monotonic clock): the node counts from when
/// it asked, never from when the answer came.
int64_t node_lease_end(int64_t sent_ns, const terms& t);

/// When a worker process whose lease ends at `lease_end_ns` kills itself.
int64_t fence_at(int64_t lease_end_ns, const terms& t);

/// The head's side: a lease it granted at `granted_ns` (its monotonic
/// clock) is over for sure, and what it guarded may be handed on, at this
/// instant.
int64_t head_expiry(int64_t granted_ns, const terms& t);

/// The largest relative clock-rate error (each clock against real time) for
/// which a worker that takes up to `kill_latency_ns` to go after its fence
/// instant is gone before the head's expiry: the ρ that solves
/// (lease - margin)/(1 - ρ) + kill_latency = (lease + margin)/(1 + ρ).
double max_drift_rate(const terms& t, int64_t kill_latency_ns);

/// The watchdog of a worker process: the lease it holds (the latest end a
/// renewal named) and what to do at a given instant.
class watchdog {
public:
  /// A renewal: the lease now ends at `lease_end_ns` with `margin_ns` (an
  /// older renewal arriving late never shortens it). Arms the watchdog.
  void renew(int64_t lease_end_ns, int64_t margin_ns);

  /// True once a renewal arrived (before, nothing is enforced: a worker
  /// process started outside a node, as in tests of the worker alone).
  bool armed() const { return armed_; }

  /// When the process must be gone (armed only).
  int64_t fence_at() const { return lease_end_ns_ - margin_ns_; }

  /// What the watchdog does at `now_ns`.
  struct decision {
    bool fence = false;   ///< exit now
    int64_t wait_ns = 0;  ///< else: check again in at most this long
  };

  /// With `busy` (an attempt runs or is about to start): fence once the
  /// fence instant is reached; idle, never (an expired lease only matters
  /// to user code). `max_wait_ns` caps the wait (renewals also wake it).
  decision check(int64_t now_ns, bool busy, int64_t max_wait_ns = 100'000'000) const;

private:
  bool armed_ = false;
  int64_t lease_end_ns_ = 0;
  int64_t margin_ns_ = 0;
};

} // namespace taskrt::lease

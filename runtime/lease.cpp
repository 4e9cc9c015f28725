#include "taskrt/runtime/lease.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>

namespace taskrt::lease {

namespace {

/// `a + b`, saturated (a lease end never wraps around).
int64_t add_sat(int64_t a, int64_t b) {
  if (b > 0 && a > std::numeric_limits<int64_t>::max() - b)
    return std::numeric_limits<int64_t>::max();
  if (b < 0 && a < std::numeric_limits<int64_t>::min() - b)
    return std::numeric_limits<int64_t>::min();
  return a + b;
}

} // namespace

int64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

terms terms_of(double lease_s, double margin_s) {
  return {static_cast<int64_t>(std::llround(lease_s * 1e9)),
          static_cast<int64_t>(std::llround(margin_s * 1e9))};
}

const char* check_terms(double lease_s, double margin_s) {
  if (!std::isfinite(lease_s) || lease_s < 3 || lease_s > 3600)
    return "--lease: must be between 3 and 3600 seconds (it is renewed every second)";
  if (!std::isfinite(margin_s) || margin_s <= 0 || margin_s > lease_s / 4)
    return "--lease-margin: must be more than 0 and at most a quarter of --lease";
  return "";
}

int64_t node_lease_end(int64_t sent_ns, const terms& t) {
  return add_sat(sent_ns, t.lease_ns);
}

int64_t fence_at(int64_t lease_end_ns, const terms& t) {
  return add_sat(lease_end_ns, -t.margin_ns);
}

int64_t head_expiry(int64_t granted_ns, const terms& t) {
  return add_sat(add_sat(granted_ns, t.lease_ns), t.margin_ns);
}

double max_drift_rate(const terms& t, int64_t kill_latency_ns) {
  // (L - m)/(1 - r) + k <= (L + m)/(1 + r) holds at r = 0 when 2m > k and
  // fails as r grows: bisect on [0, 1).
  const double l = static_cast<double>(t.lease_ns), m = static_cast<double>(t.margin_ns),
               k = static_cast<double>(kill_latency_ns);
  auto safe = [&](double r) { return (l - m) / (1 - r) + k <= (l + m) / (1 + r); };
  if (!safe(0))
    return 0;
  double lo = 0, hi = 1;
  for (int i = 0; i < 60; ++i) {
    const double mid = (lo + hi) / 2;
    (safe(mid) ? lo : hi) = mid;
  }
  return lo;
}

void watchdog::renew(int64_t lease_end_ns, int64_t margin_ns) {
  if (!armed_ || lease_end_ns > lease_end_ns_)
    lease_end_ns_ = lease_end_ns;
  margin_ns_ = std::max<int64_t>(0, margin_ns);
  armed_ = true;
}

watchdog::decision watchdog::check(int64_t now_ns, bool busy, int64_t max_wait_ns) const {
  if (!armed_ || !busy)
    return {false, max_wait_ns};
  const auto at = fence_at();
  if (now_ns >= at)
    return {true, 0};
  return {false, std::min(max_wait_ns, at - now_ns)};
}

} // namespace taskrt::lease

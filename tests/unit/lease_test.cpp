/// Time-bound leases without processes: the deadline arithmetic of node,
/// worker and head (runtime/lease.hpp), the watchdog's decision, the drift
/// bound docs/reliability.md states, and the pipe's lease line.

#include "taskrt/runtime/lease.hpp"
#include "taskrt/runtime/worker_wire.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace taskrt;
using namespace taskrt::lease;

namespace {

constexpr int64_t s = 1'000'000'000;

} // namespace

TEST_CASE("lease arithmetic - the worker is gone 2 margins before the head hands the lock on",
          "[lease]") {
  const auto t = terms_of(10, 1);
  CHECK(t.lease_ns == 10 * s);
  CHECK(t.margin_ns == 1 * s);
  // The node asked at 100 s (its clock); the head answered at 100.3 s.
  const int64_t sent = 100 * s, granted = 100 * s + 300'000'000;
  const auto end = node_lease_end(sent, t);
  CHECK(end == 110 * s);       // counted from the asking, not the answer
  CHECK(fence_at(end, t) == 109 * s);
  CHECK(head_expiry(granted, t) == 111 * s + 300'000'000);
  CHECK(head_expiry(granted, t) - fence_at(end, t) >= 2 * t.margin_ns);
  // Never wraps around.
  CHECK(node_lease_end(std::numeric_limits<int64_t>::max() - 5, t)
        == std::numeric_limits<int64_t>::max());
  CHECK(head_expiry(std::numeric_limits<int64_t>::max(), t)
        == std::numeric_limits<int64_t>::max());
}

TEST_CASE("lease terms - lease 3..3600 s, margin above 0 and at most a quarter of it",
          "[lease]") {
  CHECK(std::string{check_terms(10, 1)}.empty());
  CHECK(std::string{check_terms(3, 0.75)}.empty());
  CHECK_FALSE(std::string{check_terms(2.9, 0.5)}.empty());
  CHECK_FALSE(std::string{check_terms(10, 0)}.empty());
  CHECK_FALSE(std::string{check_terms(10, 2.6)}.empty());
  CHECK_FALSE(std::string{check_terms(1e300, 1)}.empty());
  CHECK_FALSE(std::string{check_terms(10, std::numeric_limits<double>::quiet_NaN())}.empty());
}

TEST_CASE("lease drift bound - the rate error the defaults tolerate", "[lease]") {
  const auto t = terms_of(10, 1);
  const auto rho = max_drift_rate(t, 100'000'000); // the watchdog acts within 100 ms
  // (10 - 1)/(1 - r) + 0.1 = (10 + 1)/(1 + r): r ~ 0.0952
  CHECK(rho > 0.094);
  CHECK(rho < 0.096);
  // At that rate the worker's latest end meets the head's earliest expiry.
  const double worker = 9.0 / (1 - rho) + 0.1, head = 11.0 / (1 + rho);
  CHECK(worker == Approx(head).epsilon(1e-6));
  // A margin that does not cover the kill latency tolerates no drift.
  CHECK(max_drift_rate(terms_of(10, 0.01), 100'000'000) == 0);
  // A longer lease with the same margin tolerates less.
  CHECK(max_drift_rate(terms_of(60, 1), 100'000'000) < rho);
}

TEST_CASE("watchdog - unarmed or idle never fences, busy fences at end minus margin",
          "[lease]") {
  watchdog w;
  // No renewal yet: a worker process outside a node enforces nothing.
  CHECK_FALSE(w.armed());
  CHECK_FALSE(w.check(1'000 * s, true).fence);
  w.renew(110 * s, 1 * s);
  CHECK(w.armed());
  CHECK(w.fence_at() == 109 * s);
  // Busy before the fence instant: wait, at most the cap, at least until it.
  auto d = w.check(100 * s, true, 100'000'000);
  CHECK_FALSE(d.fence);
  CHECK(d.wait_ns == 100'000'000);
  d = w.check(109 * s - 30'000'000, true, 100'000'000);
  CHECK_FALSE(d.fence);
  CHECK(d.wait_ns == 30'000'000);
  // At and after it: fence.
  CHECK(w.check(109 * s, true).fence);
  CHECK(w.check(200 * s, true).fence);
  // Idle with an expired lease: nothing to stop (no user code runs).
  CHECK_FALSE(w.check(200 * s, false).fence);
}

TEST_CASE("watchdog - a late, older renewal never shortens the lease", "[lease]") {
  watchdog w;
  w.renew(120 * s, 1 * s);
  w.renew(110 * s, 1 * s); // sent earlier, arrived later
  CHECK(w.fence_at() == 119 * s);
  CHECK_FALSE(w.check(115 * s, true).fence);
  w.renew(130 * s, 1 * s);
  CHECK(w.fence_at() == 129 * s);
  CHECK(w.check(129 * s, true).fence);
}

TEST_CASE("monotonic clock - never goes back", "[lease]") {
  auto a = mono_ns();
  for (int i = 0; i < 1000; ++i) {
    const auto b = mono_ns();
    CHECK(b >= a);
    a = b;
  }
}

TEST_CASE("worker wire - the lease line round-trips and a malformed one is refused",
          "[lease][worker_wire]") {
  const auto line = wire::encode(wire::to_process{wire::lease_cmd{123456789012345, 1000}});
  REQUIRE(line.find('\n') == line.size() - 1);
  auto back = wire::decode_to_process(std::string_view{line}.substr(0, line.size() - 1));
  REQUIRE(back);
  auto* l = std::get_if<wire::lease_cmd>(&*back);
  REQUIRE(l);
  CHECK(l->end_ns == 123456789012345);
  CHECK(l->margin_ns == 1000);
  auto soon = wire::decode_to_process(R"({"op":"lease","end_ns":"soon"})");
  REQUIRE_FALSE(soon);
  CHECK_FALSE(error_message(soon.error()).empty());
  CHECK_FALSE(wire::decode_to_process(R"({"op":"lease"})"));
}

#pragma once
/// The bytes peers have announced on the cluster port and not yet sent: the
/// memory CAF's BASP sets aside for payloads before they arrive. The frame
/// guard (cluster/frame_guard.hpp) reserves a payload here when a header
/// announces it and releases it when the payload arrived or the connection
/// closed; a reservation over budget closes the connection instead.
///
/// Budgets (bytes in flight at once):
///   - a connection that has not completed the BASP handshake (no peer node
///     id yet): unregistered_each, and all of them together
///     unregistered_total;
///   - every connection together: total (at least one largest frame).
/// A plaintext port lets anyone connect, so the unregistered budgets bound
/// what strangers can make a process hold.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace taskrt {

/// The budgets of frame_budget.
struct frame_budget_limits {
  size_t unregistered_each = size_t{1} << 20;   ///< 1 MiB: handshakes are a few KiB
  size_t unregistered_total = size_t{32} << 20; ///< 32 MiB
  size_t total = size_t{256} << 20;             ///< 256 MiB
};

/// Why a reservation was refused (or that it was not).
enum class frame_budget_verdict : uint8_t {
  admitted,
  over_unregistered_each,
  over_unregistered_total,
  over_total,
};

/// What is reserved now.
struct frame_budget_usage {
  size_t total = 0;
  size_t unregistered = 0;
  size_t connections = 0; ///< connections with a reservation
};

/// The reservations by connection (thread-safe).
class frame_budget {
public:
  /// Budgets `l`.
  explicit frame_budget(frame_budget_limits l) : limits_(l) {}

  /// Reserves `bytes` for the payload announced on connection `conn`
  /// (replacing what it held: a connection awaits one payload at a time);
  /// `registered`: the connection completed the BASP handshake.
  frame_budget_verdict reserve(int64_t conn, size_t bytes, bool registered);

  /// The payload of `conn` arrived or `conn` closed: its bytes are free.
  void release(int64_t conn);

  /// What is reserved now.
  frame_budget_usage usage() const;

  /// The budgets.
  const frame_budget_limits& limits() const { return limits_; }

private:
  struct entry {
    size_t bytes = 0;
    bool registered = false;
  };
  void release_locked(int64_t conn);

  frame_budget_limits limits_;
  mutable std::mutex m_;
  std::unordered_map<int64_t, entry> by_conn_;
  size_t total_ = 0;
  size_t unregistered_ = 0;
};

/// A readable reason for a refusal ("" for admitted).
const char* to_string(frame_budget_verdict v);

} // namespace taskrt

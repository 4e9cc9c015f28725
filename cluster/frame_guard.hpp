#pragma once
/// The guard of the cluster port against frames CAF 0.17 would take as they
/// come. CAF's BASP reads a 40-byte header and then allocates whatever
/// payload length it announces (up to 4 GiB) before a byte of it arrives, and
/// it closes connections whose header is garbage without a word. The guard
/// wraps caf::io::basp::instance::handle (see frame_guard.cpp for how) so
/// that, in every taskrt process (head, worker node, client):
///   - a header announcing more than max_frame_bytes() closes the connection
///     before anything is allocated, and is logged with the peer's address;
///   - a connection CAF closes because what it sent is not BASP (garbage,
///     another protocol, a TLS client on a plaintext port) or comes from
///     another application or CAF version is logged the same way.
///   - the payloads announced and not yet received are bounded per
///     connection and in sum (cluster/frame_budget.hpp): 1 MiB per
///     connection and 32 MiB in all before a peer's BASP handshake, 256 MiB
///     (at least two largest frames) for all peers together; a connection
///     over budget is closed and logged with its address.
/// Log lines are rate-limited (a flood costs one summary line per minute).

#include <cstddef>
#include <cstdint>

namespace taskrt {

/// The largest BASP payload a peer may announce: 64 MiB plus twice the
/// process's max_json_bytes (runtime/limits.hpp), so any one message that
/// carries a value within the limits fits.
size_t max_frame_bytes();

/// Frames refused as too large, and connections CAF closed for what they
/// sent, in this process so far.
struct frame_guard_counts {
  uint64_t oversized = 0;
  uint64_t refused = 0;
  uint64_t over_budget = 0; ///< closed: the announced payload did not fit the budget
};
frame_guard_counts frame_guard_stats();

/// Checks that the guard is in place (the wrapped function resolved to
/// CAF's); false with a warning logged when it is not. configure_network()
/// calls it, which also links the guard into every taskrt program.
bool frame_guard_active();

} // namespace taskrt

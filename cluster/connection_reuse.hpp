#pragma once
/// The guard of the cluster port against CAF 0.17 cleaning up after a closed
/// connection on the connection that took its place.
///
/// CAF 0.17 names a connection by its socket's file descriptor. When a peer
/// closes, the BASP broker does not clean up at once: it queues the cleanup
/// behind the messages its BASP workers are still deserializing. Meanwhile
/// the kernel hands the same descriptor to the next accepted connection. The
/// queued cleanup then runs on that connection: it erases the new peer's
/// route and BASP state, kills its proxies (the head sees a live node go
/// DEAD), and the peer's next message arrives without a sender (its node is
/// unknown on that connection). A burst of registrations makes this likely:
/// every node first probes the port with a TCP connect and close
/// (cluster/tcp_probe.hpp), and its real connection gets the probe's
/// descriptor. The head then called monitor() on a null sender and died.
///
/// The guard wraps two CAF functions (ELF interposition, as
/// cluster/frame_guard.cpp does):
///   - doorman::new_connection: when the descriptor still carries state of
///     an earlier connection (a route or a BASP context), that connection's
///     cleanup runs now, before the new one starts;
///   - basp_broker::connection_cleanup (through frame_guard.cpp, which owns
///     that wrap): a queued cleanup for a descriptor that holds a live
///     connection again is superseded and skipped.

#include <cstdint>

namespace caf::io {
class basp_broker;
struct connection_handle;
} // namespace caf::io

namespace taskrt {

/// True when the cleanup `self` is about to run for `hdl` is the queued one
/// of a connection that closed, while `hdl` already names a newer live
/// connection: skip it (its state was cleaned when the newer one came).
bool superseded_cleanup(caf::io::basp_broker& self, const caf::io::connection_handle& hdl);

/// Cleanups skipped as superseded, and earlier connections' leftovers
/// cleaned when their descriptor was accepted again, in this process.
struct connection_reuse_counts {
  uint64_t superseded = 0;
  uint64_t cleaned_at_accept = 0;
};
connection_reuse_counts connection_reuse_stats();

/// Checks that the doorman wrap is in place; false with a warning logged
/// when it is not. configure_network() calls it.
bool connection_reuse_guard_active();

} // namespace taskrt

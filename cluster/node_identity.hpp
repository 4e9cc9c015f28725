#pragma once
/// A CAF node identity of this process's own. CAF 0.17 makes a node id from
/// the process id and a host id (a hash of the hardware addresses and the
/// root disk's uuid), so two processes that are both PID 1 in separate PID
/// namespaces sharing one network namespace and disk (two containers on one
/// host network) get the same id; the second then cannot reach the first (a
/// worker node retries "no_actor_published_at_port" forever). node_identity.cpp
/// wraps caf::detail::get_root_uuid (the same ELF interposition as
/// frame_guard.cpp) so that its answer carries 16 random bytes drawn once per
/// process: every process's host id, and so its node id, is its own.

namespace taskrt {

/// Checks that the wrap is in place (the wrapped function resolved to CAF's);
/// false with a warning logged when it is not. configure_network() calls it,
/// which also links the wrap into every taskrt program.
bool node_identity_active();

} // namespace taskrt

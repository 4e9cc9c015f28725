#pragma once
/// The client side of the head API: an actor in the client's own system
/// that speaks `head_actor` and coalesces per-task requests on their way to
/// the head, so that one request per task costs about what a batch does.
///
///   - `submit` of one spec: held while the previous coalesced submits are
///     unanswered (at most `max_inflight` batches on the wire) and sent with
///     the ones queued behind it as one `submit, each` request (at most
///     `max_count` specs or `max_bytes` of spec text). Nothing waits on a
///     timer: an idle client sends at once, a busy one sends what gathered
///     meanwhile. Batches go out in order and the head commits them in
///     order, so one client's submits keep their order. Each requester is
///     answered after the commit that holds its task, with its own id or
///     its own refusal.
///   - `await` of one id: gathered the same way into `watch` requests; the
///     head pushes outcomes back in batches as tasks end (cluster protocol:
///     runtime/protocol.hpp), so a quick task is never held behind a slow one.
///   - everything else (batches, cancel, status, ...) is passed on as it is,
///     after the held submits.
/// When the head is lost the coalescer answers everything pending with the
/// reason and quits (monitor it to see that).

#include "taskrt/runtime/protocol.hpp"

#include <cstddef>

namespace taskrt {

/// Bounds of the client-side coalescing.
struct coalescer_options {
  size_t max_count = 1000;        ///< specs (or ids) per request
  size_t max_bytes = 1 << 20;     ///< spec text per request
  size_t max_inflight = 4;        ///< coalesced submit requests unanswered
};

/// Spawns a coalescer in front of `head` (a remote or local head).
head_actor spawn_head_coalescer(caf::actor_system& sys, head_actor head,
                                coalescer_options opts = {});

} // namespace taskrt

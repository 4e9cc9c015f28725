#pragma once
/// The persistence actor: the only writer to Postgres. It runs detached (its
/// calls block) and turns the requests that queue up in its mailbox while a
/// commit is in flight into the next single transaction (group commit, at
/// most persistence_options::max_batch_items items each; while busy, a
/// commit waits until persistence_options::linger after the one before).
/// Every request is answered only after its transaction committed.
///
/// Messages:
///   journal_store::batch       → batch_result (after its commit), or
///                                errc::bad_request "journal rejected: ..."
///                                (its data was refused; nothing of it written), or
///                                errc::unavailable "journal unavailable: ..."
///                                (only a batch of submits only, while down)
///   (get_atom, int64_t id)     → vector<task_record> (0 or 1 rows);
///                                errc::unavailable while down
///   (load_atom)                → recovery_data (waits until Postgres answers)
///   (load_atom, int32_t n, int64_t h) → recovery_data with a window of n due
///                                QUEUED tasks per queue and the scheduled ones
///                                up to h (journal_store::load_windowed)
///   (later_atom, int64_t a, int64_t b) → window_rows: QUEUED tasks scheduled
///                                in (a, b] (journal_store::queued_between),
///                                once every write sent before it committed
///   (window_atom, window_query) → window_rows: a queue's window refilled
///                                (journal_store::queued_after) once every
///                                write sent before it committed
///   node_row, vector<node_row> → (nothing; the rows are upserted with the
///                                next commit, the last row of an id wins)
///   (prune_atom, int64_t us)   → int64_t: DEAD/LEFT nodes older than `us` pruned
///   (journal_atom, actor sub)  → subscribes `sub` to journal state changes:
///                                it gets (journal_atom, bool up, string reason)
///                                now and at every change
///   (flush_atom) and two private atoms → internal (commit, retry, health ping)
///
/// Outages (the journal's state machine):
///
///        commit/read/ping fails (outage class)
///   UP ───────────────────────────────────────▶ DOWN
///    ▲   refuse submit-only batches (also those  │ retry with backoff
///    │   of the failed unit unless it failed in  │
///    │   doubt), keep the rest in order          │
///    │   batches, reads answer unavailable       │ (100 ms doubling to 5 s):
///    └───────────────────────────────────────────┘ commit the oldest unit,
///        a store call succeeds: notify, drain        or ping when idle
///
/// A Postgres that hangs (stopped, frozen, black-holed) is an outage too:
/// every store call has a client-side deadline (journal_options::
/// call_deadline_ms, 1.5 s), past which it fails as a lost connection, so a
/// submit is refused within about that long instead of waiting for Postgres.
///
/// A data error (SQLSTATE classes 22, 23, 54) is never an outage: the group
/// is split into its requests, committed one by one, and only the request
/// that Postgres refuses gets the error. Serialization failures and
/// deadlocks are retried at once (5 times, then they count as an outage).
/// A commit whose outcome is unknown is retried under the same commit id,
/// which journal_store::commit resolves from its commit log.
///
/// Submit lane (persistence_options::open_submit_lane): once the first load
/// was served, batches of submits only are handed (by a front actor that
/// never blocks) to a second writer on a connection of its own, so a submit
/// commits beside the
/// transitions instead of waiting behind them (enqueue→start is one short
/// commit). It is safe because no transition can name a task whose submit
/// has not committed (its id comes from that commit), and an empty batch
/// (the drain's barrier) waits for the lane too. The journal state the
/// subscribers see is both connections': down when either is.

#include "taskrt/actors/local_messages.hpp"
#include "taskrt/persistence/journal_ports.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace taskrt {

/// Tunables of the persistence actor.
struct persistence_options {
  /// Items (submits + transitions + notes + checkpoints) per transaction; a
  /// larger single request still commits whole.
  size_t max_batch_items = 1000;
  /// A busy writer (its last commit ended less than this ago) waits until
  /// this much has passed since that commit before the next one, unless
  /// linger_items items wait already: at saturation each commit carries
  /// more (docs/performance.md: the drain at 0.04-0.05 commits per task
  /// instead of 0.08-0.14, Postgres CPU per task about a sixth lower), for
  /// at most this much more latency while busy. An idle writer commits at
  /// once, and the submit lane never waits. 0: commit at once, always.
  std::chrono::microseconds linger{3000};
  /// See linger.
  size_t linger_items = 256;
  /// Longest wait between two retries while Postgres is down.
  std::chrono::milliseconds max_backoff{5000};
  /// An idle head pings Postgres this often to notice an outage.
  std::chrono::milliseconds health_interval{3000};
  /// Opens the connection of the submit lane (see above); empty: one
  /// connection for everything. Called once, after the first load; a lane
  /// that cannot be opened then is logged and not used.
  std::function<std::shared_ptr<transition_store_interface>()> open_submit_lane;
  /// The writers run detached (their store calls block). Off only for
  /// deterministic tests on CAF's test coordinator with a store that never
  /// blocks (memory_journal).
  bool detached = true;
};

/// Spawns the persistence actor on `journal` (already migrated): commits and
/// loads through `journal.transitions`, node rows through `journal.nodes`,
/// single-task reads through `journal.reads`.
caf::actor spawn_persistence(caf::actor_system& sys, journal_ports journal,
                             persistence_options opts = {});

/// Spawns the persistence actor on `store` (already migrated).
inline caf::actor spawn_persistence(caf::actor_system& sys,
                                    std::shared_ptr<journal_store> store,
                                    persistence_options opts = {}) {
  return spawn_persistence(sys, journal_ports::of(std::move(store)), std::move(opts));
}

} // namespace taskrt

#pragma once
/// The schedule actor of the active head: fires the ticks of periodic
/// schedules (persistence/schedule_store.hpp) as tasks.
///
/// Each tick is one task submitted to the head with the idempotency key
/// schedule:NAME:TICK (RFC 3339 UTC), so a tick fires once across a kill -9,
/// a takeover or two heads racing: a second submit of the key creates
/// nothing. A tick is decided (fired, caught_up, skipped with a reason) in
/// schedule_events, and the schedule's next_tick moves past it in the same
/// transaction, after the submit was acknowledged; a tick found with a task
/// already (a head that died in between) is recorded as fired.
///
/// Missed ticks: those that came due while no head was active (found at
/// start) or while the schedule was paused (found at resume), and those the
/// head could not fire for over 60 s (the journal unavailable). They follow
/// the schedule's `missed`: skip fires none; latest fires only the most
/// recent; all fires each one within the catch-up window. Overlap: allow;
/// skip (the previous tick's task is not final: skipped); buffer-one (the
/// ticks' tasks share the lock schedule:NAME, so one runs and at most one
/// waits; a tick that would be a second waiting one is skipped).
///
/// It is a detached actor (its Postgres calls block only its own thread):
/// it waits on LISTEN taskrt_schedules until the next tick is due, so a
/// change made with the CLI wakes it at once, and nothing polls Postgres. It
/// wakes at least every 500 ms to see an exit message (no query then).

#include "taskrt/persistence/schedule_store.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <string>
#include <vector>

namespace taskrt {

/// How the schedule actor works.
struct schedule_actor_config {
  std::string dsn;                     ///< the journal
  caf::actor head;                     ///< where ticks are submitted (the scheduler)
  std::vector<schedule_row> declared;  ///< upserted at start
};

/// Spawns the schedule actor of the active head.
caf::actor spawn_schedule_actor(caf::actor_system& sys, const schedule_actor_config& cfg);

} // namespace taskrt

#pragma once
/// The retry actor: evaluates a task's retry policy on every FAILED or LOST
/// attempt, journals the decision with its inputs (a "retry_decision" event),
/// and answers the scheduler with the decision.
///
/// Messages: retry_request → retry_decision (after the decision is journaled).

#include "actors/local_messages.hpp"

namespace taskrt {

/// Spawns the retry actor; `strategies` must outlive it.
caf::actor spawn_retry_actor(caf::actor_system& sys, caf::actor persistence,
                             const strategy_registry* strategies);

} // namespace taskrt

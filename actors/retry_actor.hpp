#pragma once
/// The retry actor: evaluates a task's retry policy on every FAILED or LOST
/// attempt and answers the scheduler with the decision. It writes nothing:
/// the scheduler journals the end of the attempt, the decision with its
/// inputs and the re-queue (or the final state) in one transaction, so a head
/// that dies in between leaves no task half-decided.
///
/// Messages: retry_request → retry_decision. Custom strategies are user code:
/// they run here, off the scheduler.

#include "taskrt/actors/local_messages.hpp"

namespace taskrt {

/// Spawns the retry actor; `strategies` must outlive it.
caf::actor spawn_retry_actor(caf::actor_system& sys, const strategy_registry* strategies);

/// What the journal keeps of a decision: the decision itself plus every
/// input it depended on ("inputs").
nlohmann::json decision_detail(const retry_request& req, const retry_decision& d);

} // namespace taskrt

#pragma once
/// An example custom retry strategy, registered in the taskrt binary:
///   "escalate": retries after 1 s, 2 s, 4 s, ...; from the second failure on
///   it moves the task to queue "slow" with priority -1; declines after 5
///   failures.

#include "taskrt/runtime/retry_policy.hpp"

namespace taskrt {

/// Registers the example strategies on `registry`.
void register_example_strategies(strategy_registry& registry);

} // namespace taskrt

#include "taskrt/examples/strategies.hpp"

#include <cmath>

namespace taskrt {

void register_example_strategies(strategy_registry& registry) {
  registry.add("escalate",
               [](const failure_input& in, const retry_policy&)
                 -> std::optional<strategy_decision> {
                 const int32_t n = in.budget_attempt();
                 if (n >= 5)
                   return std::nullopt;
                 strategy_decision d;
                 d.retry_in = std::ldexp(1.0, n - 1);
                 if (n >= 2) {
                   d.queue = "slow";
                   d.priority = -1;
                 }
                 return d;
               });
}

} // namespace taskrt

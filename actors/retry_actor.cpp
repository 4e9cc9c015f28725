#include "taskrt/actors/retry_actor.hpp"

namespace taskrt {

nlohmann::json decision_detail(const retry_request& req, const retry_decision& d) {
  const auto& in = req.input;
  auto detail = d.to_json();
  detail["inputs"] = {{"attempt", in.attempt},
                      {"budget_attempt", in.budget_attempt()},
                      {"retry_base", in.retry_base},
                      {"error_kind", in.error.kind},
                      {"error_ancestors", in.error.ancestors},
                      {"failed_at", to_rfc3339(in.failed_at)},
                      {"priority", in.priority},
                      {"queue", in.queue},
                      {"policy", req.policy.to_json()}};
  return detail;
}

caf::actor spawn_retry_actor(caf::actor_system& sys, const strategy_registry* strategies) {
  return sys.spawn([strategies](caf::event_based_actor*) -> caf::behavior {
    return {
      [=](retry_request& req) -> retry_decision {
        return decide_retry(req.policy, req.input, *strategies);
      },
    };
  });
}

} // namespace taskrt

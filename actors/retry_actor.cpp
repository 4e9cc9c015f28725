#include "actors/retry_actor.hpp"

namespace taskrt {

namespace {

nlohmann::json inputs_of(const retry_request& req) {
  const auto& in = req.input;
  return {{"attempt", in.attempt},
          {"budget_attempt", in.budget_attempt()},
          {"retry_base", in.retry_base},
          {"error_kind", in.error.kind},
          {"error_ancestors", in.error.ancestors},
          {"failed_at", to_rfc3339(in.failed_at)},
          {"priority", in.priority},
          {"queue", in.queue},
          {"policy", req.policy.to_json()}};
}

} // namespace

caf::actor spawn_retry_actor(caf::actor_system& sys, caf::actor persistence,
                             const strategy_registry* strategies) {
  return sys.spawn([persistence, strategies](caf::event_based_actor* self)
                     -> caf::behavior {
    return {
      [=](retry_request& req) -> caf::result<retry_decision> {
        auto decision = decide_retry(req.policy, req.input, *strategies);
        auto detail = decision.to_json();
        detail["inputs"] = inputs_of(req);
        journal_store::batch b;
        b.notes.push_back({req.input.task_id, req.input.attempt,
                           "retry_decision", std::move(detail),
                           to_micros(now()), ""});
        auto rp = self->make_response_promise<retry_decision>();
        self->request(persistence, caf::infinite, std::move(b))
          .then([rp, decision](journal_store::batch_result&) mutable {
            rp.deliver(decision);
          });
        return rp;
      },
    };
  });
}

} // namespace taskrt

#include "taskrt/actors/scheduler.hpp"

#include "taskrt/actors/scheduler_state.hpp"

namespace taskrt {

using namespace scheduler_detail;

caf::actor spawn_scheduler(caf::actor_system& sys, scheduler_config cfg) {
  return sys.spawn([cfg](scheduler_actor_t* self) -> caf::behavior {
    auto& st = self->state;
    st.cfg = cfg;
    st.window = sched::queue_window(static_cast<size_t>(std::max(cfg.queue_window, 2)));
    st.started_us = to_micros(now());
    st.leases.set_grant_floor(lease::mono_ns()); // an earlier head's grants end after this
    st.nodes = sched::node_registry(cfg.node_id, cfg.local_slots, cfg.registry->names(),
                                    st.started_us);
    st.slots.set_node_open(cfg.node_id, true);
    self->send(cfg.persistence, journal_atom::value, caf::actor_cast<caf::actor>(self));
    self->set_down_handler([self](caf::down_msg& d) { on_down(self, d); });
    recover(self);
    self->delayed_send(self, check_interval(self->state.cfg), tick_atom::value);
    return {
      [self](submit_atom, task_spec& spec) { return on_submit(self, spec); },
      [self](submit_atom, std::vector<task_spec>& specs) { return on_submit_many(self, specs); },
      [self](submit_atom, each_atom, std::vector<task_spec>& specs) {
        return on_submit_each(self, specs);
      },
      [self](await_atom, int64_t id) { return on_await(self, id); },
      [self](await_atom, std::vector<int64_t>& ids) { return on_await_many(self, ids); },
      [self](watch_atom, std::vector<int64_t>& ids) { on_watch(self, ids); },
      [self](watch_atom) { flush_watchers(self); },
      [self](cancel_atom, int64_t id, const std::string& origin) {
        return on_cancel(self, id, origin);
      },
      [self](mretry_atom, manual_retry_msg& m) { return on_manual_retry(self, m); },
      [self](status_atom) { return on_status(self->state); },
      [self](stop_atom) { on_stop(self); },
      [self](stop_atom, bool) { on_stop_grace(self); },
      [self](journal_atom, bool up, const std::string& reason) {
        on_journal_state(self, up, reason);
      },
      [self](ready_atom, worker_info& info, caf::actor& w) { on_ready(self, info, w); },
      [self](unready_atom, const worker_info&, const caf::actor& w) {
        on_unready(self->state, w);
      },
      [self](attempt_done_msg& msg) { on_attempt_done(self, msg); },
      [self](event_atom, attempt_event_msg& ev) { on_event(self, ev); },
      [self](node_report_msg& report) { on_node_report(self, report); },
      [self](register_atom, node_info& info, std::vector<running_attempt>& running) {
        return on_register_request(self, info, running);
      },
      [self](heartbeat_atom, const std::string& node) {
        return on_heartbeat(self, node);
      },
      [self](drain_atom, const std::string& node) {
        on_node_leaving(self, node, sched::node_state::draining);
      },
      [self](leave_atom, const std::string& node) {
        on_node_leaving(self, node, sched::node_state::left);
      },
      [self](nodes_atom) { return node_views(self->state); },
      [self](tick_atom) {
        check_nodes(self);
        publish_limit_metrics(self->state);
        advance_horizon(self);
        write_progress(self);
        try_dispatch(self);
        self->delayed_send(self, check_interval(self->state.cfg), tick_atom::value);
      },
      [self](tick_atom, int64_t due_us) { on_due_timer(self, due_us); },
      [self](limits_atom, const std::vector<limit_row>& rows) { on_limits(self, rows); },
    };
  });
}

} // namespace taskrt

/// Recovery from the journal before serving, and the drain at stop.

#include "taskrt/actors/scheduler_state.hpp"

namespace taskrt::scheduler_detail {

void recover(scheduler_actor_t* self) {
  auto& st = self->state;
  const auto horizon_us
    = to_micros(now()) + static_cast<int64_t>(st.cfg.schedule_horizon_s * 1e6);
  self->request(st.cfg.persistence, caf::infinite, load_atom::value, st.cfg.queue_window,
                horizon_us)
    .then([self](recovery_data& data) {
      auto& st = self->state;
      // A journal without a horizon (data.horizon_us 0) gave every task.
      st.loaded_until_us = data.horizon_us > 0 ? data.horizon_us
                                               : std::numeric_limits<int64_t>::max() / 2;
      st.later_outside = data.later;
      st.waiting = data.waiting;
      metrics::set_waiting(st.waiting);
      st.leases.set_generation(data.generation);
      st.max_acked_id = std::max(st.max_acked_id, data.max_id);
      size_t queued = 0, lost = 0;
      std::vector<int64_t> cancelled, undecided;
      std::map<std::string, std::vector<sched::ready_key>> windows; // due ones, per queue
      const auto t_us = to_micros(now());
      for (auto& rec : data.tasks) {
        auto& t = hold_row(st, std::move(rec), data.checkpoints);
        if (t.rec.state == task_state::queued && t.cancel_requested) {
          cancelled.push_back(t.rec.id); // handed back while a cancel was pending
        } else if (t.rec.state == task_state::queued) {
          push_ready(st, t, t_us);
          if (t.rec.run_at_us <= t_us)
            windows[t.rec.queue].push_back(key_of(t.rec));
          ++queued;
        } else if (t.rec.state == task_state::failed || t.rec.state == task_state::lost) {
          undecided.push_back(t.rec.id);
        }
      }
      // Each queue's window; a full one means more wait in the journal.
      for (auto& [q, keys] : windows) {
        auto d = data.due.find(q);
        st.window.recovered(q, keys,
                            d == data.due.end() ? static_cast<int64_t>(keys.size()) : d->second);
      }
      for (auto id : cancelled)
        cancel_queued(self, st.tasks.at(id), "recovery: a cancel was requested before the restart",
                      nullptr);
      for (auto id : undecided)
        redecide(self, st.tasks.at(id));
      // RUNNING attempts: those of the head's own workers died with it;
      // those of worker nodes wait for their node to re-register.
      const auto deadline = to_micros(add_seconds_clamped(now(), st.cfg.adopt_grace_s));
      for (auto& kv : st.tasks) {
        auto& t = kv.second;
        if (t.rec.state != task_state::running)
          continue;
        st.leases.add({t.rec.id, t.rec.attempt, t.rec.lease_epoch, t.rec.node, 0, true});
        if (!t.rec.limit_keys.empty()) // counts against its keys' concurrency
          st.gate.adopt_running(t.rec.id, t.rec.limit_keys);
        if (!t.rec.lock.empty())
          st.queue.hold(t.rec.lock);
        if (!t.rec.node.empty() && t.rec.node != st.cfg.node_id) {
          st.orphans[t.rec.id] = deadline;
          continue;
        }
        ++lost;
        // The previous head's own workers may run on (it is paused, not
        // dead): their lock waits for the lease they had to be over.
        fence_lost_attempt(st, t);
        json err = {{"kind", lost_kind},
                    {"ancestors", json::array()},
                    {"message", "the head restarted; the attempt's worker is gone"}};
        end_attempt(self, t, task_state::lost, "", err.dump(),
                    {{"reason", "head restarted"}, {"node", t.rec.node}});
      }
      // Nodes known from before the restart: SUSPECT until they re-register,
      // DEAD if they do not within the adoption grace.
      for (auto& row : data.nodes) {
        const auto state = sched::parse_node_state(row.state);
        if (!state) {
          spdlog::warn("node {}: unknown state '{}' in the journal; taken as DEAD", row.id,
                       row.state);
        }
        if (!st.nodes.restore(row.id, row.address, row.slots, row.started_us,
                              state.value_or(sched::node_state::dead), to_micros(now())))
          continue;
        if (state == sched::node_state::alive || state == sched::node_state::suspect
            || state == sched::node_state::draining)
          set_node_state(self, row.id, sched::node_state::suspect);
      }
      set_node_state(self, st.cfg.node_id, sched::node_state::alive);
      st.recovered = true;
      spdlog::info("scheduler recovered generation={} queued={} (held; {} more in the journal,"
                   " {} of them scheduled past the horizon) lost={} undecided={}"
                   " awaiting_adoption={}",
                   st.leases.generation(), queued,
                   st.window.outside_total() + st.later_outside, st.later_outside, lost,
                   undecided.size(), st.orphans.size());
      auto pending = std::move(st.after_recovery);
      st.after_recovery.clear();
      for (auto& f : pending)
        f();
      try_dispatch(self);
    });
}

void finish_drain(scheduler_actor_t* self) {
  auto& st = self->state;
  if (st.finished)
    return;
  st.finished = true;
  for (auto& w : st.local_workers)
    self->send_exit(w, caf::exit_reason::user_shutdown);
  // The head's own row: a clean stop leaves (not ALIVE until the next start).
  set_node_state(self, st.cfg.node_id, sched::node_state::left);
  // An empty batch commits after everything sent before it.
  journal(self, journal_store::batch{}, [self](journal_store::batch_result&) {
    spdlog::info("scheduler drained; journal flushed");
    self->quit();
  });
}

void on_stop(scheduler_actor_t* self) {
  auto& st = self->state;
  if (st.draining)
    return;
  st.draining = true;
  spdlog::info("scheduler draining running={} grace_s={}", local_running(st),
               st.cfg.drain_grace_s);
  if (local_running(st) == 0) {
    finish_drain(self);
    return;
  }
  self->delayed_send(self,
                     std::chrono::milliseconds(
                       static_cast<int64_t>(st.cfg.drain_grace_s * 1000)),
                     stop_atom::value, true);
}


/// The drain's grace period is over: the local workers hand their attempts
/// back (RUNNING → QUEUED, no retry budget spent); the drain finishes when
/// the last one reported.
void on_stop_grace(scheduler_actor_t* self) {
  auto& st = self->state;
  if (local_running(st) == 0) {
    finish_drain(self);
    return;
  }
  for (auto& w : st.local_workers)
    self->send_exit(w, caf::exit_reason::user_shutdown);
}

} // namespace taskrt::scheduler_detail

/// Dependencies in the scheduler: what a commit's graph moves mean for the
/// tasks the head holds. The journal decides (persistence/detail/
/// graph_writer.cpp, in the transaction that ends a parent); the head never
/// holds a WAITING task: it learns of a child when it is released.

#include "taskrt/actors/scheduler_state.hpp"

namespace taskrt::scheduler_detail {

void on_graph(scheduler_actor_t* self, journal_store::batch_result& r) {
  if (r.released.empty() && r.settled.empty() && r.rewaited.empty())
    return;
  auto& st = self->state;
  // Every task a commit releases or cancels upstream was WAITING.
  st.waiting += static_cast<int64_t>(r.rewaited.size())
                - static_cast<int64_t>(r.released.size() + r.settled.size());
  metrics::set_waiting(std::max<int64_t>(0, st.waiting));
  // The window this names: the parent's end and its children's release are
  // committed; nothing of them is in memory yet. A restarted head finds the
  // children QUEUED in the journal.
  TASKRT_FAULT_HOOK(
    TASKRT_FAULT_ACTIVE(st.cfg.fault, fault_point::exit_after_release) && !r.released.empty(),
    spdlog::critical("fault injection: exiting after the release of task={} was committed, "
                     "before the head held it",
                     r.released.front().id);
    fault_exit();
  );
  const auto t_us = to_micros(now());
  for (auto& rec : r.released) {
    spdlog::debug("task={} released: its parents' trigger is met", rec.id);
    metrics::record_transition(rec.name, task_state::queued);
    st.max_acked_id = std::max(st.max_acked_id, rec.id);
    if (st.tasks.count(rec.id))
      continue;
    if (rec.run_at_us <= t_us) {
      auto a = st.window.admit(rec.queue, key_of(rec));
      if (a.evicted != 0)
        evict(st, a.evicted);
      if (!a.held)
        continue; // read back from the journal in its turn
    } else if (rec.run_at_us > st.loaded_until_us && !st.later_reading) {
      ++st.later_outside;
      continue;
    }
    push_ready(st, hold_row(st, std::move(rec), {}), t_us);
  }
  for (const auto& rec : r.settled) {
    spdlog::info("task={} cancelled: upstream_failed ({})", rec.id, rec.last_error);
    metrics::record_transition(rec.name, task_state::cancelled);
    metrics::record_finished(task_state::cancelled);
    auto w = st.waiters.find(rec.id);
    if (w != st.waiters.end()) {
      for (auto& p : w->second)
        p.deliver(outcome_of(rec));
      st.waiters.erase(w);
    }
  }
  for (auto id : r.rewaited)
    spdlog::info("task={} waits again: the parent that cancelled it is retried", id);
  if (!r.released.empty())
    try_dispatch(self);
}

} // namespace taskrt::scheduler_detail

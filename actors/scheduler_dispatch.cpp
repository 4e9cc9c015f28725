/// Dispatch: the ready queue, worker slots and leases wired to CAF handles;
/// starting attempts.

#include "taskrt/actors/scheduler_state.hpp"

#include <thread>

namespace taskrt::scheduler_detail {

task_outcome outcome_of(const task_record& r) {
  return {r.id, r.state, r.attempt, r.result, r.last_error};
}

sched::ready_key key_of(const task_record& r) {
  return {r.priority, r.run_at_us, r.id};
}

void push_ready(scheduler_state& st, live_task& t, int64_t now_us) {
  const auto& r = t.rec;
  t.enqueued_us = now_us;
  if (!r.limit_keys.empty()) // waits for its limits (scheduler_limits.cpp)
    return st.gate.push(r.id, r.limit_keys, key_of(r), now_us);
  st.queue.push({r.id, r.queue, r.name, r.lock, r.priority, r.run_at_us}, now_us);
}

void enqueue(scheduler_state& st, live_task& t) {
  const auto t_us = to_micros(now());
  if (t.rec.run_at_us <= t_us) {
    st.window.hold(t.rec.queue, key_of(t.rec));
    st.window_held.insert(t.rec.queue);
  }
  push_ready(st, t, t_us);
}

void unqueue(scheduler_state& st, const live_task& t) {
  st.queue.remove(t.rec.id);
  st.gate.remove(t.rec.id);
  st.window.leave(t.rec.queue, key_of(t.rec));
}

void evict(scheduler_state& st, int64_t id) {
  auto i = st.tasks.find(id);
  if (i == st.tasks.end())
    return;
  const auto& t = i->second;
  if (t.rec.state != task_state::queued || t.cancel_requested || st.queued_aside.count(id)
      || !(st.queue.contains(id) || st.gate.holds(id)))
    return; // kept: a refill that reads it again skips it
  st.queue.remove(id);
  st.gate.remove(id);
  st.tasks.erase(i);
}

live_task& hold_row(scheduler_state& st, task_record rec,
                    const std::map<int64_t, std::string>& checkpoints) {
  auto& t = st.tasks[rec.id] = live_task{};
  auto parsed = parse_retry_policy(rec.policy);
  t.policy = std::holds_alternative<retry_policy>(parsed) ? std::get<retry_policy>(parsed)
                                                          : retry_policy::cluster_default();
  t.cancel_requested = rec.cancel_requested;
  auto cp = checkpoints.find(rec.id);
  if (cp != checkpoints.end())
    t.checkpoint = cp->second;
  t.rec = std::move(rec);
  return t;
}

void left_journal(scheduler_state& st, const task_record& rec) {
  if (st.later_reading)
    st.later_touched.insert(rec.id);
  if (rec.run_at_us > st.loaded_until_us) {
    if (st.later_outside > 0)
      --st.later_outside;
  } else {
    st.window.left_journal(rec.queue, rec.id);
  }
}

void advance_horizon(scheduler_actor_t* self) {
  auto& st = self->state;
  const auto t = to_micros(now());
  const auto horizon_us = static_cast<int64_t>(st.cfg.schedule_horizon_s * 1e6);
  if (!st.recovered || !st.journal_up || st.later_reading
      || st.loaded_until_us - t > horizon_us / 2)
    return;
  const auto until = t + horizon_us;
  st.later_reading = true;
  st.later_touched.clear();
  self->request(st.cfg.persistence, caf::infinite, later_atom::value, st.loaded_until_us, until)
    .then(
      [self, until](window_rows& rows) {
        auto& st = self->state;
        const auto t = to_micros(now());
        int64_t taken = 0;
        for (auto& rec : rows.tasks) {
          if (rec.id > st.max_acked_id || st.tasks.count(rec.id)
              || st.later_touched.count(rec.id))
            continue; // its acknowledgement holds it, or it is held or changed already
          ++taken;
          hold_read(self, std::move(rec), rows, t);
        }
        st.loaded_until_us = std::max(st.loaded_until_us, until);
        st.later_outside = std::max<int64_t>(0, st.later_outside - taken);
        st.later_reading = false;
        st.later_touched.clear();
        try_dispatch(self);
      },
      [self](caf::error& e) {
        auto& st = self->state; // read again at the next check
        st.later_reading = false;
        st.later_touched.clear();
        spdlog::warn("scheduled tasks past the horizon were not read: {}", error_message(e));
      });
}

void hold_read(scheduler_actor_t* self, task_record rec, window_rows& rows, int64_t now_us) {
  auto& st = self->state;
  if (rec.run_at_us <= now_us) { // due already: through its queue's window
    auto a = st.window.admit(rec.queue, key_of(rec));
    if (a.evicted != 0)
      evict(st, a.evicted);
    if (!a.held)
      return;
  }
  push_ready(st, hold_row(st, std::move(rec), rows.checkpoints), now_us);
}

void tend_windows(scheduler_actor_t* self) {
  auto& st = self->state;
  for (const auto& q : st.window_held)
    for (auto id : st.window.trim(q))
      evict(st, id);
  st.window_held.clear();
  for (const auto& q : st.window.spilled_queues()) {
    auto rq = st.window.want_refill(q);
    if (!rq)
      continue;
    window_query wq;
    wq.queue = rq->queue;
    if (rq->after)
      wq.after = journal_store::queue_position{rq->after->priority, rq->after->run_at_us,
                                               rq->after->id};
    wq.now_us = to_micros(now());
    wq.limit = static_cast<int32_t>(rq->limit);
    self->request(st.cfg.persistence, caf::infinite, window_atom::value, std::move(wq))
      .then([self, q = rq->queue](window_rows& rows) { on_refill(self, q, rows); },
            [self, q = rq->queue](caf::error& e) {
              // Asked again at the next dispatch (the journal says when it is back).
              self->state.window.refill_failed(q);
              spdlog::warn("queue {}: its window was not refilled: {}", q, error_message(e));
            });
  }
}

void on_refill(scheduler_actor_t* self, const std::string& queue, window_rows& rows) {
  auto& st = self->state;
  std::vector<sched::ready_key> keys;
  keys.reserve(rows.tasks.size());
  for (const auto& r : rows.tasks)
    keys.push_back(key_of(r));
  auto got = st.window.refilled(queue, keys, [&st](int64_t id) {
    return id > st.max_acked_id || st.tasks.count(id) > 0;
  });
  const auto t = to_micros(now());
  for (auto i : got.take)
    push_ready(st, hold_row(st, std::move(rows.tasks[i]), rows.checkpoints), t);
  for (auto id : got.evicted)
    evict(st, id);
  spdlog::debug("queue {}: window refilled with {} of {} rows ({} held, {} in the journal)",
                queue, got.take.size(), rows.tasks.size(), st.window.held(queue),
                st.window.outside(queue));
  try_dispatch(self);
}

/// The slot id of worker `w` (a new one for a worker not seen before).
sched::slot_id slot_of(scheduler_state& st, const caf::actor& w) {
  auto [i, fresh] = st.slot_ids.emplace(w.address(), 0);
  if (fresh) {
    i->second = ++st.last_slot_id;
    st.slot_actors.emplace(i->second, w);
  }
  return i->second;
}

/// The slot id of worker `w`, or 0 when it is not known.
sched::slot_id known_slot(const scheduler_state& st, const caf::actor_addr& w) {
  auto i = st.slot_ids.find(w);
  return i == st.slot_ids.end() ? 0 : i->second;
}

/// The worker of slot `id`, or null.
caf::actor worker_of(const scheduler_state& st, sched::slot_id id) {
  auto i = st.slot_actors.find(id);
  return i == st.slot_actors.end() ? caf::actor{} : i->second;
}

/// Forgets slot `id` and its worker handle.
void forget_slot(scheduler_state& st, sched::slot_id id) {
  auto i = st.slot_actors.find(id);
  if (i != st.slot_actors.end()) {
    st.slot_ids.erase(i->second.address());
    st.slot_actors.erase(i);
  }
  st.slots.erase(id);
}

journal_store::transition_item make_transition(const task_record& r,
                                               transition_kind kind,
                                               task_state expected,
                                               int32_t expected_attempt) {
  journal_store::transition_item t;
  t.task_id = r.id;
  t.kind = kind;
  t.expected_state = expected;
  t.expected_attempt = expected_attempt;
  t.new_attempt = r.attempt;
  t.lease_epoch = r.lease_epoch;
  t.run_at_us = r.run_at_us;
  t.at_us = to_micros(now());
  t.detail = json::object();
  return t;
}

namespace {

/// Task `id` ended with `out`: its awaits get it now, its watchers with the
/// next flush.
void answer_waiters(scheduler_actor_t* self, int64_t id, const task_outcome& out) {
  auto& st = self->state;
  auto w = st.waiters.find(id);
  if (w != st.waiters.end()) {
    for (auto& p : w->second)
      p.deliver(out);
    st.waiters.erase(w);
  }
  notify_watchers(self, id, out);
}

} // namespace

/// A task reached a final state (committed): answer its waiters, forget it.
void finalize(scheduler_actor_t* self, int64_t id) {
  auto& st = self->state;
  auto i = st.tasks.find(id);
  if (i == st.tasks.end())
    return;
  auto out = outcome_of(i->second.rec);
  metrics::record_finished(i->second.rec.state);
  st.tasks.erase(i);
  answer_waiters(self, id, out);
}

void answer_from_journal(scheduler_actor_t* self, int64_t id) {
  with_stored_task(
    self, id,
    [self, id](const task_record& rec) {
      auto& st = self->state;
      if (is_terminal(rec.state) && !st.tasks.count(id))
        answer_waiters(self, id, outcome_of(rec));
    },
    [] {}, [](caf::error&) {});
}

/// The best ready task slot `s` may run (its queues, its node's task
/// names, its lock free), or 0.
int64_t pick_for(const scheduler_state& st, const sched::slot& s) {
  const auto* n = st.nodes.find(s.info.node);
  return st.queue.peek({&s.info.queues, n ? &n->runs : nullptr});
}

/// Counts `t`'s running attempt against worker `w` (creating its slot if
/// unknown) instead of the worker it counted against before.
void assign(scheduler_state& st, live_task& t, const caf::actor& w) {
  const auto id = slot_of(st, w);
  const auto before = st.leases.move_to(t.rec.id, id);
  if (before == id)
    return;
  if (before != 0)
    st.slots.unassign(before);
  st.slots.assign(id);
}

/// A local worker gets its attempt at once; one of a worker node waits in
/// the node's batch until the dispatch round ends (flush_dispatches).
void send_dispatch(scheduler_actor_t* self, const sched::slot_info& info, sched::slot_id sid,
                   dispatch_msg d) {
  auto& st = self->state;
  if (info.node != st.cfg.node_id && supervisor_of(st, info.node)) {
    st.outbox[info.node].items.push_back({info.index, std::move(d)});
    return;
  }
  self->send(worker_of(st, sid), std::move(d));
}

void flush_dispatches(scheduler_actor_t* self) {
  auto& st = self->state;
  for (auto& [node, batch] : st.outbox) {
    if (batch.items.empty())
      continue;
    [[maybe_unused]] const auto n = batch.items.size();
    [[maybe_unused]] const auto first = batch.items.front().run.task_id;
    if (auto sup = supervisor_of(st, node))
      self->send(caf::actor_cast<node_actor>(sup), std::move(batch));
    batch.items.clear();
    // The window "head killed after a dispatch batch was sent, before the
    // node acknowledged any of it" (a began event or a result).
    TASKRT_FAULT_HOOK(TASKRT_FAULT_ACTIVE(st.cfg.fault, fault_point::exit_after_dispatch_batch)
                        && n >= 2,
      spdlog::critical("fault injection: exiting after a dispatch batch of {} attempts to node "
                       "{} (first task={}), before the node acknowledged it",
                       n, node, first);
      std::this_thread::sleep_for(std::chrono::milliseconds(300)); // the batch leaves
      fault_exit();
    );
  }
}

void start_attempt(scheduler_actor_t* self, live_task& t, sched::slot_id sid) {
  auto& st = self->state;
  auto& r = t.rec;
  limits_started(st, t);
  unqueue(st, t);
  const int32_t prev_attempt = r.attempt;
  r.attempt += 1;
  r.lease_epoch = st.leases.issue(r.lease_epoch);
  t.started_us = to_micros(now());
  metrics::observe_queue_wait(
    r.name, static_cast<double>(t.started_us - std::max(t.enqueued_us, r.run_at_us)) / 1e6);
  metrics::record_transition(r.name, task_state::running);
  r.state = task_state::running;
  st.slots.assign(sid);
  st.slots.dispatched(sid);
  const auto& slot = *st.slots.find(sid);
  const bool began = slot.assigned == 1; // else it waits behind another attempt
  const auto& info = slot.info;
  r.node = info.node;
  if (!r.lock.empty())
    st.queue.hold(r.lock);
  st.leases.add({r.id, r.attempt, r.lease_epoch, r.node, sid, began});
  auto tr = make_transition(r, transition_kind::start, task_state::queued,
                            prev_attempt);
  tr.node = r.node;
  tr.detail = {{"node", info.node}, {"worker", info.index}, {"pid", info.pid}};
  journal_store::batch b;
  b.transitions.push_back(std::move(tr));
  const bool fault_now = TASKRT_FAULT_ACTIVE(st.cfg.fault, fault_point::exit_after_dispatch)
                         && r.node != st.cfg.node_id;
  if (!fault_now)
    journal(self, std::move(b), [](journal_store::batch_result&) {});
  dispatch_msg d;
  d.task_id = r.id;
  d.attempt = r.attempt;
  d.lease_epoch = r.lease_epoch;
  d.name = r.name;
  d.args = r.args;
  d.checkpoint = t.checkpoint;
  d.parents = t.rec.parents;
  d.last_attempt = is_last_attempt(t.policy, r.attempt - r.retry_base);
  d.time_limit_s = r.time_limit_s;
  d.stuck_timeout_s = st.cfg.stuck_timeout_s;
  d.prefetched = !began;
  d.task_attempt = r.attempt - r.unstarted;
  send_dispatch(self, info, sid, std::move(d));
  // The window "head killed after the dispatch, before the start commit".
  TASKRT_FAULT_HOOK(fault_now,
    flush_dispatches(self); // the dispatch batch leaves
    spdlog::critical("fault injection: exiting after the dispatch of task={} lease={}, "
                     "before its start commit",
                     r.id, r.lease_epoch);
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // the dispatch leaves
    fault_exit();
  );
}

namespace {

bool journal_full(const scheduler_state& st) {
  return st.cfg.journal_backlog > 0 && st.journal_pending >= st.cfg.journal_backlog;
}

} // namespace

void journal_answered(scheduler_actor_t* self, size_t n) {
  auto& st = self->state;
  const bool was_full = journal_full(st);
  st.journal_pending -= std::min(n, st.journal_pending);
  if (was_full && !journal_full(st))
    try_dispatch(self);
}

/// Dispatches while a free slot (least loaded first) has a ready task it
/// may run and the journal is not cfg.journal_backlog transitions behind;
/// a slot with no task it may run is parked for the rest of this round.
void try_dispatch(scheduler_actor_t* self) {
  auto& st = self->state;
  if (!st.recovered || st.draining || !st.journal_up || st.dispatch_deferred
      || journal_full(st))
    return;
  st.queue.promote_due(to_micros(now()));
  feed_gate(st);
  while (st.queue.has_ready() && !journal_full(st)) {
    const auto sid = st.slots.next();
    if (sid == 0)
      break;
    auto id = pick_for(st, *st.slots.find(sid));
    if (id == 0) {
      st.slots.park(sid); // nothing it may run now: passed over this round
      continue;
    }
    start_attempt(self, st.tasks.at(id), sid);
    feed_gate(st); // the next task of its keys, if any
  }
  st.slots.unpark_all();
  flush_dispatches(self);
  tend_windows(self);
  arm_due_timer(self);
}

void arm_due_timer(scheduler_actor_t* self) {
  auto& st = self->state;
  const auto due = next_due(st);
  if (due == 0 || (st.due_timer_us != 0 && st.due_timer_us <= due))
    return;
  st.due_timer_us = due;
  const auto wait_us = std::max<int64_t>(due - to_micros(now()), 0) + 500; // ≥ due when it fires
  self->delayed_send(self, std::chrono::microseconds(wait_us), tick_atom::value, due);
}

void on_due_timer(scheduler_actor_t* self, int64_t due_us) {
  auto& st = self->state;
  if (st.due_timer_us == due_us)
    st.due_timer_us = 0; // else an earlier timer was armed since; it is the one in force
  try_dispatch(self);
  arm_due_timer(self);
}

/// Frees `t`'s worker slot and, unless `keep_lock`, its lock.
void release(scheduler_state& st, live_task& t, bool keep_lock) {
  if (!t.rec.lock.empty() && !keep_lock)
    release_lock(st, t);
  if (const auto* a = st.leases.find(t.rec.id); a && a->worker != 0)
    st.slots.unassign(a->worker);
  st.orphans.erase(t.rec.id);
  st.leases.remove(t.rec.id);
  st.gate.ended(t.rec.id);
}

void release_lock(scheduler_state& st, live_task& t) {
  const auto fence = t.lock_fence_ns;
  t.lock_fence_ns = 0;
  if (fence > lease::mono_ns()) {
    // Its lost attempt may still run: the lock stays held (nothing of it
    // starts) until that attempt's lease is over; the tick hands it on.
    st.leases.fence_lock(t.rec.lock, fence);
    spdlog::info("task={} lock {}: held {} ms more, until the lease of its lost attempt is "
                 "over", t.rec.id, t.rec.lock, (fence - lease::mono_ns()) / 1'000'000);
    return;
  }
  st.queue.release(t.rec.lock);
}

} // namespace taskrt::scheduler_detail

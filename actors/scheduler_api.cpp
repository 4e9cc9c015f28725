/// The head API: submit (one or a batch), await, cancel, manual retry, status,
/// and the journal's availability.

#include "taskrt/actors/scheduler_state.hpp"
#include "taskrt/runtime/limit_keys.hpp"
#include "taskrt/runtime/version.hpp"
#include "taskrt/sched/trigger.hpp"

namespace taskrt::scheduler_detail {

/// A checked submit: what to journal and what to hold in memory after.
struct prepared_submit {
  journal_store::submit_item item;
  task_record rec;
  retry_policy policy;
};

/// Checks `spec` against the registry and the limits and resolves its
/// queue, policy and time limit; an error names the problem.
caf::expected<prepared_submit> prepare_submit(const scheduler_state& st, task_spec spec) {
  static const task_definition unregistered_here{};
  if (auto e = check_task_spec(spec)) // runtime/limits: size, depth, UTF-8, NUL, names
    return make_error(errc::bad_request, *e);
  const auto* def = st.cfg.registry->find(spec.name);
  const auto& known_names = st.nodes.known_names();
  if (!def && !known_names.count(spec.name)) {
    std::set<std::string> names{known_names.begin(), known_names.end()};
    for (const auto& n : st.cfg.registry->names())
      names.insert(n);
    std::string known;
    for (const auto& n : names)
      known += (known.empty() ? "" : ", ") + n;
    return make_error(errc::bad_request, "unknown task '" + spec.name
                                           + "': neither the head nor any node runs it"
                                           + " (known: " + known + ")");
  }
  if (!def)
    def = &unregistered_here; // a worker node runs it: its defaults are its own
  if (spec.args.empty())
    spec.args = "{}";
  auto args = json::parse(spec.args, nullptr, false);
  if (args.is_discarded())
    return make_error(errc::bad_request, "args: not valid JSON");
  auto policy_text = !spec.policy.empty() ? spec.policy : def->policy;
  retry_policy policy = retry_policy::cluster_default();
  if (!policy_text.empty()) {
    auto parsed = parse_retry_policy(policy_text);
    if (auto e = std::get_if<std::string>(&parsed))
      return make_error(errc::bad_request, *e);
    policy = std::get<retry_policy>(parsed);
  }
  if (spec.priority < -1'000'000 || spec.priority > 1'000'000)
    return make_error(errc::bad_request, "priority must be within ±1000000");
  if (spec.time_limit_s < 0)
    return make_error(errc::bad_request, "time_limit_s must not be negative");
  auto keys = resolve_limit_keys(spec.limits, def->limits, args);
  if (auto e = std::get_if<std::string>(&keys))
    return make_error(errc::bad_request, *e);
  spec.limits = std::get<std::vector<std::string>>(std::move(keys));
  prepared_submit p;
  auto& item = p.item;
  item.spec = std::move(spec);
  item.spec.args = args.dump();
  item.resolved_policy = policy.to_json().dump();
  item.queue = !item.spec.queue.empty() ? item.spec.queue
               : !def->queue.empty()    ? def->queue
                                        : default_queue;
  item.time_limit_s = item.spec.time_limit_s > 0 ? item.spec.time_limit_s : def->time_limit_s;
  item.now_us = to_micros(now());
  // Said in the submit event itself: no row and no commit of its own.
  if (item.spec.after.empty() && !st.nodes.runnable(item.spec.name))
    item.waiting = "no ALIVE node runs " + item.spec.name;
  if (item.spec.run_at_us == 0)
    item.spec.run_at_us = item.now_us;
  auto& rec = p.rec;
  rec.name = item.spec.name;
  rec.args = item.spec.args;
  rec.queue = item.queue;
  rec.priority = item.spec.priority;
  rec.lock = item.spec.lock;
  rec.limit_keys = item.spec.limits;
  rec.policy = item.resolved_policy;
  rec.run_at_us = item.spec.run_at_us;
  rec.time_limit_s = item.time_limit_s;
  rec.parent_id = item.spec.parent_id;
  rec.created_us = item.now_us;
  p.policy = std::move(policy);
  return p;
}

/// Why no submit is taken now (draining, or the journal down), if so.
std::optional<caf::error> submits_refused(const scheduler_state& st) {
  if (st.draining)
    return make_error(errc::shutting_down, "the head is draining and accepts no new tasks");
  if (!st.journal_up)
    return make_error(errc::unavailable, "journal unavailable (" + st.journal_error
                                           + "): nothing was submitted; try again later");
  return std::nullopt;
}

/// Journals the checked submits in one commit, then holds the new tasks and
/// calls `done(ids)` (in order; after the commit), or `failed(error)`.
template <class Done, class Failed>
void journal_submits(scheduler_actor_t* self, std::vector<prepared_submit> prepared, Done done,
                     Failed failed) {
  journal_store::batch b;
  b.submits.reserve(prepared.size());
  for (const auto& p : prepared)
    b.submits.push_back(p.item);
  journal(
    self, std::move(b),
    [self, prepared = std::move(prepared), done](journal_store::batch_result& r) mutable {
      auto& st = self->state;
      const auto t_us = to_micros(now());
      for (size_t i = 0; i < prepared.size(); ++i) {
        if (i < r.existing.size() && r.existing[i])
          continue; // the key's task exists: nothing new to hold
        if (!prepared[i].item.spec.after.empty()) {
          // WAITING, in the journal only; held once released (on_graph).
          st.max_acked_id = std::max(st.max_acked_id, r.submitted_ids.at(i));
          metrics::record_transition(prepared[i].rec.name, task_state::waiting);
          metrics::set_waiting(++st.waiting); // on_graph took off those released at once
          continue;
        }
        auto& rec = prepared[i].rec;
        rec.id = r.submitted_ids.at(i);
        st.max_acked_id = std::max(st.max_acked_id, rec.id);
        metrics::record_transition(rec.name, task_state::queued);
        if (rec.run_at_us <= t_us) {
          // Due: held if its queue's window takes it, else read back from
          // the journal in its turn.
          auto a = st.window.admit(rec.queue, key_of(rec));
          if (a.evicted != 0)
            evict(st, a.evicted);
          if (!a.held)
            continue;
        } else if (rec.run_at_us > st.loaded_until_us && !st.later_reading) {
          ++st.later_outside; // past the horizon: read when the horizon gets there
          continue;
        }
        auto& t = st.tasks[rec.id];
        t.rec = std::move(rec);
        t.policy = std::move(prepared[i].policy);
        push_ready(st, t, t_us);
      }
      done(std::move(r.submitted_ids));
      try_dispatch(self);
    },
    failed);
}

/// Journals `specs` in one commit and replies with their ids in order (all
/// or none: the first bad spec refuses the batch). A submit whose key names
/// an existing task creates nothing and gets that task's id.
template <class Reply>
caf::result<Reply> submit_all(scheduler_actor_t* self, std::vector<task_spec> specs,
                              std::function<Reply(std::vector<int64_t>)> reply) {
  auto& st = self->state;
  if (auto e = submits_refused(st))
    return std::move(*e);
  std::vector<prepared_submit> prepared;
  prepared.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    if (auto e = sched::check_parents(specs[i].after, i))
      return make_error(errc::bad_request, specs.size() == 1 ? *e
                                                             : "task " + std::to_string(i)
                                                                 + " of the batch: " + *e);
    auto p = prepare_submit(st, std::move(specs[i]));
    if (!p) {
      if (specs.size() == 1)
        return std::move(p.error());
      return make_error(errc::bad_request, "task " + std::to_string(i) + " of the batch: "
                                             + error_message(p.error()));
    }
    prepared.push_back(std::move(*p));
  }
  auto rp = self->make_response_promise<Reply>();
  journal_submits(
    self, std::move(prepared),
    [rp, reply = std::move(reply)](std::vector<int64_t> ids) mutable {
      rp.deliver(reply(std::move(ids)));
    },
    [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<int64_t> on_submit(scheduler_actor_t* self, task_spec& spec) {
  std::vector<task_spec> one;
  one.push_back(std::move(spec));
  return submit_all<int64_t>(self, std::move(one),
                             [](std::vector<int64_t> ids) { return ids.at(0); });
}

caf::result<std::vector<int64_t>> on_submit_many(scheduler_actor_t* self,
                                                 std::vector<task_spec>& specs) {
  return submit_all<std::vector<int64_t>>(self, std::move(specs),
                                          [](std::vector<int64_t> ids) { return ids; });
}

caf::result<submit_each_reply> on_submit_each(scheduler_actor_t* self,
                                              std::vector<task_spec>& specs) {
  auto& st = self->state;
  if (auto e = submits_refused(st))
    return std::move(*e);
  submit_each_reply out;
  out.ids.assign(specs.size(), 0);
  std::vector<prepared_submit> prepared;
  std::vector<uint32_t> index; // of each prepared one in `specs`
  prepared.reserve(specs.size());
  index.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    // Coalesced single submits: each is a batch of its own, so a parent
    // named by its place in the batch (-N) is refused.
    if (auto e = sched::check_parents(specs[i].after, 0)) {
      out.refused.push_back({static_cast<uint32_t>(i), make_error(errc::bad_request, *e)});
      continue;
    }
    auto p = prepare_submit(st, std::move(specs[i]));
    if (!p) {
      out.refused.push_back({static_cast<uint32_t>(i), std::move(p.error())});
      continue;
    }
    prepared.push_back(std::move(*p));
    index.push_back(static_cast<uint32_t>(i));
  }
  if (prepared.empty())
    return out;
  auto rp = self->make_response_promise<submit_each_reply>();
  journal_submits(
    self, std::move(prepared),
    [rp, out = std::move(out), index = std::move(index)](std::vector<int64_t> ids) mutable {
      for (size_t i = 0; i < ids.size(); ++i)
        out.ids[index[i]] = ids[i];
      rp.deliver(std::move(out));
    },
    [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

/// The refusal of a change while the journal is unavailable: it could not
/// be recorded, so it is not made (answered at once, not after the outage).
caf::error journal_down(const scheduler_state& st, const char* what) {
  return make_error(errc::unavailable, std::string{"journal unavailable ("} + st.journal_error
                                         + "): the " + what
                                         + " was not recorded; try again later");
}

caf::error not_found(int64_t id) {
  return make_error(errc::not_found, "no task with id " + std::to_string(id));
}

/// `tasks retry` of a QUEUED task (waiting out its retry delay, or scheduled
/// for later): it runs at m.run_at_us (now when 0); its retry budget stays.
caf::result<int64_t> retry_queued_now(scheduler_actor_t* self, live_task& t,
                                      const manual_retry_msg& m) {
  auto& st = self->state;
  unqueue(st, t);
  st.queued_aside.insert(t.rec.id);
  const auto before = t.rec; // restored when the journal refuses the change
  const auto old_run_at = t.rec.run_at_us;
  t.rec.run_at_us = m.run_at_us > 0 ? m.run_at_us : to_micros(now());
  auto tr = make_transition(t.rec, transition_kind::manual_retry, task_state::queued,
                            t.rec.attempt);
  if (m.set_priority)
    t.rec.priority = *(tr.priority = m.priority);
  if (!m.queue.empty())
    t.rec.queue = *(tr.queue = m.queue);
  if (!m.lock.empty())
    t.rec.lock = *(tr.lock = m.lock);
  tr.detail = {{"origin", m.origin},
               {"run_at", to_rfc3339(from_micros(t.rec.run_at_us))},
               {"was_run_at", to_rfc3339(from_micros(old_run_at))}};
  journal_store::batch b;
  b.transitions.push_back(std::move(tr));
  auto rp = self->make_response_promise<int64_t>();
  const auto id = t.rec.id;
  journal(
    self, std::move(b),
    [self, rp, id](journal_store::batch_result&) mutable {
      auto& st = self->state;
      st.queued_aside.erase(id);
      auto i = st.tasks.find(id);
      if (i != st.tasks.end() && i->second.rec.state == task_state::queued)
        enqueue(st, i->second);
      rp.deliver(id);
      try_dispatch(self);
    },
    [self, rp, id, before](caf::error& e) mutable {
      auto& st = self->state; // not changed: back in its queue as it was
      st.queued_aside.erase(id);
      auto i = st.tasks.find(id);
      if (i != st.tasks.end() && i->second.rec.state == task_state::queued) {
        auto& r = i->second.rec;
        r.run_at_us = before.run_at_us;
        r.priority = before.priority;
        r.queue = before.queue;
        r.lock = before.lock;
        enqueue(st, i->second);
      }
      rp.deliver(std::move(e));
    });
  return rp;
}

caf::result<int64_t> on_manual_retry(scheduler_actor_t* self, manual_retry_msg& m) {
  auto& st = self->state;
  if (!st.journal_up)
    return journal_down(st, "retry");
  auto i = st.tasks.find(m.id);
  if (i != st.tasks.end() && i->second.rec.state == task_state::queued)
    return retry_queued_now(self, i->second, m);
  if (i != st.tasks.end())
    return make_error(errc::illegal_state,
                      "task " + std::to_string(m.id) + " is "
                        + to_string(i->second.rec.state)
                        + "; only FAILED, LOST, CANCELLED or QUEUED tasks can be retried");
  auto rp = self->make_response_promise<int64_t>();
  with_stored_task(
    self, m.id,
    [self, rp, m](task_record rec) mutable {
      auto& st = self->state;
      // QUEUED and not held: in the journal only (its queue is spilled).
      const bool journal_only = rec.state == task_state::queued && !st.tasks.count(rec.id);
      if (!journal_only
          && (rec.state == task_state::queued || rec.state == task_state::running
              || check_transition(rec.state, transition_kind::manual_retry))) {
        rp.deliver(make_error(errc::illegal_state,
                              "task " + std::to_string(rec.id) + " is "
                                + to_string(rec.state)
                                + "; only FAILED, LOST, CANCELLED or QUEUED tasks can be retried"));
        return;
      }
      if (st.tasks.count(rec.id)) {
        rp.deliver(make_error(errc::illegal_state, "task is already being retried"));
        return;
      }
      auto parsed = parse_retry_policy(rec.policy);
      auto policy = std::holds_alternative<retry_policy>(parsed)
                      ? std::get<retry_policy>(parsed)
                      : retry_policy::cluster_default();
      const auto from = rec.state;
      const auto old_run_at = rec.run_at_us;
      const auto before = rec; // a journal-only task the journal refused to move stays QUEUED
      rec.state = task_state::queued;
      if (!journal_only)
        rec.retry_base = rec.attempt; // the budget starts afresh from here
      rec.run_at_us = m.run_at_us > 0 ? m.run_at_us : to_micros(now());
      auto tr = make_transition(rec, transition_kind::manual_retry, from, rec.attempt);
      if (!journal_only)
        tr.retry_base = rec.retry_base;
      else
        left_journal(st, rec); // held once its move commits
      if (m.set_priority)
        rec.priority = *(tr.priority = m.priority);
      if (!m.queue.empty())
        rec.queue = *(tr.queue = m.queue);
      if (!m.lock.empty())
        rec.lock = *(tr.lock = m.lock);
      tr.detail = {{"origin", m.origin}, {"run_at", to_rfc3339(from_micros(rec.run_at_us))}};
      if (journal_only)
        tr.detail["was_run_at"] = to_rfc3339(from_micros(old_run_at));
      auto& t = st.tasks[rec.id];
      t.rec = rec;
      t.policy = policy;
      st.queued_aside.insert(rec.id);
      journal_store::batch b;
      b.transitions.push_back(std::move(tr));
      journal(
        self, std::move(b),
        [self, rp, id = rec.id](journal_store::batch_result& r) mutable {
          auto& st = self->state;
          st.queued_aside.erase(id);
          if (r.applied.empty() || !r.applied[0]) {
            st.tasks.erase(id);
            rp.deliver(make_error(errc::illegal_state, "the task changed concurrently; try again"));
            return;
          }
          enqueue(st, st.tasks.at(id));
          rp.deliver(id);
          try_dispatch(self);
        },
        [self, rp, id = rec.id, journal_only, before](caf::error& e) mutable {
          auto& st = self->state; // not retried: the row stays as it was
          st.queued_aside.erase(id);
          if (journal_only) {
            // Still QUEUED there: held as it is (a refill may have passed it).
            auto& t = st.tasks.at(id);
            t.rec = before;
            enqueue(st, t);
          } else {
            st.tasks.erase(id);
          }
          rp.deliver(std::move(e));
        });
    },
    [rp, id = m.id]() mutable { rp.deliver(not_found(id)); },
    [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

/// QUEUED → CANCELLED (journaled); `done(nullptr)` after the commit, or
/// `done(&error)` when the journal refused it.
void cancel_queued(scheduler_actor_t* self, live_task& t, const std::string& origin,
                   std::function<void(caf::error*)> done) {
  auto& st = self->state;
  const auto id = t.rec.id;
  unqueue(st, t);
  t.rec.state = task_state::cancelled;
  auto tr = make_transition(t.rec, transition_kind::cancel, task_state::queued,
                            t.rec.attempt);
  tr.detail = {{"origin", origin}};
  journal_store::batch b;
  b.transitions.push_back(std::move(tr));
  journal(
    self, std::move(b),
    [self, id, done](journal_store::batch_result&) mutable {
      finalize(self, id);
      if (done)
        done(nullptr);
    },
    [self, id, done](caf::error& e) mutable {
      auto& st = self->state; // not cancelled: back in its queue
      auto i = st.tasks.find(id);
      if (i != st.tasks.end()) {
        i->second.rec.state = task_state::queued;
        enqueue(st, i->second);
      }
      if (done)
        done(&e);
    });
}

caf::result<task_state> on_cancel(scheduler_actor_t* self, int64_t id,
                                  const std::string& origin) {
  auto& st = self->state;
  if (!st.journal_up)
    return journal_down(st, "cancel");
  auto i = st.tasks.find(id);
  if (i == st.tasks.end()) {
    auto rp = self->make_response_promise<task_state>();
    with_stored_task(
      self, id,
      [self, rp, origin](const task_record& rec) mutable {
        auto& st = self->state;
        if ((rec.state == task_state::queued && !st.tasks.count(rec.id))
            || rec.state == task_state::waiting) {
          cancel_stored(self, rec, origin, rp);
          return;
        }
        if (st.tasks.count(rec.id)) { // read back into memory meanwhile
          rp.deliver(make_error(errc::illegal_state, "task " + std::to_string(rec.id)
                                                       + " changed meanwhile; try again"));
          return;
        }
        rp.deliver(make_error(errc::illegal_state,
                              "task " + std::to_string(rec.id) + " is already "
                                + to_string(rec.state)));
      },
      [rp, id]() mutable { rp.deliver(not_found(id)); },
      [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
    return rp;
  }
  auto& t = i->second;
  if (t.rec.state == task_state::queued) {
    auto rp = self->make_response_promise<task_state>();
    cancel_queued(self, t, origin, [rp](caf::error* e) mutable {
      if (e)
        rp.deliver(std::move(*e));
      else
        rp.deliver(task_state::cancelled);
    });
    return rp;
  }
  // Journaled first, answered after the commit (a restarted head delivers it
  // again after adoption), then delivered to the attempt's worker. The flag
  // is set at once: whatever acts on it (a retry decision, a hand-back) is
  // journaled after the note, by the same writer, so it commits after it.
  const bool requested_before = t.cancel_requested;
  t.cancel_requested = true;
  journal_store::batch b;
  b.notes.push_back({id, t.rec.attempt, note_kind::cancel_requested,
                     {{"origin", origin}}, to_micros(now()), st.cfg.node_id});
  const auto state = t.rec.state;
  auto rp = self->make_response_promise<task_state>();
  journal(
    self, std::move(b),
    [self, id, rp, state](journal_store::batch_result&) mutable {
      auto& st = self->state;
      TASKRT_FAULT_HOOK(
        TASKRT_FAULT_ACTIVE(st.cfg.fault, fault_point::exit_before_cancel_delivery),
        spdlog::critical("fault injection: exiting after the cancel of task={} was journaled, "
                         "before it was delivered",
                         id);
        fault_exit();
      );
      auto i = st.tasks.find(id);
      const auto* a = st.leases.find(id);
      if (i != st.tasks.end() && i->second.rec.state == task_state::running && a && a->worker)
        if (auto w = worker_of(st, a->worker))
          self->send(w, cancel_atom::value, id);
      rp.deliver(state);
    },
    [self, id, rp, requested_before](caf::error& e) mutable {
      auto& st = self->state; // not recorded: nothing requested
      auto i = st.tasks.find(id);
      if (i != st.tasks.end() && !requested_before)
        i->second.cancel_requested = false;
      rp.deliver(std::move(e));
    });
  return rp;
}

void cancel_stored(scheduler_actor_t* self, const task_record& rec, const std::string& origin,
                   caf::typed_response_promise<task_state> rp) {
  // Only a QUEUED task counts in its queue's window; a WAITING one is not
  // live (its children follow their trigger rules in the same commit).
  if (rec.state == task_state::queued)
    left_journal(self->state, rec);
  auto done = rec;
  done.state = task_state::cancelled;
  auto tr = make_transition(done, transition_kind::cancel, rec.state, rec.attempt);
  tr.detail = {{"origin", origin}};
  journal_store::batch b;
  b.transitions.push_back(std::move(tr));
  journal(
    self, std::move(b),
    [self, rp, done, was_waiting = rec.state == task_state::waiting](
      journal_store::batch_result& r) mutable {
      auto& st = self->state;
      if (r.applied.empty() || !r.applied[0]) {
        rp.deliver(make_error(errc::illegal_state, "task " + std::to_string(done.id)
                                                     + " changed meanwhile; try again"));
        return;
      }
      metrics::record_transition(done.name, task_state::cancelled);
      metrics::record_finished(task_state::cancelled);
      if (was_waiting)
        metrics::set_waiting(std::max<int64_t>(0, --st.waiting));
      auto w = st.waiters.find(done.id);
      if (w != st.waiters.end()) {
        for (auto& p : w->second)
          p.deliver(outcome_of(done));
        st.waiters.erase(w);
      }
      notify_watchers(self, done.id, outcome_of(done));
      rp.deliver(task_state::cancelled);
    },
    [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

namespace {

/// Answers `rp` with task `id`'s outcome once it is final. Before recovery
/// the journal's row may not be final yet (a FAILED whose retry decision an
/// older head never wrote, a RUNNING attempt about to be adopted or LOST):
/// the await waits for recovery, which finishes such tasks.
void await_into(scheduler_actor_t* self, int64_t id,
                caf::typed_response_promise<task_outcome> rp) {
  auto& st = self->state;
  if (!st.recovered) {
    st.after_recovery.push_back([self, id, rp]() mutable { await_into(self, id, rp); });
    return;
  }
  if (st.tasks.count(id)) {
    st.waiters[id].push_back(rp);
    return;
  }
  with_stored_task(
    self, id,
    [self, rp, id](const task_record& rec) mutable {
      auto& st = self->state;
      if (is_terminal(rec.state)) {
        rp.deliver(outcome_of(rec));
        return;
      }
      st.waiters[id].push_back(rp);
      if (st.tasks.count(id))
        return;
      // QUEUED in the journal only: it is read into memory in its turn and
      // finalized there. It may also have ended since the read: read again.
      answer_from_journal(self, id);
    },
    [rp, id]() mutable { rp.deliver(not_found(id)); },
    [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

} // namespace

/// `await`: the outcome of task `id` once it is final (at once when it is).
caf::result<task_outcome> on_await(scheduler_actor_t* self, int64_t id) {
  auto rp = self->make_response_promise<task_outcome>();
  await_into(self, id, rp);
  return rp;
}

namespace {

/// A helper of one await of many ids: it awaits each at the scheduler (in
/// process) and answers with all of them, in order, once all are final.
struct await_group_state {
  std::vector<task_outcome> outcomes;
  size_t left = 0;
  static inline const char* name = "taskrt.await_group";
};

using await_group_t = caf::stateful_actor<await_group_state>;

caf::behavior await_group(await_group_t* self, caf::actor scheduler) {
  return {
    [self, scheduler](await_atom, std::vector<int64_t>& ids)
      -> caf::result<std::vector<task_outcome>> {
      auto& st = self->state;
      if (ids.empty()) {
        self->quit();
        return std::vector<task_outcome>{};
      }
      auto rp = self->make_response_promise<std::vector<task_outcome>>();
      st.outcomes.resize(ids.size());
      st.left = ids.size();
      for (size_t i = 0; i < ids.size(); ++i)
        self->request(scheduler, caf::infinite, await_atom::value, ids[i])
          .then(
            [self, rp, i](task_outcome& out) mutable {
              auto& st = self->state;
              st.outcomes[i] = std::move(out);
              if (--st.left == 0) {
                rp.deliver(std::move(st.outcomes));
                self->quit();
              }
            },
            [self, rp](caf::error& e) mutable {
              rp.deliver(std::move(e)); // the first error answers the await
              self->quit();
            });
      return rp;
    },
  };
}

/// Outcomes go to a watcher at most this many in one message, and at most
/// this long after the first of them was final.
constexpr size_t watch_batch = 512;
constexpr auto watch_window = std::chrono::milliseconds(1);

void push_outcome(scheduler_actor_t* self, const caf::actor& sink, const task_outcome& out) {
  auto& st = self->state;
  auto& box = st.watch_outbox[sink];
  box.push_back(out);
  if (box.size() >= watch_batch) {
    self->send(sink, watch_atom::value, std::move(box));
    st.watch_outbox.erase(sink);
  } else if (!st.watch_flush_armed) {
    st.watch_flush_armed = true;
    self->delayed_send(self, watch_window, watch_atom::value);
  }
}

} // namespace

void notify_watchers(scheduler_actor_t* self, int64_t id, const task_outcome& out) {
  auto& st = self->state;
  auto w = st.watchers.find(id);
  if (w == st.watchers.end())
    return;
  auto sinks = std::move(w->second);
  st.watchers.erase(w);
  for (const auto& sink : sinks)
    push_outcome(self, sink, out);
}

void flush_watchers(scheduler_actor_t* self) {
  auto& st = self->state;
  st.watch_flush_armed = false;
  for (auto& [sink, box] : st.watch_outbox)
    if (!box.empty())
      self->send(sink, watch_atom::value, std::move(box));
  st.watch_outbox.clear();
}

caf::result<std::vector<task_outcome>> on_await_many(scheduler_actor_t* self,
                                                     std::vector<int64_t>& ids) {
  auto helper = self->spawn(await_group, caf::actor_cast<caf::actor>(self));
  self->delegate(helper, await_atom::value, std::move(ids));
  return caf::delegated<std::vector<task_outcome>>{};
}

void watch_from(scheduler_actor_t* self, const caf::actor& sink, const std::vector<int64_t>& ids);

/// `watch` of one id whose task is not in memory: final in the journal, or
/// QUEUED there only. Before recovery it waits for recovery (see await_into).
void watch_stored(scheduler_actor_t* self, const caf::actor& sink, int64_t id) {
  if (!self->state.recovered) {
    // Replayed as a new watch: recovery may hold the task in memory (an
    // undecided FAILED one, whose journal row looks final).
    self->state.after_recovery.push_back([self, sink, id] {
      std::vector<int64_t> ids{id};
      watch_from(self, sink, ids);
    });
    return;
  }
  with_stored_task(
    self, id,
    [self, sink, id](const task_record& rec) {
      auto& st = self->state;
      if (is_terminal(rec.state)) {
        push_outcome(self, sink, outcome_of(rec));
        return;
      }
      st.watchers[id].push_back(sink);
      if (st.tasks.count(id))
        return;
      // QUEUED in the journal only: read into memory in its turn and
      // finalized there. It may also have ended since the read: read again.
      with_stored_task(
        self, id,
        [self, id](const task_record& again) {
          auto& st = self->state;
          if (is_terminal(again.state) && !st.tasks.count(id))
            notify_watchers(self, id, outcome_of(again));
        },
        [] {}, [](caf::error&) {});
    },
    [self, sink, id] { self->send(sink, watch_atom::value, id, not_found(id)); },
    [self, sink, id](caf::error& e) { self->send(sink, watch_atom::value, id, std::move(e)); });
}

void watch_from(scheduler_actor_t* self, const caf::actor& sink, const std::vector<int64_t>& ids) {
  auto& st = self->state;
  for (auto id : ids) {
    if (st.tasks.count(id))
      st.watchers[id].push_back(sink);
    else
      watch_stored(self, sink, id);
  }
}

void on_watch(scheduler_actor_t* self, std::vector<int64_t>& ids) {
  auto sink = caf::actor_cast<caf::actor>(self->current_sender());
  if (!sink)
    return;
  watch_from(self, sink, ids);
}

/// `status`: a short summary of the head.
head_status on_status(const scheduler_state& st) {
  head_status s;
  s.node_id = st.cfg.node_id;
  s.started_us = st.started_us;
  std::tie(s.workers, s.busy) = st.slots.ready_and_busy();
  s.running = static_cast<int64_t>(st.leases.size());
  // QUEUED tasks are in the ready queue, but for those held aside while a
  // manual retry of theirs is journaled.
  s.queued = static_cast<int64_t>(st.queue.size() + st.gate.size()) + st.window.outside_total()
             + st.later_outside;
  for (auto id : st.queued_aside) {
    auto i = st.tasks.find(id);
    s.queued += i != st.tasks.end() && i->second.rec.state == task_state::queued ? 1 : 0;
  }
  s.draining = st.draining;
  s.recovered = st.recovered;
  s.journal_up = st.journal_up;
  s.journal_error = st.journal_error;
  s.journal_down_since_us = st.journal_down_since_us;
  s.version = version_line();
  return s;
}

/// Persistence says whether Postgres is reachable: submits and dispatch
/// pause while it is not.
void on_journal_state(scheduler_actor_t* self, bool up, const std::string& reason) {
  auto& st = self->state;
  if (up == st.journal_up)
    return;
  st.journal_up = up;
  st.journal_error = up ? std::string{} : reason;
  st.journal_down_since_us = up ? 0 : to_micros(now());
  if (up) {
    spdlog::info("journal available again: dispatch resumes, submits accepted");
    try_dispatch(self);
  } else {
    spdlog::error("journal unavailable ({}): submits refused, dispatch paused; "
                  "running attempts finish and their results wait",
                  reason);
  }
}

} // namespace taskrt::scheduler_detail

/// The end of an attempt: results, fencing, FAILED/LOST through the retry
/// actor, the decision and the re-queue in one commit, hand-backs.

#include "taskrt/actors/scheduler_state.hpp"

#include <thread>

namespace taskrt::scheduler_detail {

/// The error_info of a parsed error object (empty when `j` is none).
error_info error_info_of(const json& j) {
  error_info err;
  if (j.is_object()) {
    err.kind = j.value("kind", "error");
    err.ancestors = j.value("ancestors", std::vector<std::string>{});
    err.message = j.value("message", "");
  }
  return err;
}

/// The error_info of an error's JSON text (empty when it is not an object).
error_info parse_error_info(const std::string& error) {
  return error_info_of(json::parse(error, nullptr, false));
}

/// A short fixed word for why an attempt ended LOST (a metrics label).
std::string lost_cause(const json& detail) {
  const auto reason = detail.is_object() ? detail.value("reason", std::string{}) : "";
  if (detail.is_object() && detail.contains("signal"))
    return "worker_died";
  for (const auto& [needle, cause] :
       std::vector<std::pair<std::string, std::string>>{{"node dead", "node_dead"},
                                                        {"stuck", "stuck"},
                                                        {"head restarted", "recovery"},
                                                        {"not adopted", "recovery"},
                                                        {"worker", "worker_died"}})
    if (reason.find(needle) != std::string::npos)
      return cause;
  return "other";
}

/// The FAILED/LOST → QUEUED transition a retry decision `d` journals.
journal_store::transition_item retry_transition(const task_record& r, const retry_decision& d) {
  auto tr = make_transition(r, transition_kind::retry, r.state, r.attempt);
  tr.run_at_us = to_micros(d.retry_at);
  tr.priority = d.priority;
  tr.queue = d.queue;
  tr.lock = d.lock;
  tr.detail = {{"decision", d.reason}, {"retry_at", to_rfc3339(d.retry_at)}};
  return tr;
}

/// After the retry transition committed: `t` is QUEUED again as `d` says.
void apply_retry(scheduler_actor_t* self, live_task& t, const retry_decision& d) {
  t.rec.state = task_state::queued;
  t.rec.run_at_us = to_micros(d.retry_at);
  if (d.priority)
    t.rec.priority = *d.priority;
  if (d.queue)
    t.rec.queue = *d.queue;
  if (d.lock)
    t.rec.lock = *d.lock;
  enqueue(self->state, t);
  try_dispatch(self);
}

/// Releases the lock an ended attempt kept while its decision was pending.
void release_held_lock(scheduler_state& st, live_task& t) {
  if (t.lock_held) {
    release_lock(st, t);
    t.lock_held = false;
  }
}

/// Commits the end of a FAILED or LOST attempt together with its retry
/// decision and, when the decision is to retry, the re-queue: one
/// transaction, so no head crash leaves the task half-decided.
void commit_decision(scheduler_actor_t* self, int64_t id,
                     journal_store::transition_item end, const retry_request& req,
                     retry_decision d) {
  auto& st = self->state;
  auto i = st.tasks.find(id);
  if (i == st.tasks.end())
    return;
  auto& t = i->second;
  if (d.retry && t.cancel_requested) {
    d.retry = false;
    d.reason = "cancel requested";
  }
  end.detail["decision"] = decision_detail(req, d);
  journal_store::batch b;
  b.transitions.push_back(std::move(end));
  if (d.retry)
    b.transitions.push_back(retry_transition(t.rec, d));
  journal(
    self, std::move(b),
    [self, id, d](journal_store::batch_result&) {
      auto& st = self->state;
      auto i = st.tasks.find(id);
      if (i == st.tasks.end())
        return;
      auto& t = i->second;
      release_held_lock(st, t);
      metrics::record_transition(t.rec.name, t.rec.state);
      if (!d.retry) {
        finalize(self, id);
        return;
      }
      metrics::record_retry(t.rec.name);
      metrics::record_transition(t.rec.name, task_state::queued);
      apply_retry(self, t, d);
    },
    [self, id](caf::error& e) {
      // Only a data error in this task's own values gets here (the journal
      // keeps other writes through an outage): end it FAILED without them.
      // The lock stays held until that FAILED is journaled.
      spdlog::error("task={} journal refused the end of its attempt: {}", id,
                    error_message(e));
      json err = {{"kind", "taskrt.bad_result"},
                  {"ancestors", json::array()},
                  {"message", "the journal refused the attempt's values: " + error_message(e)}};
      close_attempt(self, id, task_state::failed, "", err.dump(), json::object());
    });
}

/// Ends the attempt of a task already released from its worker: journals the
/// outcome (through the retry actor for FAILED and LOST), then continues.
void close_attempt(scheduler_actor_t* self, int64_t id, task_state outcome,
                   const std::string& result, const std::string& error, json detail) {
  auto& st = self->state;
  auto& t = st.tasks.at(id);
  static const std::map<task_state, transition_kind> kinds = {
    {task_state::succeeded, transition_kind::succeed},
    {task_state::failed, transition_kind::fail},
    {task_state::lost, transition_kind::lose},
    {task_state::cancelled, transition_kind::cancel},
    {task_state::queued, transition_kind::requeue},
  };
  if (outcome == task_state::queued && t.cancel_requested) {
    outcome = task_state::cancelled; // handed back while a cancel was pending
    detail["reason"] = "cancel requested; the attempt was handed back";
  }
  auto tr = make_transition(t.rec, kinds.at(outcome), task_state::running, t.rec.attempt);
  if (outcome != task_state::queued && t.started_us > 0)
    metrics::observe_task_duration(t.rec.name,
                                   static_cast<double>(to_micros(now()) - t.started_us) / 1e6);
  if (outcome == task_state::lost)
    metrics::record_lost(lost_cause(detail));
  if (outcome == task_state::queued) {
    // Handed back: not a try. The attempt number goes back (the next start
    // is the same attempt under a new lease); no retry budget is spent.
    tr.new_attempt = --t.rec.attempt;
  }
  t.rec.state = outcome;
  if (outcome == task_state::succeeded)
    t.rec.result = tr.result = result.empty() ? "null" : result;
  error_info err;
  if (!error.empty()) {
    t.rec.last_error = tr.error = error;
    auto j = json::parse(error, nullptr, false);
    err = error_info_of(j);
    if (j.is_object())
      detail["error"] = std::move(j);
  }
  tr.detail = std::move(detail);
  if (outcome == task_state::failed || outcome == task_state::lost) {
    t.history.push_back({t.rec.attempt, outcome == task_state::failed ? "failed" : "lost",
                         err.kind});
    if (t.history.size() > max_history)
      t.history.erase(t.history.begin());
    retry_request req;
    req.policy = t.policy;
    req.input.task_id = id;
    req.input.attempt = t.rec.attempt;
    req.input.retry_base = t.rec.retry_base;
    req.input.error = err;
    req.input.failed_at = now();
    req.input.priority = t.rec.priority;
    req.input.queue = t.rec.queue;
    req.input.lock = t.rec.lock;
    req.input.history = t.history;
    self->request(st.cfg.retry, caf::infinite, req)
      .then(
        [self, id, tr, req](retry_decision& d) mutable {
          commit_decision(self, id, std::move(tr), req, std::move(d));
        },
        [self, id, tr, req](caf::error& e) mutable {
          retry_decision d;
          d.reason = "the retry actor failed: " + error_message(e);
          commit_decision(self, id, std::move(tr), req, std::move(d));
        });
    return;
  }
  journal_store::batch b;
  b.transitions.push_back(std::move(tr));
  journal(
    self, std::move(b),
    [self, id, outcome](journal_store::batch_result&) {
      auto& st = self->state;
      auto i = st.tasks.find(id);
      if (i == st.tasks.end())
        return;
      metrics::record_transition(i->second.rec.name, outcome);
      if (outcome == task_state::queued) {
        enqueue(st, i->second);
        try_dispatch(self);
      } else {
        finalize(self, id);
      }
    },
    [self, id, outcome](caf::error& e) {
      spdlog::error("task={} journal refused the end of its attempt: {}", id,
                    error_message(e));
      if (outcome != task_state::succeeded)
        return;
      json err = {{"kind", "taskrt.bad_result"},
                  {"ancestors", json::array()},
                  {"message", "the journal refused the result: " + error_message(e)}};
      close_attempt(self, id, task_state::failed, "", err.dump(), json::object());
    });
}

/// Ends a RUNNING attempt with `outcome`: frees its worker slot and lock,
/// then journals it (see close_attempt).
void end_attempt(scheduler_actor_t* self, live_task& t, task_state outcome,
                 const std::string& result, const std::string& error, json detail) {
  // A FAILED or LOST attempt is journaled after its retry decision: its lock
  // stays held until then, so the lock's next start is journaled after it.
  const bool decided_later = outcome == task_state::failed || outcome == task_state::lost;
  const bool was_running = t.rec.state == task_state::running;
  if (was_running)
    release(self->state, t, decided_later);
  t.lock_held = was_running && decided_later && !t.rec.lock.empty();
  close_attempt(self, t.rec.id, outcome, result, error, std::move(detail));
}

/// A task an older version left FAILED or LOST without its retry decision
/// (three commits then): decide now, journal the decision and the re-queue
/// in one commit.
void redecide(scheduler_actor_t* self, live_task& t) {
  const int64_t id = t.rec.id;
  retry_request req;
  req.policy = t.policy;
  req.input.task_id = id;
  req.input.attempt = t.rec.attempt;
  req.input.retry_base = t.rec.retry_base;
  req.input.error = parse_error_info(t.rec.last_error);
  req.input.failed_at = from_micros(t.rec.updated_us);
  req.input.priority = t.rec.priority;
  req.input.queue = t.rec.queue;
  req.input.lock = t.rec.lock;
  self->request(self->state.cfg.retry, caf::infinite, req)
    .then([self, id, req](retry_decision& d) {
      auto& st = self->state;
      auto i = st.tasks.find(id);
      if (i == st.tasks.end())
        return;
      auto& t = i->second;
      journal_store::batch b;
      auto detail = decision_detail(req, d);
      detail["recovered"] = "the decision was missing after a restart";
      b.notes.push_back({id, t.rec.attempt, note_kind::retry_decision, detail, to_micros(now()),
                         st.cfg.node_id});
      if (d.retry)
        b.transitions.push_back(retry_transition(t.rec, d));
      journal(self, std::move(b), [self, id, d](journal_store::batch_result& r) {
        auto& st = self->state;
        auto i = st.tasks.find(id);
        if (i == st.tasks.end())
          return;
        if (!d.retry) {
          finalize(self, id); // final now: its awaits and watches hear it
          return;
        }
        if (r.applied.empty() || !r.applied[0]) {
          // The row moved on without this head: forget it and answer its
          // waiters from the journal (or when it is read in again).
          st.tasks.erase(i);
          answer_from_journal(self, id);
          return;
        }
        apply_retry(self, i->second, d);
      });
    });
}

/// The worker began a prefetched attempt.
void mark_began(scheduler_state& st, const attempt_ref& a) {
  if (st.leases.current(a.task_id, a.attempt, a.lease_epoch))
    st.leases.mark_began(a.task_id);
}

/// Ends an attempt whose worker or node is gone: LOST if it began, handed
/// back (no retry budget spent) if it was still waiting behind another.
void end_orphaned(scheduler_actor_t* self, live_task& t, const std::string& message,
                  const std::string& reason) {
  // Its process may still run (the node is stopped or cut off, not known
  // dead), even when the head has not heard that it began: its lock waits
  // for the attempt's lease to end.
  fence_lost_attempt(self->state, t);
  const auto* a = self->state.leases.find(t.rec.id);
  if (a && !a->began) {
    end_attempt(self, t, task_state::queued, "", "",
                {{"reason", "never began: " + reason}, {"handback", "gone_before_start"},
                 {"node", t.rec.node}});
    return;
  }
  json err = {{"kind", lost_kind}, {"ancestors", json::array()}, {"message", message}};
  end_attempt(self, t, task_state::lost, "", err.dump(),
              {{"reason", reason}, {"node", t.rec.node}});
}

void on_done(scheduler_actor_t* self, attempt_done_msg& msg) {
  auto& st = self->state;
  if (msg.began.task_id != 0)
    mark_began(st, msg.began);
  auto i = st.tasks.find(msg.task_id);
  const auto sender = self->current_sender();
  const auto* lease = st.leases.current(msg.task_id, msg.attempt, msg.lease_epoch);
  const bool current = lease && i != st.tasks.end()
                       && i->second.rec.state == task_state::running;
  // The holder of the lease is the process its worker lives in: a result
  // from any other process (a replaced node under the same id) is not its.
  const auto worker = current ? worker_of(st, lease->worker) : caf::actor{};
  const bool holder = current && (!worker || !sender || sender->node() == worker.node());
  if (!holder) {
    // Fenced: a late or duplicate result of a lease that is no longer
    // current, or one sent by another process. Journal it and drop it.
    json detail = {{"outcome", to_string(msg.outcome)},
                   {"lease_epoch", msg.lease_epoch},
                   {"reason", current ? "sent by a process that does not hold the lease"
                                      : "lease is not current"}};
    metrics::record_stale_result();
    journal_store::batch b;
    b.notes.push_back({msg.task_id, msg.attempt, note_kind::stale_result, detail,
                       to_micros(now()), st.cfg.node_id});
    journal(self, std::move(b), [](journal_store::batch_result&) {});
    return;
  }
  auto detail = json::parse(msg.detail, nullptr, false);
  if (!detail.is_object())
    detail = json::object();
  if (msg.outcome == task_state::queued && detail.value("handback", "") == "prefetch_wait") {
    // Its running attempt is long: no more prefetching there until it is idle.
    st.slots.stop_prefetch(lease->worker);
  }
  end_attempt(self, i->second, msg.outcome, msg.result, msg.error,
              std::move(detail));
  try_dispatch(self);
}

/// A worker reports the end of an attempt.
void on_attempt_done(scheduler_actor_t* self, attempt_done_msg& msg) {
  if (auto bad = sanitize_attempt_done(msg)) // a malformed field: FAILED, not a throw
    spdlog::warn("task={} attempt={}: {}", msg.task_id, msg.attempt, *bad);
  on_done(self, msg);
  auto& st = self->state;
  if (st.draining && local_running(st) == 0)
    finish_drain(self);
}

/// Progress, a checkpoint, or the start of a prefetched attempt.
void on_event(scheduler_actor_t* self, attempt_event_msg& ev) {
  if (check_attempt_event(ev)) // the node ends such an attempt itself
    return;
  auto& st = self->state;
  auto i = st.tasks.find(ev.task_id);
  if (i == st.tasks.end() || i->second.rec.attempt != ev.attempt
      || i->second.rec.lease_epoch != ev.lease_epoch)
    return;
  if (ev.kind == attempt_event_kind::began && st.leases.current(ev.task_id, ev.attempt, ev.lease_epoch))
    st.leases.mark_began(ev.task_id);
  if (ev.kind == attempt_event_kind::checkpoint) {
    i->second.checkpoint = ev.data;
    journal_store::batch b;
    b.checkpoints.push_back({ev.task_id, ev.attempt, ev.data, to_micros(now())});
    b.notes.push_back({ev.task_id, ev.attempt, note_kind::checkpoint,
                       json::parse(ev.data, nullptr, false), to_micros(now()),
                       st.cfg.node_id});
    journal(self, std::move(b), [](journal_store::batch_result&) {});
  }
  if (ev.kind == attempt_event_kind::progress)
    st.progress_unwritten[ev.task_id] = {ev.task_id, ev.attempt, ev.data, to_micros(now())};
}

void write_progress(scheduler_actor_t* self) {
  auto& st = self->state;
  const auto now_us = to_micros(now());
  if (st.progress_unwritten.empty() || !st.journal_up
      || now_us - st.progress_written_us < 1'000'000)
    return;
  journal_store::batch b;
  b.progress.reserve(st.progress_unwritten.size());
  for (auto& [id, p] : st.progress_unwritten)
    b.progress.push_back(std::move(p));
  st.progress_unwritten.clear();
  st.progress_written_us = now_us;
  journal(self, std::move(b), [](journal_store::batch_result&) {});
}

void on_node_report(scheduler_actor_t* self, node_report_msg& report) {
  auto& st = self->state;
  st.dispatch_deferred = true;
  for (auto& ev : report.events)
    on_event(self, ev);
  [[maybe_unused]] size_t applied = 0;
  for (auto& msg : report.results) {
    on_attempt_done(self, msg);
    // The window "head killed with a node's report half applied".
    TASKRT_FAULT_HOOK(TASKRT_FAULT_ACTIVE(st.cfg.fault, fault_point::exit_mid_node_report)
                        && report.results.size() >= 2 && ++applied == 1,
      spdlog::critical("fault injection: exiting after applying 1 of {} results of a node "
                       "report (task={} applied; task={} not)",
                       report.results.size(), msg.task_id, report.results[1].task_id);
      std::this_thread::sleep_for(std::chrono::milliseconds(200)); // its commit may land
      fault_exit();
    );
  }
  st.dispatch_deferred = false;
  try_dispatch(self);
}

} // namespace taskrt::scheduler_detail

#include "actors/scheduler.hpp"

#include "actors/retry_actor.hpp"
#include "metrics/taskrt_metrics.hpp"

#include "runtime/limits.hpp"
#include "runtime/message_check.hpp"
#include "runtime/task_error.hpp"
#include "runtime/time.hpp"
#include "sched/lease_table.hpp"
#include "sched/node_registry.hpp"
#include "sched/ready_queue.hpp"
#include "sched/slot_table.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace taskrt {

namespace {

using json = nlohmann::json;

/// A task the scheduler holds in memory: every QUEUED or RUNNING task, and a
/// FAILED/LOST one while its retry decision is pending.
struct live_task {
  task_record rec;
  retry_policy policy;
  std::string checkpoint;
  bool cancel_requested = false;
  /// Its lock is still held for an ended attempt whose decision is pending.
  bool lock_held = false;
  int64_t enqueued_us = 0; ///< when it last became runnable (metrics)
  int64_t started_us = 0;  ///< when its current attempt was dispatched (metrics)
  /// The most recent ended attempts (at most max_history), for strategies.
  std::vector<attempt_record> history;
};

/// How many ended attempts a task keeps in memory for custom strategies.
constexpr size_t max_history = 16;

struct scheduler_state {
  scheduler_config cfg;
  std::unordered_map<int64_t, live_task> tasks;
  sched::ready_queue queue;  ///< QUEUED tasks: ready, waiting on a lock, scheduled
  sched::slot_table slots;   ///< worker slots, the free ones ordered
  sched::lease_table leases; ///< RUNNING attempts and the lease counter
  /// Worker handles by slot id, and back (down messages carry an address).
  std::unordered_map<sched::slot_id, caf::actor> slot_actors;
  std::map<caf::actor_addr, sched::slot_id> slot_ids;
  sched::slot_id last_slot_id = 0;
  std::set<std::string> gauge_queues; ///< queues whose depth /metrics shows
  std::set<caf::actor> local_workers; // those of the head's own node
  /// Nodes: states, heartbeats, the names they run (the head's own included).
  sched::node_registry nodes{"", 0, {}, 0};
  /// The supervisor of each connected worker node, and back (down messages).
  std::unordered_map<std::string, caf::actor> supervisors;
  std::map<caf::actor_addr, std::string> supervised;
  std::unordered_map<int64_t, int64_t> orphans; // task → adopt deadline (µs)
  bool finished = false;
  /// Registrations that arrived before recovery finished: answered after it,
  /// so reported attempts are checked against the recovered tasks.
  std::vector<std::function<void()>> after_recovery;
  std::unordered_map<int64_t, std::vector<caf::typed_response_promise<task_outcome>>>
    waiters;
  int64_t started_us = 0;
  bool recovered = false;
  bool draining = false;
  /// Postgres reachable (persistence says so): else submits are refused and
  /// dispatch pauses; results wait in persistence until it is back.
  bool journal_up = true;
  std::string journal_error;
  int64_t journal_down_since_us = 0;
  int64_t nodes_written_us = 0; ///< last refresh of the nodes rows
  int64_t nodes_pruned_us = 0;  ///< last prune of long-gone nodes
  std::vector<caf::response_promise> deferred; // requests before recovery
  static inline const char* name = "taskrt.scheduler";
};

using scheduler_actor_t = caf::stateful_actor<scheduler_state>;

task_outcome outcome_of(const task_record& r) {
  return {r.id, r.state, r.attempt, r.result, r.last_error};
}

/// `t` is QUEUED: ready now, on its lock's wait list, or scheduled.
void enqueue(scheduler_state& st, live_task& t) {
  const auto& r = t.rec;
  t.enqueued_us = to_micros(now());
  st.queue.push({r.id, r.queue, r.name, r.lock, r.priority, r.run_at_us}, t.enqueued_us);
}

/// `t` leaves the ready queue (it starts, is cancelled, or moves).
void unqueue(scheduler_state& st, const live_task& t) {
  st.queue.remove(t.rec.id);
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

/// Sends `b` to persistence and runs `then` with the result after the commit,
/// or `on_error` when the journal refused it (a data error in this batch, or
/// submits while the journal is down). Never throws inside the actor.
template <class F, class E>
void journal(scheduler_actor_t* self, journal_store::batch b, F then, E on_error) {
  self->request(self->state.cfg.persistence, caf::infinite, std::move(b))
    .then([then](journal_store::batch_result& r) mutable { then(r); },
          [on_error](caf::error& e) mutable { on_error(e); });
}

/// As above; a refusal is logged (notes and checkpoints: nothing else hangs
/// on them).
template <class F>
void journal(scheduler_actor_t* self, journal_store::batch b, F then) {
  journal(self, std::move(b), std::move(then), [](caf::error& e) {
    spdlog::error("journal refused a write: {}", error_message(e));
  });
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

/// A task reached a final state (committed): answer its waiters, forget it.
void finalize(scheduler_actor_t* self, int64_t id) {
  auto& st = self->state;
  auto i = st.tasks.find(id);
  if (i == st.tasks.end())
    return;
  auto out = outcome_of(i->second.rec);
  st.tasks.erase(i);
  auto w = st.waiters.find(id);
  if (w != st.waiters.end()) {
    for (auto& p : w->second)
      p.deliver(out);
    st.waiters.erase(w);
  }
}

void try_dispatch(scheduler_actor_t* self);

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

void start_attempt(scheduler_actor_t* self, live_task& t, sched::slot_id sid) {
  auto& st = self->state;
  auto& r = t.rec;
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
  const bool fault_now = st.cfg.fault == "exit_after_dispatch" && r.node != st.cfg.node_id;
  if (!fault_now)
    journal(self, std::move(b), [](journal_store::batch_result&) {});
  dispatch_msg d;
  d.task_id = r.id;
  d.attempt = r.attempt;
  d.lease_epoch = r.lease_epoch;
  d.name = r.name;
  d.args = r.args;
  d.checkpoint = t.checkpoint;
  d.last_attempt = is_last_attempt(t.policy, r.attempt - r.retry_base);
  d.time_limit_s = r.time_limit_s;
  d.stuck_timeout_s = st.cfg.stuck_timeout_s;
  d.prefetched = !began;
  d.task_attempt = r.attempt - r.unstarted;
  self->send(worker_of(st, sid), std::move(d));
  if (fault_now) {
    // The window "head killed after the dispatch, before the start commit".
    spdlog::critical("fault injection: exiting after the dispatch of task={} lease={}, "
                     "before its start commit",
                     r.id, r.lease_epoch);
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // the dispatch leaves
    std::fflush(nullptr);
    std::_Exit(137);
  }
}

/// Dispatches while a free slot (least loaded first) has a ready task it
/// may run; a slot with none is skipped for the rest of this round.
void try_dispatch(scheduler_actor_t* self) {
  auto& st = self->state;
  if (!st.recovered || st.draining || !st.journal_up)
    return;
  st.queue.promote_due(to_micros(now()));
  std::unordered_set<sched::slot_id> skip; // nothing runnable for them now
  while (st.queue.has_ready()) {
    const auto sid = st.slots.next(skip);
    if (sid == 0)
      return;
    auto id = pick_for(st, *st.slots.find(sid));
    if (id == 0) {
      skip.insert(sid);
      continue;
    }
    start_attempt(self, st.tasks.at(id), sid);
  }
}

/// Frees `t`'s worker slot and, unless `keep_lock`, its lock.
void release(scheduler_state& st, live_task& t, bool keep_lock) {
  if (!t.rec.lock.empty() && !keep_lock)
    st.queue.release(t.rec.lock);
  if (const auto* a = st.leases.find(t.rec.id); a && a->worker != 0)
    st.slots.unassign(a->worker);
  st.orphans.erase(t.rec.id);
  st.leases.remove(t.rec.id);
}

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

void close_attempt(scheduler_actor_t* self, int64_t id, task_state outcome,
                   const std::string& result, const std::string& error, json detail);

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
    st.queue.release(t.rec.lock);
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
      b.notes.push_back({id, t.rec.attempt, "retry_decision", detail, to_micros(now()),
                         st.cfg.node_id});
      if (d.retry)
        b.transitions.push_back(retry_transition(t.rec, d));
      journal(self, std::move(b), [self, id, d](journal_store::batch_result& r) {
        auto& st = self->state;
        auto i = st.tasks.find(id);
        if (i == st.tasks.end())
          return;
        if (!d.retry || r.applied.empty() || !r.applied[0]) {
          st.tasks.erase(i);
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
    b.notes.push_back({msg.task_id, msg.attempt, "stale_result", detail,
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
  if (item.spec.run_at_us == 0)
    item.spec.run_at_us = item.now_us;
  auto& rec = p.rec;
  rec.name = item.spec.name;
  rec.args = item.spec.args;
  rec.queue = item.queue;
  rec.priority = item.spec.priority;
  rec.lock = item.spec.lock;
  rec.policy = item.resolved_policy;
  rec.run_at_us = item.spec.run_at_us;
  rec.time_limit_s = item.time_limit_s;
  rec.parent_id = item.spec.parent_id;
  rec.created_us = item.now_us;
  p.policy = std::move(policy);
  return p;
}

/// Journals `specs` in one commit and replies with their ids in order (all
/// or none: the first bad spec refuses the batch). A submit whose key names
/// an existing task creates nothing and gets that task's id.
template <class Reply>
caf::result<Reply> submit_all(scheduler_actor_t* self, std::vector<task_spec> specs,
                              std::function<Reply(std::vector<int64_t>)> reply) {
  auto& st = self->state;
  if (st.draining)
    return make_error(errc::shutting_down, "the head is draining and accepts no new tasks");
  if (!st.journal_up)
    return make_error(errc::unavailable, "journal unavailable (" + st.journal_error
                                           + "): nothing was submitted; try again later");
  std::vector<prepared_submit> prepared;
  prepared.reserve(specs.size());
  journal_store::batch b;
  for (size_t i = 0; i < specs.size(); ++i) {
    auto p = prepare_submit(st, std::move(specs[i]));
    if (!p) {
      if (specs.size() == 1)
        return std::move(p.error());
      return make_error(errc::bad_request, "task " + std::to_string(i) + " of the batch: "
                                             + error_message(p.error()));
    }
    b.submits.push_back(p->item);
    prepared.push_back(std::move(*p));
  }
  auto rp = self->make_response_promise<Reply>();
  journal(
    self, std::move(b),
    [self, rp, prepared = std::move(prepared),
     reply = std::move(reply)](journal_store::batch_result& r) mutable {
      auto& st = self->state;
      journal_store::batch waiting;
      for (size_t i = 0; i < prepared.size(); ++i) {
        if (i < r.existing.size() && r.existing[i])
          continue; // the key's task exists: nothing new to hold
        auto& rec = prepared[i].rec;
        rec.id = r.submitted_ids.at(i);
        if (!st.nodes.runnable(rec.name))
          waiting.notes.push_back({rec.id, 0, "waiting",
                                   {{"reason", "no ALIVE node runs " + rec.name}},
                                   to_micros(now()), st.cfg.node_id});
        metrics::record_transition(rec.name, task_state::queued);
        auto& t = st.tasks[rec.id];
        t.rec = std::move(rec);
        t.policy = std::move(prepared[i].policy);
        enqueue(st, t);
      }
      rp.deliver(reply(std::move(r.submitted_ids)));
      if (!waiting.empty())
        journal(self, std::move(waiting), [](journal_store::batch_result&) {});
      try_dispatch(self);
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

/// Runs `fn(record)` with the row of a task that is not in memory (final).
/// `on_error` gets the journal's refusal (unavailable during an outage).
template <class F, class E, class R>
void with_stored_task(scheduler_actor_t* self, int64_t id, F fn, E on_missing, R on_error) {
  self->request(self->state.cfg.persistence, caf::infinite, caf::get_atom::value, id)
    .then(
      [fn, on_missing](std::vector<task_record>& rows) mutable {
        if (rows.empty())
          on_missing();
        else
          fn(rows.front());
      },
      [on_error](caf::error& e) mutable { on_error(e); });
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
      auto i = st.tasks.find(id);
      if (i != st.tasks.end() && i->second.rec.state == task_state::queued)
        enqueue(st, i->second);
      rp.deliver(id);
      try_dispatch(self);
    },
    [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<int64_t> on_manual_retry(scheduler_actor_t* self, manual_retry_msg& m) {
  auto& st = self->state;
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
      if (rec.state == task_state::queued || rec.state == task_state::running
          || check_transition(rec.state, transition_kind::manual_retry)) {
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
      rec.state = task_state::queued;
      rec.retry_base = rec.attempt; // the budget starts afresh from here
      rec.run_at_us = m.run_at_us > 0 ? m.run_at_us : to_micros(now());
      auto tr = make_transition(rec, transition_kind::manual_retry, from, rec.attempt);
      tr.retry_base = rec.retry_base;
      if (m.set_priority)
        rec.priority = *(tr.priority = m.priority);
      if (!m.queue.empty())
        rec.queue = *(tr.queue = m.queue);
      if (!m.lock.empty())
        rec.lock = *(tr.lock = m.lock);
      tr.detail = {{"origin", m.origin}, {"run_at", to_rfc3339(from_micros(rec.run_at_us))}};
      auto& t = st.tasks[rec.id];
      t.rec = rec;
      t.policy = policy;
      journal_store::batch b;
      b.transitions.push_back(std::move(tr));
      journal(self, std::move(b), [self, rp, id = rec.id](journal_store::batch_result& r) mutable {
        auto& st = self->state;
        if (r.applied.empty() || !r.applied[0]) {
          st.tasks.erase(id);
          rp.deliver(make_error(errc::illegal_state, "the task changed concurrently; try again"));
          return;
        }
        enqueue(st, st.tasks.at(id));
        rp.deliver(id);
        try_dispatch(self);
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
  auto i = st.tasks.find(id);
  if (i == st.tasks.end()) {
    auto rp = self->make_response_promise<task_state>();
    with_stored_task(
      self, id,
      [rp](const task_record& rec) mutable {
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
  // Journaled first (a restarted head delivers it again after adoption),
  // then delivered to the attempt's worker.
  t.cancel_requested = true;
  journal_store::batch b;
  b.notes.push_back({id, t.rec.attempt, "cancel_requested",
                     {{"origin", origin}}, to_micros(now()), st.cfg.node_id});
  const auto state = t.rec.state;
  journal(self, std::move(b), [self, id](journal_store::batch_result&) {
    auto& st = self->state;
    if (st.cfg.fault == "exit_before_cancel_delivery") {
      spdlog::critical("fault injection: exiting after the cancel of task={} was journaled, "
                       "before it was delivered",
                       id);
      std::fflush(nullptr);
      std::_Exit(137);
    }
    auto i = st.tasks.find(id);
    const auto* a = st.leases.find(id);
    if (i != st.tasks.end() && i->second.rec.state == task_state::running && a && a->worker)
      if (auto w = worker_of(st, a->worker))
        self->send(w, cancel_atom::value, id);
  });
  return state;
}

void set_node_state(scheduler_actor_t* self, const std::string& id, sched::node_state state);

void recover(scheduler_actor_t* self) {
  auto& st = self->state;
  self->request(st.cfg.persistence, caf::infinite, load_atom::value)
    .then([self](recovery_data& data) {
      auto& st = self->state;
      st.leases.set_generation(data.generation);
      size_t queued = 0, lost = 0;
      std::vector<int64_t> cancelled, undecided;
      for (auto& rec : data.tasks) {
        auto& t = st.tasks[rec.id];
        auto parsed = parse_retry_policy(rec.policy);
        t.policy = std::holds_alternative<retry_policy>(parsed)
                     ? std::get<retry_policy>(parsed)
                     : retry_policy::cluster_default();
        auto cp = data.checkpoints.find(rec.id);
        if (cp != data.checkpoints.end())
          t.checkpoint = cp->second;
        t.rec = std::move(rec);
        t.cancel_requested = t.rec.cancel_requested;
        if (t.rec.state == task_state::queued && t.cancel_requested) {
          cancelled.push_back(t.rec.id); // handed back while a cancel was pending
        } else if (t.rec.state == task_state::queued) {
          enqueue(st, t);
          ++queued;
        } else if (t.rec.state == task_state::failed || t.rec.state == task_state::lost) {
          undecided.push_back(t.rec.id);
        }
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
        if (!t.rec.lock.empty())
          st.queue.hold(t.rec.lock);
        if (!t.rec.node.empty() && t.rec.node != st.cfg.node_id) {
          st.orphans[t.rec.id] = deadline;
          continue;
        }
        ++lost;
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
      spdlog::info("scheduler recovered generation={} queued={} lost={} undecided={} "
                   "awaiting_adoption={}",
                   st.leases.generation(), queued, lost, undecided.size(), st.orphans.size());
      auto pending = std::move(st.after_recovery);
      st.after_recovery.clear();
      for (auto& f : pending)
        f();
      try_dispatch(self);
    });
}

/// Attempts running on the head's own workers (remote nodes keep theirs
/// across a head restart).
int64_t local_running(const scheduler_state& st);

void finish_drain(scheduler_actor_t* self) {
  auto& st = self->state;
  if (st.finished)
    return;
  st.finished = true;
  for (auto& w : st.local_workers)
    self->send_exit(w, caf::exit_reason::user_shutdown);
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


/// Forgets the slots of `node` (it is gone; it announces them again when it
/// re-registers).
void forget_slots_of(scheduler_state& st, const std::string& node) {
  for (auto id : st.slots.erase_node(node))
    forget_slot(st, id);
}

/// RUNNING attempts on `node` (kept per node as attempts start and end).
int32_t running_on(const scheduler_state& st, const std::string& node) {
  return st.leases.count_on(node);
}

int64_t local_running(const scheduler_state& st) {
  return running_on(st, st.cfg.node_id);
}

/// The row of `n` as the nodes table keeps it.
node_row node_row_of(const scheduler_state& st, const sched::node_entry& n) {
  node_row row;
  row.id = n.info.id;
  row.address = n.info.host;
  row.slots = n.info.slots;
  row.running = running_on(st, n.info.id);
  row.state = to_string(n.state);
  row.last_heartbeat_us = n.last_heartbeat_us;
  row.started_us = n.started_us;
  return row;
}

/// True when node `n` is gone (DEAD or LEFT).
bool gone(const sched::node_entry& n) {
  return n.state == sched::node_state::dead || n.state == sched::node_state::left;
}

/// Node `id` is in `state` now: logged when it changed, its slots open only
/// while ALIVE, its row journaled.
void set_node_state(scheduler_actor_t* self, const std::string& id, sched::node_state state) {
  auto& st = self->state;
  const auto* n = st.nodes.find(id);
  if (!n)
    return;
  const auto before = n->state;
  if (st.nodes.set_state(id, state))
    spdlog::info("node {} {} -> {}", id, to_string(before), to_string(state));
  st.slots.set_node_open(id, state == sched::node_state::alive);
  self->send(st.cfg.persistence, node_row_of(st, *n));
}

/// The supervisor of connected node `id`, or null.
caf::actor supervisor_of(const scheduler_state& st, const std::string& id) {
  auto i = st.supervisors.find(id);
  return i == st.supervisors.end() ? caf::actor{} : i->second;
}

/// Node `id` is connected through `sup` (null: its connection is gone).
void set_supervisor(scheduler_state& st, const std::string& id, const caf::actor& sup) {
  auto i = st.supervisors.find(id);
  if (i != st.supervisors.end()) {
    auto j = st.supervised.find(i->second.address());
    if (j != st.supervised.end() && j->second == id)
      st.supervised.erase(j);
    st.supervisors.erase(i);
  }
  if (sup) {
    st.supervisors.emplace(id, sup);
    st.supervised[sup.address()] = id;
  }
  st.nodes.set_connected(id, static_cast<bool>(sup));
}

std::vector<node_view> node_views(const scheduler_state& st) {
  std::vector<node_view> out;
  for (const auto& kv : st.nodes.nodes()) {
    const auto& n = kv.second;
    out.push_back({n.info.id, to_string(n.state), n.info.slots, running_on(st, n.info.id),
                   n.last_heartbeat_us});
  }
  return out;
}

/// A node is gone: its RUNNING attempts end LOST (and go to the retry actor).
void declare_dead(scheduler_actor_t* self, const std::string& id, const std::string& reason) {
  auto& st = self->state;
  const auto* n = st.nodes.find(id);
  if (!n || gone(*n))
    return;
  spdlog::warn("node {} declared dead: {}", id, reason);
  set_node_state(self, id, sched::node_state::dead);
  for (auto task : st.leases.on_node(id))
    end_orphaned(self, st.tasks.at(task), "node " + id + " is gone: " + reason,
                 "node dead: " + reason);
  forget_slots_of(st, id);
}

void on_ready(scheduler_actor_t* self, worker_info& info, caf::actor& w) {
  auto& st = self->state;
  const auto* n = st.nodes.find(info.node);
  if (!n || gone(*n))
    return; // it registers (again) first
  // A slot must live in the process that registered its node: otherwise any
  // peer could offer a worker under another node's name and receive its tasks.
  const auto sup = supervisor_of(st, info.node);
  const auto owner = info.node == st.cfg.node_id ? self->node()
                     : sup                       ? sup.node()
                                                 : caf::node_id{};
  if (!w || w.node() != owner) {
    spdlog::warn("ignored a worker slot offered for node {} by another process", info.node);
    return;
  }
  const auto* known = st.slots.find(known_slot(st, w.address()));
  if (!known || !known->ready)
    self->monitor(w);
  if (info.node == st.cfg.node_id)
    st.local_workers.insert(w);
  st.slots.announce(slot_of(st, w), {std::move(info.node), info.index, info.pid,
                                     std::move(info.queues), info.capacity});
  try_dispatch(self);
}

/// Refuses a registration under the head's own node id, or under an id whose
/// node still holds a live connection (a second process with the same
/// --node-id): the old node keeps its attempts and its locks, the new
/// process gets this error and exits (cluster/worker_node.cpp).
std::optional<caf::error> refuse_registration(const scheduler_state& st, const node_info& info,
                                              const caf::actor& sup) {
  if (info.id == st.cfg.node_id)
    return make_error(errc::illegal_state, "node id '" + info.id + "' is the head's own; "
                                           "give this node another --node-id");
  const auto* n = st.nodes.find(info.id);
  if (!n)
    return std::nullopt;
  const auto old = supervisor_of(st, info.id);
  if (!old || old == sup || gone(*n))
    return std::nullopt; // a rejoin, or the old one is gone
  return make_error(errc::illegal_state,
                    "node id '" + info.id + "' is already registered by a live node (pid "
                      + std::to_string(n->info.pid) + " on " + n->info.host
                      + "); give this node another --node-id, or stop the other one first");
}

register_reply on_register(scheduler_actor_t* self, node_info& info,
                           std::vector<running_attempt>& running, caf::actor sup) {
  auto& st = self->state;
  const auto old = supervisor_of(st, info.id);
  if (old && old != sup)
    declare_dead(self, info.id, "replaced by a new registration");
  const auto before = st.nodes.register_node(
    {info.id, info.host, info.slots, info.pid, info.queues, info.tasks}, to_micros(now()));
  const bool rejoin = before == sched::node_state::dead;
  set_supervisor(st, info.id, sup);
  self->monitor(sup);
  register_reply reply;
  reply.heartbeat_s = st.cfg.heartbeat_s;
  journal_store::batch b;
  for (auto& ra : running) {
    auto i = st.tasks.find(ra.task_id);
    const auto* lease = st.leases.current(ra.task_id, ra.attempt, ra.lease_epoch);
    const bool current = lease && lease->node == info.id && i != st.tasks.end()
                         && i->second.rec.state == task_state::running;
    if (current) {
      auto& t = i->second;
      if (!st.slots.find(known_slot(st, ra.worker.address())))
        self->monitor(ra.worker);
      assign(st, t, ra.worker);
      st.orphans.erase(ra.task_id);
      if (t.cancel_requested) // requested before the restart: deliver it again
        self->send(ra.worker, cancel_atom::value, ra.task_id);
      b.notes.push_back({ra.task_id, ra.attempt, "adopted",
                         {{"node", info.id}, {"lease_epoch", ra.lease_epoch}},
                         to_micros(now()), info.id});
    } else {
      reply.drop.push_back(ra);
      b.notes.push_back({ra.task_id, ra.attempt, "fenced_attempt",
                         {{"node", info.id},
                          {"lease_epoch", ra.lease_epoch},
                          {"reason", "the attempt was declared LOST meanwhile; the node drops it"}},
                         to_micros(now()), info.id});
    }
  }
  if (!b.empty())
    journal(self, std::move(b), [](journal_store::batch_result&) {});
  spdlog::info("node {} {} slots={} queues={} reported_running={} dropped={}", info.id,
               rejoin ? "rejoined" : "registered", info.slots, info.queues.size(),
               running.size(), reply.drop.size());
  if (before && before != sched::node_state::alive)
    spdlog::info("node {} {} -> ALIVE", info.id, to_string(*before));
  set_node_state(self, info.id, sched::node_state::alive); // writes its row
  return reply;
}

void on_down(scheduler_actor_t* self, caf::down_msg& d) {
  auto& st = self->state;
  if (auto i = st.supervised.find(d.source); i != st.supervised.end()) {
    const auto id = i->second;
    set_supervisor(st, id, nullptr);
    declare_dead(self, id, "connection lost (" + to_string(d.reason) + ")");
    return;
  }
  // A worker actor went away: its slot is gone; its attempts are LOST.
  const auto sid = known_slot(st, d.source);
  if (sid == 0 || !st.slots.find(sid))
    return;
  st.local_workers.erase(worker_of(st, sid));
  for (auto id : st.leases.on_worker(sid)) {
    auto& t = st.tasks.at(id);
    if (t.rec.state == task_state::running)
      end_orphaned(self, t, "worker unreachable", "worker unreachable");
  }
  forget_slot(st, sid);
}

/// How often every live node's row (running count, last heartbeat) is
/// written, so `taskrt nodes` tells the truth while the head is down too.
constexpr int64_t node_rows_every_us = 2'000'000;

/// DEAD and LEFT nodes are forgotten (in memory and in the nodes table)
/// this long after they were last heard of; node ids that come and go
/// (replicas of a Deployment) do not pile up.
constexpr int64_t node_ttl_us = 24LL * 3600 * 1'000'000;

/// Writes the rows of the nodes that are not DEAD or LEFT in one message, and
/// now and then forgets the nodes gone for longer than node_ttl_us.
void refresh_node_rows(scheduler_actor_t* self, int64_t t) {
  auto& st = self->state;
  st.nodes_written_us = t;
  st.nodes.heard(st.cfg.node_id, t); // the head hears itself
  st.nodes.expire(t, node_ttl_us);
  std::vector<node_row> rows;
  for (const auto& kv : st.nodes.nodes())
    if (!gone(kv.second))
      rows.push_back(node_row_of(st, kv.second));
  self->send(st.cfg.persistence, std::move(rows));
  if (t - st.nodes_pruned_us > node_ttl_us / 24) {
    st.nodes_pruned_us = t;
    self->request(st.cfg.persistence, caf::infinite, prune_atom::value, t - node_ttl_us)
      .then([](int64_t n) {
        if (n > 0)
          spdlog::info("forgot {} node(s) DEAD or LEFT for over a day", n);
      },
      [](caf::error& e) { spdlog::warn("pruning node rows failed: {}", error_message(e)); });
  }
}

/// True when the current message about node `n` comes from the process that
/// registered it (the head's own node: from the head's process). Anything
/// else (a client, another node) is refused and logged: no peer can drain,
/// retire or keep alive a node it is not.
bool sent_by_node(scheduler_actor_t* self, const std::string& id, const char* what) {
  const auto sender = self->current_sender();
  const bool own = id == self->state.cfg.node_id;
  const auto sup = supervisor_of(self->state, id);
  const bool ok = sender
                  && (own ? sender->node() == self->node()
                          : sup && sender->node() == sup.node());
  if (!ok)
    spdlog::warn("ignored {} of node {} from a process that did not register it", what, id);
  return ok;
}

/// The gauges of /metrics: tasks the head holds by state, nodes by state,
/// slots, and per queue its depth and the age of its oldest runnable task.
void publish_gauges(scheduler_state& st, int64_t t) {
  std::map<task_state, int64_t> tasks;
  std::map<std::string, std::pair<int64_t, int64_t>> queues; // depth, oldest ready
  for (const auto& kv : st.tasks) {
    const auto& r = kv.second.rec;
    ++tasks[r.state];
    if (r.state == task_state::queued) {
      auto& q = queues[r.queue];
      ++q.first;
      const auto since = std::max(kv.second.enqueued_us, r.run_at_us);
      if (since <= t && (q.second == 0 || since < q.second))
        q.second = since;
    }
  }
  metrics::set_tasks(tasks);
  for (const auto& name : st.gauge_queues)
    queues.emplace(name, std::pair<int64_t, int64_t>{0, 0}); // emptied queues go to 0
  for (const auto& [name, q] : queues) {
    st.gauge_queues.insert(name);
    metrics::set_queue(name, q.first,
                       q.second == 0 ? 0.0 : static_cast<double>(t - q.second) / 1e6);
  }
  metrics::set_nodes(st.nodes.count_by_state());
  const auto [ready, busy] = st.slots.ready_and_busy();
  metrics::set_slots(busy, ready - busy);
}

/// Heartbeat timeouts of worker nodes and adoption deadlines after a restart.
void check_nodes(scheduler_actor_t* self) {
  auto& st = self->state;
  const auto t = to_micros(now());
  if (st.recovered && st.journal_up && t - st.nodes_written_us >= node_rows_every_us) {
    refresh_node_rows(self, t);
    publish_gauges(st, t);
  }
  const sched::node_timeouts timeouts{st.cfg.suspect_after_s, st.cfg.dead_after_s,
                                       st.cfg.adopt_grace_s};
  for (const auto& v : st.nodes.check(t, timeouts)) {
    if (v.to == sched::node_state::dead)
      declare_dead(self, v.id, v.reason);
    else
      set_node_state(self, v.id, v.to); // SUSPECT: no dispatches until it is heard again
  }
  std::vector<int64_t> expired;
  for (auto& kv : st.orphans)
    if (kv.second <= t)
      expired.push_back(kv.first);
  for (auto id : expired) {
    auto& task = st.tasks.at(id);
    json err = {{"kind", lost_kind},
                {"ancestors", json::array()},
                {"message", "node " + task.rec.node
                              + " did not re-register after the head restarted"}};
    end_attempt(self, task, task_state::lost, "", err.dump(),
                {{"reason", "not adopted after head restart"}, {"node", task.rec.node}});
  }
}


/// `await`: the outcome of task `id` once it is final (at once when it is).
caf::result<task_outcome> on_await(scheduler_actor_t* self, int64_t id) {
  auto& st = self->state;
  auto rp = self->make_response_promise<task_outcome>();
  if (st.tasks.count(id)) {
    st.waiters[id].push_back(rp);
    return rp;
  }
  with_stored_task(
    self, id,
    [self, rp, id](const task_record& rec) mutable {
      auto& st = self->state;
      if (is_terminal(rec.state) || !st.recovered)
        rp.deliver(outcome_of(rec));
      else if (st.tasks.count(id))
        st.waiters[id].push_back(rp);
      else
        rp.deliver(outcome_of(rec));
    },
    [rp, id]() mutable { rp.deliver(not_found(id)); },
    [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

/// `status`: a short summary of the head.
head_status on_status(const scheduler_state& st) {
  head_status s;
  s.node_id = st.cfg.node_id;
  s.started_us = st.started_us;
  std::tie(s.workers, s.busy) = st.slots.ready_and_busy();
  s.running = static_cast<int64_t>(st.leases.size());
  s.queued = 0;
  for (const auto& kv : st.tasks)
    s.queued += kv.second.rec.state == task_state::queued ? 1 : 0;
  s.draining = st.draining;
  s.recovered = st.recovered;
  s.journal_up = st.journal_up;
  s.journal_error = st.journal_error;
  s.journal_down_since_us = st.journal_down_since_us;
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

/// A worker is not ready (its process restarts): no dispatches to it.
void on_unready(scheduler_state& st, const caf::actor& w) {
  if (auto sid = known_slot(st, w.address()))
    st.slots.set_unready(sid);
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

/// A node registers: checked (its certificate under TLS, then its id),
/// answered after recovery.
caf::result<register_reply> on_register_request(scheduler_actor_t* self, node_info& info,
                                                std::vector<running_attempt>& running) {
  auto& st = self->state;
  auto sup = caf::actor_cast<caf::actor>(self->current_sender());
  auto rp = self->make_response_promise<register_reply>();
  auto proceed = [self, rp, info, running, sup]() mutable {
    if (auto refusal = refuse_registration(self->state, info, sup))
      rp.deliver(std::move(*refusal));
    else
      rp.deliver(on_register(self, info, running, sup));
  };
  auto after_checks = [self, proceed]() mutable {
    if (self->state.recovered)
      proceed();
    else
      self->state.after_recovery.push_back(proceed);
  };
  if (!st.cfg.node_authority || !sup || sup.node() == self->node()) {
    after_checks();
    return rp;
  }
  // TLS: the certificate of the sender's connection must allow the id.
  self->request(st.cfg.node_authority, std::chrono::seconds(15), register_atom::value,
                sup.node(), info.id)
    .then(
      [self, rp, after_checks, id = info.id](const std::string& refusal) mutable {
        if (refusal.empty())
          return after_checks();
        spdlog::warn("refused registration of node {}: {}", id, refusal);
        rp.deliver(make_error(errc::illegal_state, refusal));
      },
      [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

/// A heartbeat of `node`; false tells it to register again.
bool on_heartbeat(scheduler_actor_t* self, const std::string& node) {
  auto& st = self->state;
  const auto* n = st.nodes.find(node);
  if (!n || gone(*n) || !sent_by_node(self, node, "heartbeat"))
    return false; // the node must register again
  st.nodes.heard(node, to_micros(now()));
  if (n->state == sched::node_state::suspect) {
    set_node_state(self, node, sched::node_state::alive);
    try_dispatch(self);
  }
  return true;
}

/// `node` drains (DRAINING) or leaves (LEFT), if it says so itself.
void on_node_leaving(scheduler_actor_t* self, const std::string& node, sched::node_state to) {
  auto& st = self->state;
  if (st.nodes.find(node)
      && sent_by_node(self, node, to == sched::node_state::left ? "leave" : "drain"))
    set_node_state(self, node, to);
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
  if (ev.kind == "began" && st.leases.current(ev.task_id, ev.attempt, ev.lease_epoch))
    st.leases.mark_began(ev.task_id);
  if (ev.kind == "checkpoint") {
    i->second.checkpoint = ev.data;
    journal_store::batch b;
    b.checkpoints.push_back({ev.task_id, ev.attempt, ev.data, to_micros(now())});
    b.notes.push_back({ev.task_id, ev.attempt, "checkpoint",
                       json::parse(ev.data, nullptr, false), to_micros(now()),
                       st.cfg.node_id});
    journal(self, std::move(b), [](journal_store::batch_result&) {});
  }
}

} // namespace

caf::actor spawn_scheduler(caf::actor_system& sys, scheduler_config cfg) {
  return sys.spawn([cfg](scheduler_actor_t* self) -> caf::behavior {
    auto& st = self->state;
    st.cfg = cfg;
    st.started_us = to_micros(now());
    st.nodes = sched::node_registry(cfg.node_id, cfg.local_slots, cfg.registry->names(),
                                    st.started_us);
    st.slots.set_node_open(cfg.node_id, true);
    self->send(cfg.persistence, journal_atom::value, caf::actor_cast<caf::actor>(self));
    self->set_down_handler([self](caf::down_msg& d) { on_down(self, d); });
    recover(self);
    self->delayed_send(self, std::chrono::milliseconds(20), tick_atom::value);
    return {
      [self](submit_atom, task_spec& spec) { return on_submit(self, spec); },
      [self](submit_atom, std::vector<task_spec>& specs) { return on_submit_many(self, specs); },
      [self](await_atom, int64_t id) { return on_await(self, id); },
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
      [self](register_atom, node_info& info, std::vector<running_attempt>& running) {
        return on_register_request(self, info, running);
      },
      [self](heartbeat_atom, const std::string& node, int32_t) {
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
        try_dispatch(self);
        self->delayed_send(self, std::chrono::milliseconds(20), tick_atom::value);
      },
    };
  });
}

} // namespace taskrt

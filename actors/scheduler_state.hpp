#pragma once
/// The scheduler actor's state and the handlers it is made of, shared by
/// its files (internal to actors/): scheduler.cpp wires messages to them;
/// scheduler_dispatch.cpp, scheduler_attempts.cpp, scheduler_api.cpp,
/// scheduler_recovery.cpp and scheduler_nodes.cpp hold them. The scheduling
/// decisions themselves live in the CAF-free core, sched/.

#include "taskrt/actors/retry_actor.hpp"
#include "taskrt/actors/scheduler.hpp"
#include "taskrt/metrics/taskrt_metrics.hpp"
#include "taskrt/runtime/lease.hpp"
#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/message_check.hpp"
#include "taskrt/runtime/task_error.hpp"
#include "taskrt/runtime/time.hpp"
#include "taskrt/sched/lease_table.hpp"
#include "taskrt/sched/node_registry.hpp"
#include "taskrt/sched/queue_window.hpp"
#include "taskrt/sched/ready_queue.hpp"
#include "taskrt/sched/limit_gate.hpp"
#include "taskrt/sched/slot_table.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace taskrt::scheduler_detail {

using json = nlohmann::json;

/// A task the scheduler holds in memory: every RUNNING task, the QUEUED ones
/// of the queue windows (all of a queue that is not spilled) and those
/// scheduled for later, and a FAILED/LOST one while its retry decision is
/// pending.
struct live_task {
  task_record rec;
  retry_policy policy;
  std::string checkpoint;
  bool cancel_requested = false;
  /// Its lock is still held for an ended attempt whose decision is pending.
  bool lock_held = false;
  /// Its attempt was lost with its node or worker (the process may still
  /// run): its lock is not handed on before this instant (monotonic ns;
  /// 0: at once).
  int64_t lock_fence_ns = 0;
  int64_t enqueued_us = 0; ///< when it last became runnable (metrics)
  int64_t started_us = 0;  ///< when its current attempt was dispatched (metrics)
  /// The most recent ended attempts (at most max_history), for strategies.
  std::vector<attempt_record> history;
};

/// How many ended attempts a task keeps in memory for custom strategies.
constexpr size_t max_history = 16;

/// How often heartbeats, adoption deadlines and node rows are checked: a
/// sixth of the heartbeat timeout, between 50 and 500 ms. Work is dispatched
/// on events (a submit, a result, a free slot) and scheduled tasks on a timer
/// armed for the next one due, never by polling: an idle head wakes twice a
/// second, so CAF's worker threads sleep instead of spinning.
inline std::chrono::milliseconds check_interval(const scheduler_config& cfg) {
  const auto ms = static_cast<int64_t>(cfg.suspect_after_s * 1000 / 6);
  return std::chrono::milliseconds(std::clamp<int64_t>(ms, 50, 500));
}

/// Everything the scheduler actor holds: the tasks in memory, the core's
/// tables (sched/), the CAF handles they stand for, and the head's flags.
struct scheduler_state {
  scheduler_config cfg;
  std::unordered_map<int64_t, live_task> tasks;
  sched::ready_queue queue;  ///< QUEUED tasks: ready, waiting on a lock, scheduled
  /// QUEUED tasks with limit keys until their limits let them into `queue`.
  sched::limit_gate gate;
  std::set<std::string> limit_keys_set;  ///< keys with a limit (as last loaded)
  /// The limits were loaded from Postgres once: until then no task with
  /// limit keys starts (a new head could otherwise start them unlimited).
  bool limits_loaded = false;
  std::set<std::string> gauge_limit_keys; ///< keys /metrics showed throttled tasks of
  sched::queue_window window; ///< which due QUEUED tasks are in memory, per queue
  std::set<std::string> window_held; ///< queues that held tasks since the last trim
  /// The highest task id whose submit was acknowledged to the scheduler (a
  /// refill leaves the rows above it to their acknowledgement).
  int64_t max_acked_id = 0;
  /// Every QUEUED task scheduled up to here is held (or windowed); the later
  /// ones are in the journal only, `later_outside` of them as counted.
  int64_t loaded_until_us = 0;
  int64_t later_outside = 0;
  /// WAITING tasks (journal only): the load's count, moved by every commit
  /// that submits, releases, cancels or rewaits one; /metrics shows it.
  int64_t waiting = 0;
  bool later_reading = false; ///< a read of the next scheduled tasks is in flight
  std::unordered_set<int64_t> later_touched; ///< left the journal during that read
  sched::slot_table slots;   ///< worker slots, the free ones ordered
  sched::lease_table leases; ///< RUNNING attempts and the lease counter
  /// Worker handles by slot id, and back (down messages carry an address).
  std::unordered_map<sched::slot_id, caf::actor> slot_actors;
  std::map<caf::actor_addr, sched::slot_id> slot_ids;
  sched::slot_id last_slot_id = 0;
  std::set<std::string> gauge_queues; ///< queues whose depth /metrics shows
  /// QUEUED tasks out of the ready queue while a manual retry of theirs is
  /// journaled (every other QUEUED task is in `queue`).
  std::unordered_set<int64_t> queued_aside;
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
  /// `watch`: who gets each task's outcome when it ends, and the outcomes
  /// gathered per watcher until the next flush (at most about 1 ms later).
  std::unordered_map<int64_t, std::vector<caf::actor>> watchers;
  std::map<caf::actor, std::vector<task_outcome>> watch_outbox;
  bool watch_flush_armed = false;
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
  int64_t due_timer_us = 0;     ///< when the armed due timer fires (0: none armed)
  /// The latest progress of each task that reported some since the last
  /// write (tasks.progress): written together by the tick at most once a
  /// second, so a task reporting in a loop costs one row update a second.
  std::unordered_map<int64_t, journal_store::progress_item> progress_unwritten;
  int64_t progress_written_us = 0; ///< when they were last written
  std::vector<caf::response_promise> deferred; // requests before recovery
  /// Dispatches of this round to worker nodes, per node: sent as one
  /// dispatch_batch_msg to its supervisor when the round ends.
  std::unordered_map<std::string, dispatch_batch_msg> outbox;
  /// Set while the items of one node report are applied: dispatching waits
  /// for the end of the report, so the freed slots fill in one round.
  bool dispatch_deferred = false;
  /// Transitions sent to the journal and not answered yet (dispatching
  /// pauses at cfg.journal_backlog).
  size_t journal_pending = 0;
  static inline const char* name = "taskrt.scheduler";
};

using scheduler_actor_t = caf::stateful_actor<scheduler_state>;

/// Sends `b` to persistence and runs `then` with the result after the commit,
/// or `on_error` when the journal refused it (a data error in this batch, or
/// submits while the journal is down). Never throws inside the actor.
/// A commit moved tasks out of WAITING (released, or cancelled upstream)
/// or back into it: the released ones are held, the waiters of the
/// cancelled ones answered (scheduler_graph.cpp).
void on_graph(scheduler_actor_t* self, journal_store::batch_result& r);

/// `n` transitions sent to the journal were answered: dispatching resumes
/// if they had paused it (scheduler_dispatch.cpp).
void journal_answered(scheduler_actor_t* self, size_t n);

template <class F, class E>
void journal(scheduler_actor_t* self, journal_store::batch b, F then, E on_error) {
  const auto n = b.transitions.size();
  self->state.journal_pending += n;
  self->request(self->state.cfg.persistence, caf::infinite, std::move(b))
    .then([self, then, n](journal_store::batch_result& r) mutable {
            on_graph(self, r);
            then(r);
            journal_answered(self, n);
          },
          [self, on_error, n](caf::error& e) mutable {
            on_error(e);
            journal_answered(self, n);
          });
}

/// As above; a refusal is logged (notes and checkpoints: nothing else hangs
/// on them).
template <class F>
void journal(scheduler_actor_t* self, journal_store::batch b, F then) {
  journal(self, std::move(b), std::move(then), [](caf::error& e) {
    spdlog::error("journal refused a write: {}", error_message(e));
  });
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

// -- dispatch (scheduler_dispatch.cpp) -------------------------------------

/// The outcome `await` answers for task row `r`.
task_outcome outcome_of(const task_record& r);

/// The place of `r` in its queue's order.
sched::ready_key key_of(const task_record& r);

/// Puts held QUEUED task `t` in the ready queue as of `now_us` (its window
/// already counts it, or it is not windowed).
void push_ready(scheduler_state& st, live_task& t, int64_t now_us);

/// Moves the tasks the limit gate releases now into the ready queue.
void feed_gate(scheduler_state& st);

/// `t` starts: its limit keys count it (a no-op for a task without keys).
void limits_started(scheduler_state& st, const live_task& t);

/// The next time the ready queue or the gate has work (0: none known).
int64_t next_due(const scheduler_state& st);

/// Applies the limits as Postgres has them now (all of them: a key missing
/// from `rows` has none) and dispatches what they let through.
void on_limits(scheduler_actor_t* self, const std::vector<limit_row>& rows);

/// Sets /metrics' throttled tasks per key.
void publish_limit_metrics(scheduler_state& st);

/// Why QUEUED task `id` waits for a limit, as a sentence; "" when it does
/// not (or the head does not hold it).
std::string limit_wait_text(const scheduler_state& st, int64_t id);

/// `t` is QUEUED and held: ready now, on its lock's wait list, or scheduled.
/// A due task counts in its queue's window (trimmed after the next dispatch).
void enqueue(scheduler_state& st, live_task& t);

/// `t` leaves the ready queue (it starts, is cancelled, or moves).
void unqueue(scheduler_state& st, const live_task& t);

/// Drops QUEUED task `id` from memory (the journal has it; a refill reads it
/// back in its turn), unless something is pending on it there.
void evict(scheduler_state& st, int64_t id);

/// Trims the windows that held tasks, and asks for the refills the spilled
/// queues need.
void tend_windows(scheduler_actor_t* self);

/// The rows of a refill of `queue` came back: the new ones are held.
void on_refill(scheduler_actor_t* self, const std::string& queue, window_rows& rows);

/// A task only in the journal (a spilled queue's, or scheduled past the
/// horizon) leaves QUEUED there (cancelled, or moved into memory).
void left_journal(scheduler_state& st, const task_record& rec);

/// Reads the QUEUED tasks scheduled up to now + the horizon when the held
/// ones reach half of it (one read in flight).
void advance_horizon(scheduler_actor_t* self);

/// Holds task row `rec` read from the journal (a window refill's, or the
/// horizon's): on a timer, or through its queue's window when it is due.
void hold_read(scheduler_actor_t* self, task_record rec, window_rows& rows, int64_t now_us);

/// Task row `rec` of the journal held in memory (its policy parsed, its
/// newest checkpoint taken from `checkpoints`).
live_task& hold_row(scheduler_state& st, task_record rec,
                    const std::map<int64_t, std::string>& checkpoints);

/// The slot id of worker `w` (a new one for a worker not seen before).
sched::slot_id slot_of(scheduler_state& st, const caf::actor& w);

/// The slot id of worker `w`, or 0 when it is not known.
sched::slot_id known_slot(const scheduler_state& st, const caf::actor_addr& w);

/// The worker of slot `id`, or null.
caf::actor worker_of(const scheduler_state& st, sched::slot_id id);

/// Forgets slot `id` and its worker handle.
void forget_slot(scheduler_state& st, sched::slot_id id);

/// A transition of `r` guarded by (expected, expected_attempt), stamped now.
journal_store::transition_item make_transition(const task_record& r,
                                               transition_kind kind,
                                               task_state expected,
                                               int32_t expected_attempt);

/// A task reached a final state (committed): answer its waiters, forget it.
void finalize(scheduler_actor_t* self, int64_t id);

/// Task `id` is not in memory: its waiters and watchers (if any) get the
/// journal's row when it is final; one not final yet is answered when it
/// is read in and finalized.
void answer_from_journal(scheduler_actor_t* self, int64_t id);

/// The best ready task slot `s` may run (its queues, its node's task
/// names, its lock free), or 0.
int64_t pick_for(const scheduler_state& st, const sched::slot& s);

/// Counts `t`'s running attempt against worker `w` (creating its slot if
/// unknown) instead of the worker it counted against before.
void assign(scheduler_state& st, live_task& t, const caf::actor& w);

/// Starts `t`'s next attempt on slot `sid`: a new lease, journaled, dispatched.
void start_attempt(scheduler_actor_t* self, live_task& t, sched::slot_id sid);

/// Sends the dispatches of this round to their nodes, one message per node.
void flush_dispatches(scheduler_actor_t* self);

/// Dispatches while a free slot (least loaded first) has a ready task it
/// may run; a slot with none is skipped for the rest of this round.
void try_dispatch(scheduler_actor_t* self);

/// Arms a timer for the next scheduled task due, unless one fires by then.
void arm_due_timer(scheduler_actor_t* self);

/// The due timer armed for `due_us` fired: scheduled tasks due now are
/// dispatched, and the timer is armed again for the next one.
void on_due_timer(scheduler_actor_t* self, int64_t due_us);

/// Frees `t`'s worker slot and, unless `keep_lock`, its lock.
void release(scheduler_state& st, live_task& t, bool keep_lock);

/// Frees `t`'s lock, or fences it until t.lock_fence_ns when that is later.
void release_lock(scheduler_state& st, live_task& t);

// -- leases (scheduler_leases.cpp) -----------------------------------------

/// The lease terms of the head.
lease::terms lease_terms(const scheduler_state& st);

/// When the lease under which an attempt ran on `node` is over for sure
/// (monotonic ns): its last grant plus the lease plus the margin. The head's
/// own node renews its workers on every tick: from now.
int64_t lease_over_ns(const scheduler_state& st, const std::string& node);

/// `t`'s attempt is lost while its process may still run: its lock waits
/// until the attempt's lease is over.
void fence_lost_attempt(scheduler_state& st, live_task& t);

/// Renews the leases of the head's own workers (`w` only, when given).
void renew_local_leases(scheduler_actor_t* self, const caf::actor& w = {});

/// Hands on the locks whose fences are over; true when one was.
bool release_expired_fences(scheduler_state& st);

// -- attempts (scheduler_attempts.cpp) -------------------------------------

/// The error_info of a parsed error object (empty when `j` is none).
error_info error_info_of(const json& j);

/// The error_info of an error's JSON text (empty when it is not an object).
error_info parse_error_info(const std::string& error);

/// A short fixed word for why an attempt ended LOST (a metrics label).
std::string lost_cause(const json& detail);

/// The FAILED/LOST → QUEUED transition a retry decision `d` journals.
journal_store::transition_item retry_transition(const task_record& r, const retry_decision& d);

/// After the retry transition committed: `t` is QUEUED again as `d` says.
void apply_retry(scheduler_actor_t* self, live_task& t, const retry_decision& d);

/// Releases the lock an ended attempt kept while its decision was pending.
void release_held_lock(scheduler_state& st, live_task& t);

/// Commits the end of a FAILED or LOST attempt together with its retry
/// decision and, when the decision is to retry, the re-queue: one
/// transaction, so no head crash leaves the task half-decided.
void commit_decision(scheduler_actor_t* self, int64_t id,
                     journal_store::transition_item end, const retry_request& req,
                     retry_decision d);

/// Ends the attempt of a task already released from its worker: journals the
/// outcome (through the retry actor for FAILED and LOST), then continues.
void close_attempt(scheduler_actor_t* self, int64_t id, task_state outcome,
                   const std::string& result, const std::string& error, json detail);

/// Ends a RUNNING attempt with `outcome`: frees its worker slot and lock,
/// then journals it (see close_attempt).
void end_attempt(scheduler_actor_t* self, live_task& t, task_state outcome,
                 const std::string& result, const std::string& error, json detail);

/// A task an older version left FAILED or LOST without its retry decision
/// (three commits then): decide now, journal the decision and the re-queue
/// in one commit.
void redecide(scheduler_actor_t* self, live_task& t);

/// The worker began a prefetched attempt.
void mark_began(scheduler_state& st, const attempt_ref& a);

/// Ends an attempt whose worker or node is gone: LOST if it began, handed
/// back (no retry budget spent) if it was still waiting behind another.
void end_orphaned(scheduler_actor_t* self, live_task& t, const std::string& message,
                  const std::string& reason);

/// A worker reports the end of an attempt: fenced unless it holds the lease.
void on_done(scheduler_actor_t* self, attempt_done_msg& msg);

/// A worker reports the end of an attempt.
void on_attempt_done(scheduler_actor_t* self, attempt_done_msg& msg);

/// Progress, a checkpoint, or the start of a prefetched attempt.
void on_event(scheduler_actor_t* self, attempt_event_msg& ev);

/// Writes progress_unwritten as one journal batch when a second has passed
/// since the last write and the journal is up (the scheduler's tick).
void write_progress(scheduler_actor_t* self);

/// A worker node's coalesced report: its events, then its results, each
/// fenced on its own; then one dispatch round for the slots they freed.
void on_node_report(scheduler_actor_t* self, node_report_msg& report);

// -- head API (scheduler_api.cpp) ------------------------------------------

/// `submit` of one task: its id after the commit.
caf::result<int64_t> on_submit(scheduler_actor_t* self, task_spec& spec);

/// `submit` of a batch: its ids in order after one commit (all or none).
caf::result<std::vector<int64_t>> on_submit_many(scheduler_actor_t* self,
                                                 std::vector<task_spec>& specs);

/// `submit, each`: a coalesced batch of independent submits; those that
/// pass the checks in one commit, each refused one refused alone.
caf::result<submit_each_reply> on_submit_each(scheduler_actor_t* self,
                                              std::vector<task_spec>& specs);

/// `await` of many ids: every outcome, in order, once all are final.
caf::result<std::vector<task_outcome>> on_await_many(scheduler_actor_t* self,
                                                     std::vector<int64_t>& ids);

/// `watch`: the outcomes of `ids` pushed to the sender in batches as each
/// becomes final.
void on_watch(scheduler_actor_t* self, std::vector<int64_t>& ids);

/// Task `id` ended with `out`: its watchers get it with the next flush.
void notify_watchers(scheduler_actor_t* self, int64_t id, const task_outcome& out);

/// Sends every watcher the outcomes gathered for it.
void flush_watchers(scheduler_actor_t* self);

/// The error for an unknown task id.
caf::error not_found(int64_t id);

/// `tasks retry` of a QUEUED task (waiting out its retry delay, or scheduled
/// for later): it runs at m.run_at_us (now when 0); its retry budget stays.
caf::result<int64_t> retry_queued_now(scheduler_actor_t* self, live_task& t,
                                      const manual_retry_msg& m);

/// `tasks retry`: a FAILED, LOST or CANCELLED task re-queued (history kept), a
/// QUEUED one run now.
caf::result<int64_t> on_manual_retry(scheduler_actor_t* self, manual_retry_msg& m);

/// QUEUED → CANCELLED (journaled); `done(nullptr)` after the commit, or
/// `done(&error)` when the journal refused it.
void cancel_queued(scheduler_actor_t* self, live_task& t, const std::string& origin,
                   std::function<void(caf::error*)> done);

/// QUEUED or WAITING → CANCELLED of `rec`, a task in the journal only (no
/// window holds it): journaled with the guard, its waiters and watchers
/// answered after the commit. A WAITING task's children follow their
/// trigger rules in the same commit.
void cancel_stored(scheduler_actor_t* self, const task_record& rec, const std::string& origin,
                   caf::typed_response_promise<task_state> rp);

/// `cancel`: a QUEUED task at once, a RUNNING one cooperatively (journaled first).
caf::result<task_state> on_cancel(scheduler_actor_t* self, int64_t id,
                                  const std::string& origin);

/// `await`: the outcome of task `id` once it is final (at once when it is).
caf::result<task_outcome> on_await(scheduler_actor_t* self, int64_t id);

/// `status`: a short summary of the head.
head_status on_status(const scheduler_state& st);

/// Persistence says whether Postgres is reachable: submits and dispatch
/// pause while it is not.
void on_journal_state(scheduler_actor_t* self, bool up, const std::string& reason);

// -- recovery and drain (scheduler_recovery.cpp) ---------------------------

/// Loads the unfinished tasks and the nodes from the journal, then serves.
void recover(scheduler_actor_t* self);

/// The drain is over: local workers exit, the journal is flushed, the actor quits.
void finish_drain(scheduler_actor_t* self);

/// `stop`: no new work; attempts of the head's own workers get drain_grace_s.
void on_stop(scheduler_actor_t* self);

/// The drain's grace period is over: the local workers hand their attempts
/// back (RUNNING → QUEUED, no retry budget spent); the drain finishes when
/// the last one reported.
void on_stop_grace(scheduler_actor_t* self);

// -- nodes (scheduler_nodes.cpp) -------------------------------------------

/// Forgets the slots of `node` (it is gone; it announces them again when it
/// re-registers).
void forget_slots_of(scheduler_state& st, const std::string& node);

/// RUNNING attempts on `node` (kept per node as attempts start and end).
int32_t running_on(const scheduler_state& st, const std::string& node);

/// Attempts running on the head's own workers (remote nodes keep theirs
/// across a head restart).
int64_t local_running(const scheduler_state& st);

/// The row of `n` as the nodes table keeps it.
node_row node_row_of(const scheduler_state& st, const sched::node_entry& n);

/// True when node `n` is gone (DEAD or LEFT).
bool gone(const sched::node_entry& n);

/// Node `id` is in `state` now: logged when it changed, its slots open only
/// while ALIVE, its row journaled.
void set_node_state(scheduler_actor_t* self, const std::string& id, sched::node_state state);

/// The supervisor of connected node `id`, or null.
caf::actor supervisor_of(const scheduler_state& st, const std::string& id);

/// Node `id` is connected through `sup` (null: its connection is gone).
void set_supervisor(scheduler_state& st, const std::string& id, const caf::actor& sup);

/// Every node as `taskrt nodes` shows it.
std::vector<node_view> node_views(const scheduler_state& st);

/// A node is gone: its RUNNING attempts end LOST (and go to the retry actor).
void declare_dead(scheduler_actor_t* self, const std::string& id, const std::string& reason);

/// A worker announces its slot; only the process that registered its node may.
void on_ready(scheduler_actor_t* self, worker_info& info, caf::actor& w);

/// Refuses a registration under the head's own node id, or under an id whose
/// node still holds a live connection (a second process with the same
/// --node-id): the old node keeps its attempts and its locks, the new
/// process gets this error and exits (cluster/worker_node.cpp).
std::optional<caf::error> refuse_registration(const scheduler_state& st, const node_info& info,
                                              const caf::actor& sup);

/// Registers node `info` (checked already): adopts the running attempts it
/// reports that are still current, tells it to drop the others.
register_reply on_register(scheduler_actor_t* self, node_info& info,
                           std::vector<running_attempt>& running, caf::actor sup);

/// A node's connection or a worker went away: DEAD node, or LOST attempts.
void on_down(scheduler_actor_t* self, caf::down_msg& d);

/// Writes the rows of the nodes that are not DEAD or LEFT in one message, and
/// now and then forgets the nodes gone for longer than node_ttl_us.
void refresh_node_rows(scheduler_actor_t* self, int64_t t);

/// True when the current message about node `n` comes from the process that
/// registered it (the head's own node: from the head's process). Anything
/// else (a client, another node) is refused and logged: no peer can drain,
/// retire or keep alive a node it is not.
bool sent_by_node(scheduler_actor_t* self, const std::string& id, const char* what);

/// The gauges of /metrics: tasks the head holds by state, nodes by state,
/// slots, and per queue its depth and the age of its oldest runnable task.
void publish_gauges(scheduler_state& st, int64_t t);

/// Heartbeat timeouts of worker nodes and adoption deadlines after a restart.
void check_nodes(scheduler_actor_t* self);

/// A worker is not ready (its process restarts): no dispatches to it.
void on_unready(scheduler_state& st, const caf::actor& w);

/// A node registers: checked (its certificate under TLS, then its id),
/// answered after recovery.
caf::result<register_reply> on_register_request(scheduler_actor_t* self, node_info& info,
                                                std::vector<running_attempt>& running);

/// A heartbeat of `node`; false tells it to register again.
bool on_heartbeat(scheduler_actor_t* self, const std::string& node);

/// `node` drains (DRAINING) or leaves (LEFT), if it says so itself.
void on_node_leaving(scheduler_actor_t* self, const std::string& node, sched::node_state to);

} // namespace taskrt::scheduler_detail

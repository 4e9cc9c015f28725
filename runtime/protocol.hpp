#pragma once
/// The taskrt protocol in one place: atoms, message structs, typed actor
/// interfaces, the error category, and the one function that registers every
/// type on an actor_system_config. Every node must call register_protocol():
/// a type unknown to the receiver arrives as an empty message.

#include "taskrt/runtime/task.hpp"
#include "taskrt/runtime/task_state.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace taskrt {

// -- atoms (at most 10 characters) --------------------------------------------

using submit_atom = caf::atom_constant<caf::atom("submit")>;
using await_atom = caf::atom_constant<caf::atom("await")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using mretry_atom = caf::atom_constant<caf::atom("mretry")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using unready_atom = caf::atom_constant<caf::atom("unready")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using line_atom = caf::atom_constant<caf::atom("line")>;
using exited_atom = caf::atom_constant<caf::atom("exited")>;
using spawn_atom = caf::atom_constant<caf::atom("spawn")>;
using event_atom = caf::atom_constant<caf::atom("event")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;
using journal_atom = caf::atom_constant<caf::atom("journal")>;
using lease_atom = caf::atom_constant<caf::atom("lease")>;
using each_atom = caf::atom_constant<caf::atom("each")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;

// -- errors --------------------------------------------------------------------

/// Error codes of the "taskrt" caf::error category.
enum class errc : uint8_t {
  not_found = 1,      ///< no task with that id
  illegal_state = 2,  ///< the task's state does not allow the operation
  bad_request = 3,    ///< malformed input (bad JSON, unknown task name, ...)
  unavailable = 4,    ///< storage or head not reachable; try again
                      ///< (the journal is down: submits are refused)
  shutting_down = 5,  ///< the head is draining and accepts no new work
  stepped_down = 6,   ///< another head took over the journal: this one stops
};

/// "not_found", "illegal_state", ...
const char* to_string(errc x);

/// A caf::error of the taskrt category carrying a human-readable message.
caf::error make_error(errc code, std::string message);

/// The message of an error made by make_error (or CAF's rendering of any
/// other error).
std::string error_message(const caf::error& err);

/// The errc of a taskrt error, or 0 for errors of other categories.
uint8_t taskrt_code(const caf::error& err);

// -- messages ------------------------------------------------------------------

/// The final outcome of a task, as `await` returns it.
struct task_outcome {
  int64_t id = 0;
  task_state state = task_state::queued;
  int32_t attempt = 0;
  std::string result; ///< JSON text (SUCCEEDED)
  std::string error;  ///< JSON text of the last error_info (FAILED/LOST)
};

/// One spec of a coalesced submit that the head refused: its index in the
/// batch and why (the others were journaled).
struct submit_refusal {
  uint32_t index = 0;
  caf::error error;
};

/// The answer to a coalesced submit (`submit_atom, each_atom, specs`): an id
/// per spec in order (0 where refused) and the refusals.
struct submit_each_reply {
  std::vector<int64_t> ids;
  std::vector<submit_refusal> refused;
};

/// A manual retry of a FAILED, LOST or CANCELLED task. Zero/empty fields
/// leave the task's values unchanged.
struct manual_retry_msg {
  int64_t id = 0;
  int64_t run_at_us = 0;
  bool set_priority = false;
  int32_t priority = 0;
  std::string queue;
  std::string lock;
  std::string origin;
};

/// A short summary of the head, for `taskrt status` and scripts.
struct head_status {
  std::string node_id;
  int64_t started_us = 0;
  int32_t workers = 0;
  int32_t busy = 0;
  int64_t queued = 0;
  int64_t running = 0;
  bool draining = false;
  bool recovered = false;     ///< recovery from the journal finished
  bool journal_up = true;     ///< Postgres reachable: submits are accepted
  std::string journal_error;  ///< why not, while !journal_up
  int64_t journal_down_since_us = 0;
  std::string version;        ///< taskrt version and commit of the head
};

/// Scheduler → worker: run one attempt.
struct dispatch_msg {
  int64_t task_id = 0;
  int32_t attempt = 0;
  int64_t lease_epoch = 0;
  std::string name;
  std::string args;       ///< JSON text
  std::string checkpoint; ///< JSON text of the latest checkpoint; empty: none
  bool last_attempt = false;
  double time_limit_s = 0;
  double stuck_timeout_s = 300;
  /// Sent while the worker had another attempt: it reports when this one
  /// begins, so an attempt that never began is handed back, not LOST, if
  /// its node dies.
  bool prefetched = false;
  /// The attempt number the task sees: attempts handed back before they
  /// began are not counted (`attempt` counts every lease, for fencing).
  int32_t task_attempt = 0;
  std::string parents; ///< JSON array of its parents (ctx.parents()); empty: none
};

/// One attempt of one task under one lease; task_id 0: none.
struct attempt_ref {
  int64_t task_id = 0;
  int32_t attempt = 0;
  int64_t lease_epoch = 0;
};

/// Worker → scheduler: an attempt ended. `outcome` is SUCCEEDED, FAILED,
/// CANCELLED, LOST, or QUEUED (handed back before user code ran).
struct attempt_done_msg {
  int64_t task_id = 0;
  int32_t attempt = 0;
  int64_t lease_epoch = 0;
  task_state outcome = task_state::succeeded;
  std::string result; ///< JSON text
  std::string error;  ///< JSON text of an error_info
  std::string detail; ///< JSON object: node, pid, signal, reason
  attempt_ref began;  ///< the prefetched attempt the worker began right after
};

/// What an attempt_event_msg reports (on the wire as its integer).
enum class attempt_event_kind : uint8_t {
  progress = 1,   ///< the task reported progress (renews its stuck timeout)
  checkpoint = 2, ///< the task saved a checkpoint (journaled, given to its retry)
  began = 3,      ///< a prefetched attempt began (it counts as a try from now)
};

/// "progress", "checkpoint", "began" (journal notes and logs).
const char* to_string(attempt_event_kind k);

/// Worker → scheduler: progress or a checkpoint of a running attempt, or
/// that a prefetched attempt began.
struct attempt_event_msg {
  int64_t task_id = 0;
  int32_t attempt = 0;
  int64_t lease_epoch = 0;
  attempt_event_kind kind = attempt_event_kind::progress;
  std::string data; ///< JSON text (empty for `began`)
};

/// Head → worker node: one attempt for the node's worker `worker` (its slot
/// index on that node, worker_info::index).
struct node_dispatch {
  int32_t worker = 0;
  dispatch_msg run;
};

/// Head → worker node: every attempt one dispatch round gave the node's
/// workers, in one message. The head never puts more attempts on a worker
/// than the credit that worker advertised in its `ready` (worker_info::
/// capacity: 1 running + prefetch), counting what it already holds there.
struct dispatch_batch_msg {
  std::vector<node_dispatch> items;
};

/// Worker node → head: the results and attempt events of a coalescing
/// window (at most node_report_window, or node_report_max_items items) in
/// one message. The head applies `events` first, then `results`, each item
/// fenced on its own: an attempt's events always precede its result on the
/// node, and no event of a later attempt can exist before the head has
/// applied the earlier result.
struct node_report_msg {
  std::vector<attempt_event_msg> events;
  std::vector<attempt_done_msg> results;
};

/// The longest a node holds a result or an event before sending it.
constexpr std::chrono::microseconds node_report_window{1000};
/// A node sends its report at once when it holds this many items.
constexpr size_t node_report_max_items = 256;

/// Worker → scheduler: a worker slot, with the queues it serves (empty: all)
/// and how many attempts may be dispatched to it at once (1 running plus
/// prefetched ones).
struct worker_info {
  std::string node;
  int32_t index = 0;
  int32_t pid = 0;
  std::vector<std::string> queues;
  int32_t capacity = 1;
};

/// The version of the head<->node protocol this build speaks: a node of
/// another one is refused at registration, with both versions named.
/// 2: dispatch batches under credit, coalesced node reports, typed events.
constexpr int32_t node_protocol_version = 2;

/// Worker node → head: who I am, on (re-)registration.
struct node_info {
  int32_t protocol = node_protocol_version; ///< node_protocol_version of the node
  std::string id;
  std::string host;                 ///< as the node sees itself
  int32_t slots = 0;
  int32_t pid = 0;
  std::vector<std::string> queues;  ///< empty: all
  std::vector<std::string> tasks;   ///< registered task names
  std::string version;              ///< taskrt version of the node ("0.1.0")
};

/// Worker node → head, on re-registration: an attempt the node still runs.
struct running_attempt {
  int64_t task_id = 0;
  int32_t attempt = 0;
  int64_t lease_epoch = 0;
  caf::actor worker;
};

/// Head → worker node: the answer to a registration. Attempts listed in
/// `drop` were fenced (declared LOST meanwhile): the node kills them.
/// Every answered heartbeat renews the node's lease for `lease_s` (counted
/// from when the node sent it); its worker processes fence themselves
/// `lease_margin_s` before it ends (runtime/lease.hpp).
struct register_reply {
  std::vector<running_attempt> drop;
  double heartbeat_s = 1;
  double lease_s = 10;
  double lease_margin_s = 1;
};

/// A node's state in the head's registry (on the wire as its integer).
enum class node_status : uint8_t { alive = 1, suspect = 2, dead = 3, draining = 4, left = 5 };

/// "ALIVE", "SUSPECT", "DEAD", "DRAINING", "LEFT".
const char* to_string(node_status s);

/// One node as the head's registry holds it (live view, `nodes` request).
struct node_view {
  std::string id;
  node_status state = node_status::alive;
  int32_t slots = 0;
  int32_t running = 0;
  int64_t last_heartbeat_us = 0;
  std::string version; ///< taskrt version the node registered with
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("taskrt::node_info"), x.protocol, x.id, x.host, x.slots,
           x.pid, x.queues, x.tasks, x.version);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, running_attempt& x) {
  return f(caf::meta::type_name("taskrt::running_attempt"), x.task_id,
           x.attempt, x.lease_epoch, x.worker);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, register_reply& x) {
  return f(caf::meta::type_name("taskrt::register_reply"), x.drop, x.heartbeat_s,
           x.lease_s, x.lease_margin_s);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_view& x) {
  return f(caf::meta::type_name("taskrt::node_view"), x.id, x.state, x.slots,
           x.running, x.last_heartbeat_us, x.version);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispatch_msg& x) {
  return f(caf::meta::type_name("taskrt::dispatch_msg"), x.task_id, x.attempt,
           x.lease_epoch, x.name, x.args, x.checkpoint, x.last_attempt,
           x.time_limit_s, x.stuck_timeout_s, x.prefetched, x.task_attempt, x.parents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attempt_ref& x) {
  return f(caf::meta::type_name("taskrt::attempt_ref"), x.task_id, x.attempt,
           x.lease_epoch);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attempt_done_msg& x) {
  return f(caf::meta::type_name("taskrt::attempt_done_msg"), x.task_id,
           x.attempt, x.lease_epoch, x.outcome, x.result, x.error, x.detail,
           x.began);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attempt_event_msg& x) {
  return f(caf::meta::type_name("taskrt::attempt_event_msg"), x.task_id,
           x.attempt, x.lease_epoch, x.kind, x.data);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_dispatch& x) {
  return f(caf::meta::type_name("taskrt::node_dispatch"), x.worker, x.run);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispatch_batch_msg& x) {
  return f(caf::meta::type_name("taskrt::dispatch_batch_msg"), x.items);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_report_msg& x) {
  return f(caf::meta::type_name("taskrt::node_report_msg"), x.events, x.results);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_info& x) {
  return f(caf::meta::type_name("taskrt::worker_info"), x.node, x.index,
           x.pid, x.queues, x.capacity);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_spec& x) {
  return f(caf::meta::type_name("taskrt::task_spec"), x.name, x.args, x.queue,
           x.priority, x.lock, x.run_at_us, x.policy, x.time_limit_s,
           x.parent_id, x.origin, x.key, x.limits, x.after, x.trigger);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, submit_refusal& x) {
  return f(caf::meta::type_name("taskrt::submit_refusal"), x.index, x.error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, submit_each_reply& x) {
  return f(caf::meta::type_name("taskrt::submit_each_reply"), x.ids, x.refused);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_outcome& x) {
  return f(caf::meta::type_name("taskrt::task_outcome"), x.id, x.state,
           x.attempt, x.result, x.error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manual_retry_msg& x) {
  return f(caf::meta::type_name("taskrt::manual_retry_msg"), x.id,
           x.run_at_us, x.set_priority, x.priority, x.queue, x.lock, x.origin);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, head_status& x) {
  return f(caf::meta::type_name("taskrt::head_status"), x.node_id,
           x.started_us, x.workers, x.busy, x.queued, x.running, x.draining,
           x.recovered, x.journal_up, x.journal_error, x.journal_down_since_us,
           x.version);
}

// -- typed interfaces ------------------------------------------------------------

/// The head as clients see it, local or remote:
/// - submit: replies with the task id once QUEUED is committed; with a vector
///   of specs, all are journaled in one commit and the ids come in order
///   (all or none: one bad spec refuses the batch);
/// - submit, each: a coalesced batch of independent submits (what a client's
///   coalescer sends for many single submits): one commit for those that pass
///   the checks, answered after it; a refused spec refuses only itself;
/// - await: replies with the outcome once the task is final; with a vector
///   of ids, with every outcome in the order of the ids once all are final;
/// - watch: each outcome of `ids` is sent to the sender once final, as
///   `(watch_atom, std::vector<task_outcome>)` batches gathered for at most
///   about 1 ms, or `(watch_atom, id, caf::error)` when it cannot be awaited;
/// - cancel (id, origin): QUEUED → CANCELLED at once; RUNNING → flag set;
///   replies with the state after the call; origin ("cli user@host") is journaled;
/// - mretry: manual retry, replies with the task id;
/// - status: a summary; nodes: the live node registry; stop: drain and exit.
/// Worker nodes additionally send register/heartbeat/drain/leave and the
/// worker messages below to the same actor (see cluster/worker_node.hpp).
using head_actor = caf::typed_actor<
  caf::replies_to<submit_atom, task_spec>::with<int64_t>,
  caf::replies_to<submit_atom, std::vector<task_spec>>::with<std::vector<int64_t>>,
  caf::replies_to<submit_atom, each_atom, std::vector<task_spec>>::with<submit_each_reply>,
  caf::replies_to<await_atom, int64_t>::with<task_outcome>,
  caf::replies_to<await_atom, std::vector<int64_t>>::with<std::vector<task_outcome>>,
  caf::reacts_to<watch_atom, std::vector<int64_t>>,
  caf::replies_to<cancel_atom, int64_t, std::string>::with<task_state>,
  caf::replies_to<mretry_atom, manual_retry_msg>::with<int64_t>,
  caf::replies_to<status_atom>::with<head_status>,
  caf::replies_to<nodes_atom>::with<std::vector<node_view>>,
  caf::reacts_to<stop_atom>>;

/// The head as a worker node sees it (the same actor as head_actor; a node
/// holds its head through this interface, so every message it sends is
/// checked against it at compile time):
/// - register: the node's identity, protocol and the attempts it still runs;
///   refused (errc::illegal_state) for another node_protocol_version, a
///   version outside the skew, or an id a live node holds;
/// - heartbeat (node id): false tells the node to register again;
/// - drain / leave (node id); ready / unready (a worker slot and its actor:
///   the slot's credit is worker_info::capacity);
/// - node_report_msg: results and events of one coalescing window;
/// - submit: a child task from a task running on the node.
using node_head_actor = caf::typed_actor<
  caf::replies_to<register_atom, node_info, std::vector<running_attempt>>::with<register_reply>,
  caf::replies_to<heartbeat_atom, std::string>::with<bool>,
  caf::reacts_to<drain_atom, std::string>,
  caf::reacts_to<leave_atom, std::string>,
  caf::reacts_to<ready_atom, worker_info, caf::actor>,
  caf::reacts_to<unready_atom, worker_info, caf::actor>,
  caf::reacts_to<node_report_msg>,
  caf::replies_to<submit_atom, task_spec>::with<int64_t>>;

/// A worker node's supervisor as the head sees it: the attempts of one
/// dispatch round for its workers.
using node_actor = caf::typed_actor<caf::reacts_to<dispatch_batch_msg>>;

/// Registers every taskrt message type and the error category on `cfg`.
void register_protocol(caf::actor_system_config& cfg);

} // namespace taskrt

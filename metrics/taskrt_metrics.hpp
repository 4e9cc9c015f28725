#pragma once
/// The metrics taskrt exposes on /metrics, as named recording functions: the
/// one place that knows their names, units, help texts, labels and buckets.
/// Callers (scheduler, persistence, workers, nodes, the HTTP server) record
/// through these; nobody spells a metric name elsewhere.
///
/// Labels are bounded sets (task names of the registry, queue names, states,
/// causes): never task, node, lease or worker ids (every sample is already
/// labelled with its instance by Prometheus).
///
/// Every sample carries role="head" or role="node", and each process exports
/// only the families of its role (a head with local workers also the
/// workers' ones). Finished tasks are counted (…_total), live ones are gauges.
///
/// Names (Prometheus conventions: base units, _total for counters):
///   head:
///   taskrt_tasks{state}                          gauge     live tasks: QUEUED, RUNNING;
///                                                          WAITING (for parents, journal only)
///   taskrt_tasks_finished_total{state}           counter   tasks that reached a final state
///   taskrt_task_transitions_total{task,state}    counter   transitions by target state
///   taskrt_task_duration_seconds{task}           histogram RUNNING → end of an attempt
///   taskrt_task_queue_wait_seconds{task}         histogram enqueue (run_at) → start
///   taskrt_task_retries_total{task}              counter   retry decisions that re-queued
///   taskrt_tasks_lost_total{cause}               counter   attempts ended LOST
///   taskrt_stale_results_total                   counter   results fenced as stale
///   taskrt_journal_commit_duration_seconds       histogram one group commit
///   taskrt_journal_commit_batch_size             histogram transitions per commit
///   taskrt_nodes{state}                          gauge     nodes by state
///   taskrt_slots_used / taskrt_slots_free        gauge     worker slots of the cluster
///   taskrt_queue_depth{queue}                    gauge     QUEUED tasks per queue
///   taskrt_queue_oldest_age_seconds{queue}       gauge     age of the oldest runnable one
///   node:
///   taskrt_node_registered                       gauge     1 while a node is registered
///   processes with workers (nodes, a head with --workers):
///   taskrt_worker_process_restarts_total{cause}  counter   worker processes restarted
///   every process:
///   taskrt_http_requests_total{path,code}        counter   requests to this HTTP server
///   taskrt_build_info{version,commit}            gauge     always 1
///   taskrt_process_start_time_seconds            gauge     Unix time the process started

#include "taskrt/runtime/task_state.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace taskrt::metrics {

/// Registers the families of `role` ("head" or "node"; plus the workers'
/// ones when the process runs worker processes), with zero-valued children
/// for the fixed label sets (task states, node states, LOST causes, restart
/// causes, unlabelled metrics), so a scrape shows them before anything
/// happened, and sets the role label. Call once per process.
void register_all(const std::string& role, bool workers);

// -- recorded by the scheduler (head) -------------------------------------------

/// One journaled transition of a task named `task` into `to`.
void record_transition(const std::string& task, task_state to);
/// A task reached the final state `state` (no retry follows).
void record_finished(task_state state);
/// Live tasks by state (QUEUED, RUNNING; those absent from `counts` are 0,
/// other states are ignored).
void set_tasks(const std::map<task_state, int64_t>& counts);
/// WAITING tasks (their parents' trigger not met yet): held in the journal
/// only, counted by the head from its load and its commits.
void set_waiting(int64_t tasks);
/// An attempt of `task` ended (any final state of the attempt) after `seconds`
/// of running.
void observe_task_duration(const std::string& task, double seconds);
/// An attempt of `task` started `seconds` after it became runnable (submit or
/// retry time, or run_at when later).
void observe_queue_wait(const std::string& task, double seconds);
/// A retry decision re-queued a task named `task`.
void record_retry(const std::string& task);
/// An attempt ended LOST; `cause` is a short fixed word: "worker_died",
/// "node_dead", "stuck", "recovery" ...
void record_lost(const std::string& cause);
/// A result from a holder of a stale lease was fenced.
void record_stale_result();
/// Nodes by state ("ALIVE", "SUSPECT", "DEAD", "DRAINING", "LEFT"); the five
/// states absent from `counts` are set to 0, other keys are recorded as given.
void set_nodes(const std::map<std::string, int64_t>& counts);
/// Worker slots of the whole cluster: running or reserved, and idle.
void set_slots(int64_t used, int64_t free);
/// Depth of one queue and the age in seconds of its oldest runnable task (0
/// when empty).
void set_queue(const std::string& queue, int64_t depth, double oldest_age_s);

/// QUEUED tasks held back by the limits of `key` (taskrt limits).
void set_throttled(const std::string& key, int64_t tasks);

// -- recorded by the persistence actor (head) -----------------------------------

/// One group commit of `items` transitions that took `seconds`.
void observe_commit(double seconds, int64_t items);

// -- recorded by workers, nodes and the HTTP server -----------------------------

/// A worker process was restarted; `cause` is "crashed" (died by itself) or
/// "killed" (stuck, over its time limit, dropped).
void record_worker_restart(const std::string& cause);
/// A worker node registered with a head (true) or lost it (false).
void set_node_registered(bool registered);
/// One HTTP request answered with `code` on `path` (unknown paths as "other").
void record_http_request(const std::string& path, int code);

} // namespace taskrt::metrics

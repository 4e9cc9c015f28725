#include "taskrt/actors/worker.hpp"

#include "taskrt/actors/crash_report.hpp"
#include "taskrt/actors/worker_process.hpp"
#include "taskrt/metrics/taskrt_metrics.hpp"
#include "taskrt/runtime/lease.hpp"
#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/task_error.hpp"
#include "taskrt/runtime/time.hpp"
#include "taskrt/runtime/worker_wire.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <optional>

#include <sys/wait.h>
#include <unistd.h>

namespace taskrt {

namespace {

using json = nlohmann::json;

/// How often time limits, stuck attempts and prefetch waits are checked
/// (while the worker has an attempt).
constexpr std::chrono::milliseconds tick_interval{50};

/// Why the worker killed its own process, if it did.
enum class kill_reason { none, timeout, stuck, shutdown, dropped, bad_result };

struct worker_state {
  worker_config cfg;
  pid_t pid = -1;
  int to_child = -1;
  int crash_fd = -1; ///< the crash report of the process (crash_report.hpp)
  bool child_ready = false; ///< the process said ready since it was spawned
  bool has_attempt = false;
  dispatch_msg current;
  /// Dispatched attempts waiting behind the current one, with arrival time.
  std::deque<std::pair<dispatch_msg, timestamp>> pending;
  timestamp started;
  timestamp last_progress;
  kill_reason killing = kill_reason::none;
  std::string bad_result; ///< why the attempt is ended (kill_reason::bad_result)
  int crashes_in_row = 0;
  bool stopping = false;
  bool ticking = false; ///< the check tick is armed (only while there is work)
  /// The latest lease renewal (lease_atom), written to every new process.
  std::optional<wire::lease_cmd> lease;
  static inline const char* name = "taskrt.worker";
};

using worker_actor_t = caf::stateful_actor<worker_state>;

std::string signal_name(int sig) {
  switch (sig) {
    case SIGABRT: return "SIGABRT";
    case SIGSEGV: return "SIGSEGV";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    default: return "signal " + std::to_string(sig);
  }
}

/// Sends `msg` to the worker process (one line, one write).
void write_line(worker_state& st, const wire::to_process& msg) {
  if (st.to_child < 0)
    return;
  const auto line = wire::encode(msg);
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    auto n = ::write(st.to_child, p, left);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return; // the child is gone; its exit is reported by the reader
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

/// Starts the worker process (cfg.spawner: fork/exec with its pipes on fds 3
/// and 4, and a reader thread that turns its lines into messages to `self`).
bool start_child(worker_actor_t* self) {
  auto& st = self->state;
  std::vector<std::string> args{st.cfg.exe};
  args.insert(args.end(), st.cfg.argv.begin(), st.cfg.argv.end());
  auto child = st.cfg.spawner->start(args, caf::actor_cast<caf::actor>(self));
  if (!child)
    return false;
  st.pid = child->pid;
  if (st.crash_fd >= 0)
    ::close(st.crash_fd);
  st.crash_fd = child->crash_fd;
  st.to_child = child->to_child;
  st.child_ready = false;
  st.killing = kill_reason::none;
  if (st.lease) // before any run: the process never runs outside the lease
    write_line(st, *st.lease);
  return true;
}

/// Reports the end of attempt `d` to the scheduler.
void report(worker_actor_t* self, const dispatch_msg& d, task_state outcome,
            const json& result, const json& error, json detail,
            attempt_ref began = {}) {
  auto& st = self->state;
  detail["node"] = st.cfg.node;
  detail["worker"] = st.cfg.index;
  if (!detail.contains("pid") && st.pid > 0)
    detail["pid"] = st.pid;
  attempt_done_msg msg;
  msg.task_id = d.task_id;
  msg.attempt = d.attempt;
  msg.lease_epoch = d.lease_epoch;
  msg.outcome = outcome;
  msg.result = result.is_null() ? "" : result.dump();
  msg.error = error.is_null() ? "" : error.dump();
  msg.detail = detail.dump();
  msg.began = began;
  self->send(st.cfg.scheduler, std::move(msg));
}

/// Reports the end of the current attempt.
void send_done(worker_actor_t* self, task_state outcome, const json& result,
               const json& error, json detail) {
  auto& st = self->state;
  st.has_attempt = false;
  report(self, st.current, outcome, result, error, std::move(detail));
}

/// Hands every prefetched attempt back unstarted (RUNNING → QUEUED).
void hand_back_pending(worker_actor_t* self, const std::string& reason,
                       const std::string& kind) {
  auto& st = self->state;
  auto pending = std::move(st.pending);
  st.pending.clear();
  for (auto& p : pending)
    report(self, p.first, task_state::queued, {}, {},
           {{"reason", reason}, {"handback", kind}});
}

/// Writes the attempt to the process (which runs one at a time).
void run(worker_actor_t* self, dispatch_msg d) {
  auto& st = self->state;
  st.current = std::move(d);
  st.has_attempt = true;
  st.started = now();
  st.last_progress = st.started;
  const auto& c = st.current;
  write_line(st, wire::run_cmd{c.task_id, c.attempt, c.task_attempt, c.lease_epoch, c.name,
                               c.args, c.checkpoint, c.last_attempt, c.parents});
}

/// Starts the next waiting attempt when the process is free. Returns it when
/// it was dispatched as prefetched (the head must learn that it began);
/// with `tell`, sends that at once.
attempt_ref run_next(worker_actor_t* self, bool tell = true) {
  auto& st = self->state;
  if (st.has_attempt || !st.child_ready || st.pending.empty() || st.stopping)
    return {};
  auto d = std::move(st.pending.front().first);
  st.pending.pop_front();
  attempt_ref began;
  if (d.prefetched)
    began = {d.task_id, d.attempt, d.lease_epoch};
  run(self, std::move(d));
  if (tell && began.task_id != 0)
    self->send(st.cfg.scheduler, event_atom::value,
               attempt_event_msg{began.task_id, began.attempt, began.lease_epoch,
                                 attempt_event_kind::began, ""});
  return tell ? attempt_ref{} : began;
}

void kill_child(worker_actor_t* self, kill_reason why) {
  auto& st = self->state;
  if (st.pid > 0 && st.killing == kill_reason::none) {
    st.killing = why;
    st.cfg.spawner->kill(st.pid);
  }
}

worker_info info_of(worker_state& st) {
  return worker_info{st.cfg.node, st.cfg.index, static_cast<int32_t>(st.pid),
                     st.cfg.queues, 1 + std::max(0, st.cfg.prefetch)};
}

/// Tells the scheduler this worker's process is up and how many attempts it
/// takes at once (the scheduler counts what it has assigned).
void announce(worker_actor_t* self) {
  auto& st = self->state;
  if (st.child_ready && !st.stopping)
    self->send(st.cfg.scheduler, ready_atom::value, info_of(st),
               caf::actor_cast<caf::actor>(self));
}

void kill_child(worker_actor_t* self, kill_reason why);

/// The error of an attempt whose value broke the limits.
json bad_result_error(const std::string& why) {
  return {{"kind", bad_result_kind}, {"ancestors", json::array()}, {"message", why}};
}

/// An error_info JSON object as the process sent it, or nothing when it is
/// not one (a field of the wrong type must not reach the head).
std::optional<json> checked_error(const json& e) {
  if (e.is_null())
    return json{};
  if (!e.is_object() || !e.value("kind", json{}).is_string()
      || !e.value("message", json{}).is_string())
    return std::nullopt;
  const auto& anc = e.contains("ancestors") ? e.at("ancestors") : json::array();
  if (!anc.is_array())
    return std::nullopt;
  for (const auto& a : anc)
    if (!a.is_string())
      return std::nullopt;
  return e;
}

/// The process is up, or free again: start what waits.
void on_ready(worker_actor_t* self) {
  auto& st = self->state;
  if (!st.child_ready) { // first ready of a freshly spawned process
    st.child_ready = true;
    announce(self);
  }
  run_next(self);
}

/// True when the process's message names the current attempt.
bool matches(const worker_state& st, int64_t task_id, int32_t attempt) {
  return st.has_attempt && task_id == st.current.task_id && attempt == st.current.attempt;
}

void on_done(worker_actor_t* self, wire::done_evt& msg) {
  auto& st = self->state;
  if (!matches(st, msg.task_id, msg.attempt))
    return;
  st.crashes_in_row = 0;
  auto state = msg.outcome == "succeeded"   ? task_state::succeeded
               : msg.outcome == "cancelled" ? task_state::cancelled
                                            : task_state::failed;
  auto result = std::move(msg.result);
  auto error = checked_error(msg.error);
  std::optional<std::string> bad;
  if (state == task_state::succeeded)
    bad = check_json_value(result, "result");
  if (!error)
    bad = "the worker process sent a malformed error";
  if (bad || (error && !error->is_null() && check_json_value(*error, "error"))) {
    // Ends FAILED here: the head never sees a value it cannot journal.
    spdlog::warn("task={} attempt={} node={}: {}", st.current.task_id, st.current.attempt,
                 st.cfg.node, bad ? *bad : "error: not storable");
    state = task_state::failed;
    result = json{};
    error = bad_result_error(bad ? *bad : "the error of the attempt cannot be stored");
  }
  // The next attempt starts before the result goes out, which then also
  // tells the head that it began (no extra message on the hot path).
  auto done = std::move(st.current);
  st.has_attempt = false;
  auto began = run_next(self, false);
  report(self, done, state, result, *error, json::object(), began);
}

void on_note(worker_actor_t* self, wire::attempt_note& msg) {
  auto& st = self->state;
  if (!matches(st, msg.task_id, msg.attempt))
    return;
  const char* kind = msg.checkpoint ? "checkpoint" : "progress";
  if (auto bad = check_json_value(msg.data, kind)) {
    // The worker process ends such an attempt itself; this is the second
    // line of defence (an older or foreign worker process).
    st.bad_result = *bad;
    kill_child(self, kill_reason::bad_result);
    return;
  }
  st.last_progress = now();
  attempt_event_msg ev{st.current.task_id, st.current.attempt, st.current.lease_epoch,
                       msg.checkpoint ? attempt_event_kind::checkpoint
                                      : attempt_event_kind::progress,
                       msg.data.dump()};
  self->send(st.cfg.scheduler, event_atom::value, std::move(ev));
}

void on_submit(worker_actor_t* self, wire::submit_req& msg) {
  auto& st = self->state;
  const auto req = msg.req;
  auto spec = std::move(msg.spec);
  spec.origin = "task " + std::to_string(spec.parent_id);
  if (auto e = check_task_spec(spec)) {
    write_line(st, wire::submit_reply{req, false, 0, *e});
    return;
  }
  auto head = caf::actor_cast<head_actor>(st.cfg.head);
  self->request(head, caf::infinite, submit_atom::value, std::move(spec))
    .then(
      [self, req](int64_t id) { write_line(self->state, wire::submit_reply{req, true, id, {}}); },
      [self, req](caf::error& err) {
        write_line(self->state, wire::submit_reply{req, false, 0, error_message(err)});
      });
}

/// A line from the worker process. One of the wrong shape is the process's
/// bug: logged and dropped, never thrown inside this actor.
void on_line(worker_actor_t* self, const std::string& line) {
  auto msg = wire::decode_from_process(line);
  if (!msg) {
    spdlog::warn("worker node={} worker={}: malformed line from the worker process ({}): "
                 "{:.200}",
                 self->state.cfg.node, self->state.cfg.index, error_message(msg.error()), line);
    return;
  }
  std::visit(
    [self](auto& m) {
      using T = std::decay_t<decltype(m)>;
      if constexpr (std::is_same_v<T, wire::ready_evt>)
        on_ready(self);
      else if constexpr (std::is_same_v<T, wire::done_evt>)
        on_done(self, m);
      else if constexpr (std::is_same_v<T, wire::attempt_note>)
        on_note(self, m);
      else
        on_submit(self, m);
    },
    *msg);
}

void on_exit(worker_actor_t* self, int32_t pid, int32_t status) {
  auto& st = self->state;
  if (pid != st.pid)
    return;
  ::close(st.to_child);
  st.to_child = -1;
  st.pid = -1;
  const bool was_ready = st.child_ready;
  st.child_ready = false;
  const auto stack = take_crash_report(st.crash_fd, st.cfg.exe);
  st.crash_fd = -1;
  json detail = json::object();
  if (WIFSIGNALED(status)) {
    detail["signal"] = signal_name(WTERMSIG(status));
  } else {
    detail["exit_code"] = WEXITSTATUS(status);
  }
  const auto why = st.killing;
  const bool fenced = why == kill_reason::none && WIFEXITED(status)
                      && WEXITSTATUS(status) == lease::fenced_exit_code;
  if (st.has_attempt && why == kill_reason::dropped) {
    st.has_attempt = false; // fenced by the head: nothing to report
  } else if (st.has_attempt && why == kill_reason::shutdown) {
    detail["pid"] = pid;
    detail["reason"] = "node stopping: attempt handed back";
    send_done(self, task_state::queued, {}, {}, detail);
  } else if (st.has_attempt) {
    detail["pid"] = pid;
    if (why == kill_reason::bad_result) {
      detail["reason"] = "bad result";
      send_done(self, task_state::failed, {}, bad_result_error(st.bad_result), detail);
    } else if (why == kill_reason::timeout) {
      detail["reason"] = "time limit exceeded";
      json err = {{"kind", timeout_kind},
                  {"ancestors", json::array()},
                  {"message", "attempt exceeded its time limit of "
                                + std::to_string(st.current.time_limit_s) + " s"}};
      send_done(self, task_state::failed, {}, err, detail);
    } else {
      std::string reason = why == kill_reason::stuck ? "no progress for the stuck timeout"
                           : fenced ? "lease expired: the node could not renew it with the head"
                                    : "worker process died";
      detail["reason"] = reason;
      json err = {{"kind", lost_kind},
                  {"ancestors", json::array()},
                  {"message", reason + " ("
                                + detail.value("signal",
                                               "exit code " + std::to_string(
                                                 detail.value("exit_code", 0)))
                                + ")"}};
      if (!stack.empty())
        err["backtrace"] = stack;
      send_done(self, task_state::lost, {}, err, detail);
    }
  }
  if (was_ready && !st.stopping) // no dispatches until the new process is up
    self->send(st.cfg.scheduler, unready_atom::value, info_of(st),
               caf::actor_cast<caf::actor>(self));
  // Prefetched attempts wait for the restart after a deliberate kill; after a
  // crash (restart with backoff) or at shutdown they go back to the head.
  if (st.stopping || why == kill_reason::none || why == kill_reason::shutdown)
    hand_back_pending(self,
                      st.stopping ? "node stopping: prefetched attempt handed back"
                                  : "worker process died before the attempt started",
                      st.stopping ? "shutdown" : "process_died");
  if (st.stopping) {
    self->quit();
    return;
  }
  // Restart: at once after a deliberate kill, with growing backoff while the
  // process keeps dying on its own.
  std::chrono::milliseconds delay{0};
  if (why == kill_reason::none && !fenced) {
    ++st.crashes_in_row;
    delay = std::chrono::milliseconds(
      std::min<int64_t>(10'000, 50LL << std::min(st.crashes_in_row, 8)));
  }
  metrics::record_worker_restart(why == kill_reason::none ? "crashed" : "killed");
  spdlog::warn("worker exited node={} worker={} pid={} status={} restart_in_ms={}",
               st.cfg.node, st.cfg.index, pid, detail.dump(), delay.count());
  self->delayed_send(self, delay, spawn_atom::value);
}

} // namespace

caf::actor spawn_worker(caf::actor_system& sys, worker_config cfg) {
  if (!cfg.spawner)
    cfg.spawner = default_process_spawner();
  return sys.spawn([cfg](worker_actor_t* self) -> caf::behavior {
    self->state.cfg = cfg;
    self->set_exit_handler([self](caf::exit_msg& msg) {
      auto& st = self->state;
      st.stopping = true;
      if (st.pid > 0) {
        // An attempt still running is handed back (RUNNING → QUEUED), and so
        // are the prefetched ones, when the process has exited (on_exit).
        st.killing = kill_reason::none;
        kill_child(self, kill_reason::shutdown);
      } else {
        hand_back_pending(self, "node stopping: prefetched attempt handed back", "shutdown");
        self->quit(msg.reason);
      }
    });
    if (!start_child(self))
      self->delayed_send(self, std::chrono::seconds(1), spawn_atom::value);
    return {
      [self](dispatch_msg& msg) {
        auto& st = self->state;
        if (st.pid < 0 || st.stopping) {
          // The process is down (restarting) or the node stops: hand it back
          // unstarted so another slot can run it.
          report(self, msg, task_state::queued, {}, {},
                 {{"reason", "worker process not running"}, {"handback", "process_down"}});
          return;
        }
        st.pending.emplace_back(std::move(msg), now());
        if (!st.ticking) {
          st.ticking = true;
          self->delayed_send(self, tick_interval, tick_atom::value);
        }
        run_next(self);
      },
      [self](ready_atom) { announce(self); },
      // A renewal of the node's lease: passed down the pipe (a later end
      // only), where the process's own watchdog enforces it.
      [self](lease_atom, int64_t end_ns, int64_t margin_ns) {
        auto& st = self->state;
        if (st.lease && st.lease->end_ns >= end_ns)
          return;
        st.lease = wire::lease_cmd{end_ns, margin_ns};
        write_line(st, *st.lease);
      },
      [self](status_atom) {
        auto& st = self->state;
        auto me = caf::actor_cast<caf::actor>(self);
        std::vector<running_attempt> out;
        if (st.has_attempt)
          out.push_back({st.current.task_id, st.current.attempt, st.current.lease_epoch, me});
        for (auto& p : st.pending)
          out.push_back({p.first.task_id, p.first.attempt, p.first.lease_epoch, me});
        return out;
      },
      // Fenced by the head: the lease (not the attempt number, which a
      // hand-back reuses) names what to drop.
      [self](drop_atom, int64_t task_id, int64_t lease_epoch) {
        auto& st = self->state;
        if (st.has_attempt && st.current.task_id == task_id
            && st.current.lease_epoch == lease_epoch)
          kill_child(self, kill_reason::dropped);
        auto& p = st.pending; // fenced before it started: forget it
        p.erase(std::remove_if(p.begin(), p.end(),
                               [&](const auto& e) {
                                 return e.first.task_id == task_id
                                        && e.first.lease_epoch == lease_epoch;
                               }),
                p.end());
      },
      [self](cancel_atom, int64_t task_id) {
        auto& st = self->state;
        if (st.has_attempt && st.current.task_id == task_id)
          write_line(st, wire::cancel_cmd{task_id});
        for (auto i = st.pending.begin(); i != st.pending.end(); ++i)
          if (i->first.task_id == task_id) {
            auto d = std::move(i->first);
            st.pending.erase(i);
            report(self, d, task_state::cancelled, {}, {},
                   {{"reason", "cancelled before it started"}});
            break;
          }
      },
      [self](line_atom, std::vector<std::string>& lines) {
        for (const auto& line : lines)
          on_line(self, line);
      },
      [self](exited_atom, int32_t pid, int32_t status) {
        on_exit(self, pid, status);
      },
      [self](spawn_atom) {
        if (!self->state.stopping && self->state.pid < 0 && !start_child(self))
          self->delayed_send(self, std::chrono::seconds(1), spawn_atom::value);
      },
      [self](tick_atom) {
        auto& st = self->state;
        auto t = now();
        auto secs = [&](timestamp since) {
          return std::chrono::duration<double>(t - since).count();
        };
        if (st.has_attempt && st.pid > 0) {
          if (st.current.time_limit_s > 0
              && secs(st.started) > st.current.time_limit_s)
            kill_child(self, kill_reason::timeout);
          else if (st.current.stuck_timeout_s > 0
                   && secs(st.last_progress) > st.current.stuck_timeout_s)
            kill_child(self, kill_reason::stuck);
        }
        // A long attempt must not hold prefetched ones while other slots
        // are free: they go back to the head, which stops prefetching to
        // this worker until it is idle again.
        if (st.has_attempt && !st.pending.empty()
            && secs(st.pending.front().second) > st.cfg.prefetch_wait_s)
          hand_back_pending(self, "waited behind a long attempt", "prefetch_wait");
        // An idle worker does not tick: the next dispatch arms it again.
        st.ticking = st.has_attempt || !st.pending.empty();
        if (st.ticking)
          self->delayed_send(self, tick_interval, tick_atom::value);
      },
    };
  });
}

std::vector<caf::actor> spawn_workers(caf::actor_system& sys, const std::string& node,
                                      int count, const std::vector<std::string>& queues,
                                      const std::string& exe, const caf::actor& scheduler,
                                      int32_t prefetch) {
  std::vector<caf::actor> out;
  for (int i = 0; i < count; ++i) {
    worker_config w;
    w.node = node;
    w.index = i;
    w.queues = queues;
    w.exe = exe;
    const auto& l = process_limits();
    w.argv = {"worker-process",
              "--max-json-bytes", std::to_string(l.max_json_bytes),
              "--max-json-depth", std::to_string(l.max_json_depth),
              "--max-name-bytes", std::to_string(l.max_name_bytes)};
    w.scheduler = scheduler;
    w.head = scheduler;
    w.prefetch = prefetch;
    out.push_back(spawn_worker(sys, w));
  }
  return out;
}

} // namespace taskrt

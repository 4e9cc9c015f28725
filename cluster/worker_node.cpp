#include "taskrt/cluster/worker_node.hpp"

#include "taskrt/actors/worker.hpp"
#include "taskrt/cluster/net_config.hpp"
#include "taskrt/http/health_server.hpp"
#include "taskrt/metrics/taskrt_metrics.hpp"
#include "taskrt/runtime/lease.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/version.hpp"

#include <caf/io/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <optional>
#include <thread>

#include <unistd.h>

namespace taskrt {

namespace {

using headlost_atom = caf::atom_constant<caf::atom("headlost")>;
using nodedone_atom = caf::atom_constant<caf::atom("nodedone")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;

struct node_state {
  node_info info;
  /// The head, through the typed node interface; null while disconnected.
  node_head_actor head;
  /// The head a registration is pending with (monitored: if it goes away
  /// meanwhile, the registration fails at once instead of after its timeout).
  caf::actor registering;
  caf::response_promise registering_rp;
  caf::actor main;      ///< the connect loop, told when the head is lost
  std::vector<caf::actor> workers;
  std::vector<attempt_done_msg> unsent; ///< results waiting for a head
  /// Results sent but not yet acknowledged: a heartbeat reply acknowledges
  /// everything sent before the heartbeat (one connection keeps order).
  std::vector<std::pair<uint64_t, attempt_done_msg>> unacked;
  uint64_t sent_seq = 0;
  /// The coalescing buffer: results and events not sent yet (one
  /// node_report_msg per window), and whether the window's timer is armed.
  node_report_msg out;
  bool flush_armed = false;
  bool flush_soon = false; ///< a flush is queued behind the mailbox's messages
  double heartbeat_s = 1;
  /// The lease terms of the head, and where this node's lease ends
  /// (CLOCK_MONOTONIC ns; 0: never granted).
  lease::terms lease_terms;
  int64_t lease_end_ns = 0;
  bool draining = false;
  bool drain_deadline_passed = false;
  double drain_grace_s = 30;
  size_t workers_down = 0;
  fault_point fault = fault_point::none;
  std::chrono::microseconds report_window = node_report_window;
  static inline const char* name = "taskrt.node_supervisor";
};

using node_actor_t = caf::stateful_actor<node_state>;

void lose_head(node_actor_t* self, const std::string& why) {
  auto& st = self->state;
  if (!st.head)
    return;
  spdlog::warn("node {}: lost the head ({}); keeping {} worker(s), reconnecting",
               st.info.id, why, st.workers.size());
  self->demonitor(st.head.address());
  st.head = nullptr;
  metrics::set_node_registered(false);
  // Whatever the old head may not have seen is sent again after registering;
  // the head fences results of attempts it already declared LOST. Events
  // still in the coalescing buffer are dropped, as they were when the head
  // went away; its results wait with the others.
  std::vector<attempt_done_msg> again;
  for (auto& kv : st.unacked)
    again.push_back(std::move(kv.second));
  st.unacked.clear();
  for (auto& r : st.out.results)
    again.push_back(std::move(r));
  st.out.results.clear();
  st.out.events.clear();
  again.insert(again.end(), st.unsent.begin(), st.unsent.end());
  st.unsent = std::move(again);
  self->send(st.main, headlost_atom::value);
}

/// The head answered a heartbeat (or registration) this node sent at
/// `sent_ns`: the lease now ends lease_s after that (never after the answer
/// came), and every worker passes the new end down its pipe.
void renew_lease(node_actor_t* self, int64_t sent_ns) {
  auto& st = self->state;
  const auto end = lease::node_lease_end(sent_ns, st.lease_terms);
  if (end <= st.lease_end_ns)
    return;
  st.lease_end_ns = end;
  for (auto& w : st.workers)
    self->send(w, lease_atom::value, end, st.lease_terms.margin_ns);
}

/// Sends the coalescing buffer to the head in one message; its results are
/// kept until a heartbeat acknowledges them.
void flush_report(node_actor_t* self) {
  auto& st = self->state;
  if (!st.head || (st.out.results.empty() && st.out.events.empty()))
    return;
  // The window "node killed with results in its coalescing buffer".
  TASKRT_FAULT_HOOK(TASKRT_FAULT_ACTIVE(st.fault, fault_point::node_exit_before_report)
                      && !st.out.results.empty(),
    spdlog::critical("fault injection: node {} exiting with {} result(s) in its coalescing "
                     "buffer, before sending them (task={})",
                     st.info.id, st.out.results.size(), st.out.results.front().task_id);
    fault_exit();
  );
  for (const auto& r : st.out.results)
    st.unacked.emplace_back(++st.sent_seq, r);
  self->send(st.head, std::move(st.out));
  st.out = node_report_msg{};
}

/// After an item went into the coalescing buffer: the buffer is sent when
/// it holds node_report_max_items, else when the window's timer fires, or,
/// with `now`, once the messages already in this actor's mailbox are taken
/// in (a worker went idle: waiting longer would only idle it).
void coalesce(node_actor_t* self, bool now = false) {
  auto& st = self->state;
  if (st.out.results.size() + st.out.events.size() >= node_report_max_items) {
    flush_report(self);
  } else if (now && st.report_window <= node_report_window && !st.flush_soon) {
    st.flush_soon = true;
    self->send(self, flush_atom::value, true);
  } else if (!st.flush_armed) {
    st.flush_armed = true;
    self->delayed_send(self, st.report_window, flush_atom::value);
  }
}

/// Sends a result to the head (through the coalescing buffer), keeping it
/// until a heartbeat acknowledges it. A worker that began no prefetched
/// attempt with it is idle now: its result goes out without the window.
void send_result(node_actor_t* self, attempt_done_msg msg) {
  const bool idle = msg.began.task_id == 0;
  self->state.out.results.push_back(std::move(msg));
  coalesce(self, idle);
}

/// Asks every worker what it runs, then registers with `head`.
void register_with(node_actor_t* self, caf::actor head, caf::response_promise rp) {
  auto& st = self->state;
  auto gathered = std::make_shared<std::vector<running_attempt>>();
  auto pending = std::make_shared<size_t>(st.workers.size());
  st.registering = head;
  st.registering_rp = rp;
  self->monitor(head);
  auto finish = [self, head, rp, gathered]() mutable {
    auto& st = self->state;
    if (st.registering != head)
      return; // the head went away meanwhile (answered in the down handler)
    const auto sent_ns = lease::mono_ns();
    self->request(caf::actor_cast<node_head_actor>(head), std::chrono::seconds(30),
                  register_atom::value, st.info, *gathered)
      .then(
        [self, head, rp, gathered, sent_ns](register_reply& reply) mutable {
          auto& st = self->state;
          if (st.registering != head)
            return; // it went away meanwhile; answered already
          st.registering = nullptr;
          st.head = caf::actor_cast<node_head_actor>(head);
          st.heartbeat_s = reply.heartbeat_s;
          st.lease_terms = lease::terms_of(reply.lease_s, reply.lease_margin_s);
          metrics::set_node_registered(true);
          // Fenced attempts are killed first: the renewal below reaches
          // each worker after its drop (one sender, in order).
          for (auto& d : reply.drop)
            self->send(d.worker, drop_atom::value, d.task_id, d.lease_epoch);
          renew_lease(self, sent_ns);
          for (auto& r : st.unsent)
            st.out.results.push_back(std::move(r));
          st.unsent.clear();
          flush_report(self);
          if (st.draining)
            self->send(head, drain_atom::value, st.info.id);
          for (auto& w : st.workers)
            self->send(w, ready_atom::value); // announce idle slots again
          spdlog::info("node {} registered: {} slot(s), {} running attempt(s) reported, "
                       "{} dropped",
                       st.info.id, st.info.slots, gathered->size(), reply.drop.size());
          rp.deliver(true);
        },
        [self, head, rp](caf::error& e) mutable {
          auto& st = self->state;
          if (st.registering != head)
            return;
          st.registering = nullptr;
          self->demonitor(head);
          rp.deliver(e);
        });
  };
  if (*pending == 0) {
    finish();
    return;
  }
  for (auto& w : st.workers)
    self->request(w, std::chrono::seconds(10), status_atom::value)
      .then(
        [gathered, pending, finish](std::vector<running_attempt>& r) mutable {
          gathered->insert(gathered->end(), r.begin(), r.end());
          if (--*pending == 0)
            finish();
        },
        [pending, finish](caf::error&) mutable {
          if (--*pending == 0)
            finish();
        });
}

/// When draining: stop the workers once nothing runs or the grace passed.
void check_drain(node_actor_t* self) {
  auto& st = self->state;
  if (!st.draining)
    return;
  auto busy = std::make_shared<size_t>(0);
  auto pending = std::make_shared<size_t>(st.workers.size());
  for (auto& w : st.workers)
    self->request(w, std::chrono::seconds(5), status_atom::value)
      .then(
        [self, busy, pending](std::vector<running_attempt>& r) {
          *busy += r.size();
          if (--*pending == 0) {
            auto& st = self->state;
            if (*busy == 0 || st.drain_deadline_passed) {
              for (auto& w : st.workers)
                self->send_exit(w, caf::exit_reason::user_shutdown);
            } else {
              self->delayed_send(self, std::chrono::milliseconds(200), drain_atom::value,
                                 true);
            }
          }
        },
        [](caf::error&) {});
}

/// Hands each attempt of a dispatch batch to its worker. One for a worker
/// this node does not have (a head's bug, or a forged batch) is handed back
/// unstarted with the reason, never run and never a crash.
void on_dispatch_batch(node_actor_t* self, dispatch_batch_msg& batch) {
  auto& st = self->state;
  for (auto& item : batch.items) {
    if (item.worker >= 0 && static_cast<size_t>(item.worker) < st.workers.size()) {
      self->send(st.workers[static_cast<size_t>(item.worker)], std::move(item.run));
      continue;
    }
    spdlog::warn("node {}: dispatch of task={} for worker {}, which this node does not have; "
                 "handed back",
                 st.info.id, item.run.task_id, item.worker);
    attempt_done_msg back;
    back.task_id = item.run.task_id;
    back.attempt = item.run.attempt;
    back.lease_epoch = item.run.lease_epoch;
    back.outcome = task_state::queued;
    back.detail = nlohmann::json{{"reason", "no such worker on this node"},
                                 {"handback", "process_down"},
                                 {"node", st.info.id}}
                    .dump();
    if (st.head)
      send_result(self, std::move(back));
  }
}

caf::behavior node_supervisor(node_actor_t* self, node_info info, caf::actor main,
                              double drain_grace_s, fault_point fault,
                              std::chrono::microseconds report_window) {
  self->state.fault = fault;
  self->state.report_window = report_window;
  self->state.info = std::move(info);
  self->state.main = main;
  self->state.drain_grace_s = drain_grace_s;
  self->set_down_handler([self](caf::down_msg& d) {
    auto& st = self->state;
    if (st.registering && d.source == st.registering.address()) {
      // The head went away while it had our registration: try again (a
      // takeover or a restart is seconds away), not after the 30 s timeout.
      st.registering = nullptr;
      st.registering_rp.deliver(make_error(errc::unavailable,
                                           "the head went away during the registration ("
                                             + to_string(d.reason) + ")"));
      return;
    }
    if (st.head && d.source == st.head.address()) {
      lose_head(self, to_string(d.reason));
      return;
    }
    // A worker stopped (only when draining).
    if (++st.workers_down == st.workers.size()) {
      if (st.head) {
        for (auto& r : st.unsent)
          st.out.results.push_back(std::move(r));
        st.unsent.clear();
        flush_report(self);
        self->send(st.head, leave_atom::value, st.info.id);
      }
      metrics::set_node_registered(false);
      self->send(st.main, nodedone_atom::value);
      self->quit();
    }
  });
  self->delayed_send(self, std::chrono::milliseconds(500), heartbeat_atom::value);
  return {
    [self](const std::vector<caf::actor>& workers) {
      self->state.workers = workers;
      for (auto& w : workers)
        self->monitor(w);
    },
    // From the HTTP probes: registered with a head (readiness); answering at
    // all is liveness.
    [self](status_atom) { return static_cast<bool>(self->state.head); },
    [self](register_atom, caf::actor head) -> caf::result<bool> {
      auto rp = self->make_response_promise();
      register_with(self, std::move(head), rp);
      return rp;
    },
    [self](heartbeat_atom) {
      auto& st = self->state;
      flush_report(self); // what the heartbeat's answer acknowledges
      if (st.head) {
        const auto acked_up_to = st.sent_seq;
        const auto sent_ns = lease::mono_ns();
        self->request(st.head, std::chrono::seconds(5), heartbeat_atom::value, st.info.id)
          .then(
            [self, acked_up_to, sent_ns](bool alive) {
              auto& st = self->state;
              if (!alive) {
                lose_head(self, "the head declared this node dead; registering again");
                return;
              }
              renew_lease(self, sent_ns);
              auto& u = st.unacked;
              u.erase(std::remove_if(u.begin(), u.end(),
                                     [&](const auto& kv) { return kv.first <= acked_up_to; }),
                      u.end());
            },
            [](caf::error&) {});
      }
      self->delayed_send(self,
                         std::chrono::milliseconds(static_cast<int64_t>(st.heartbeat_s * 1000)),
                         heartbeat_atom::value);
    },
    [self](drain_atom) {
      auto& st = self->state;
      if (st.draining)
        return;
      st.draining = true;
      spdlog::info("node {} draining (grace {} s)", st.info.id, st.drain_grace_s);
      if (st.head) {
        flush_report(self);
        self->send(st.head, drain_atom::value, st.info.id);
      }
      self->delayed_send(self,
                         std::chrono::milliseconds(static_cast<int64_t>(st.drain_grace_s * 1000)),
                         drain_atom::value, false);
      check_drain(self);
    },
    [self](drain_atom, bool recheck) {
      if (!recheck)
        self->state.drain_deadline_passed = true;
      check_drain(self);
    },
    // From the workers: forwarded to the head.
    // (Slot announcements keep their place after the results before them.)
    [self](ready_atom, worker_info& info, caf::actor& w) {
      auto& st = self->state;
      if (st.head && !st.draining) {
        flush_report(self);
        self->send(st.head, ready_atom::value, std::move(info), std::move(w));
      }
    },
    [self](unready_atom, worker_info& info, caf::actor& w) {
      auto& st = self->state;
      if (st.head) {
        flush_report(self);
        self->send(st.head, unready_atom::value, std::move(info), std::move(w));
      }
    },
    [self](attempt_done_msg& msg) {
      auto& st = self->state;
      if (st.head)
        send_result(self, std::move(msg));
      else
        st.unsent.push_back(std::move(msg));
    },
    [self](event_atom, attempt_event_msg& ev) {
      auto& st = self->state;
      if (!st.head)
        return;
      st.out.events.push_back(std::move(ev));
      coalesce(self);
    },
    [self](flush_atom) {
      self->state.flush_armed = false;
      flush_report(self);
    },
    [self](flush_atom, bool) {
      self->state.flush_soon = false;
      flush_report(self);
    },
    // From the head: one dispatch round's attempts for this node's workers.
    [self](dispatch_batch_msg& batch) { on_dispatch_batch(self, batch); },
    [self](submit_atom, task_spec& spec) -> caf::result<int64_t> {
      auto& st = self->state;
      if (!st.head)
        return make_error(errc::unavailable, "the head is not reachable right now");
      return self->delegate(st.head, submit_atom::value,
                            std::move(spec));
    },
  };
}

/// The host name: stable across restarts, so a restarted node takes its
/// id back instead of adding a row (a second node on one host needs
/// --node-id; the head refuses a duplicate while the first one lives).
std::string default_node_id() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return host[0] ? std::string{host} : std::string{"node"};
}

/// Probes of a worker node: live when its supervisor answers within 2 s;
/// ready while it is registered with a head.
http::probes node_probes(caf::actor_system& sys, caf::actor sup) {
  auto ask = [&sys, sup](bool& registered, std::string& error) {
    caf::scoped_actor self{sys};
    bool answered = false;
    self->request(sup, std::chrono::seconds(2), status_atom::value)
      .receive([&](bool r) { registered = r, answered = true; },
               [&](caf::error& e) { error = sys.render(e); });
    return answered;
  };
  http::probes p;
  p.live = [ask] {
    bool registered = false;
    std::string error;
    if (!ask(registered, error))
      return http::probe_result{false, "the node supervisor did not answer: " + error};
    return http::probe_result{true, {}};
  };
  p.ready = [ask] {
    bool registered = false;
    std::string error;
    if (!ask(registered, error))
      return http::probe_result{false, "the node supervisor did not answer: " + error};
    if (!registered)
      return http::probe_result{false, "not registered with a head"};
    return http::probe_result{true, {}};
  };
  return p;
}

} // namespace

int run_worker_node(worker_node_options opts, const task_registry& registry) {
  const sigset_t sigs = block_stop_signals();
  if (opts.node_id.empty())
    opts.node_id = default_node_id();
  if (opts.workers <= 0)
    opts.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  logging::setup_logging(opts.log_format, opts.node_id);
  metrics::register_all("node", true);

  std::optional<tls_files> tls;
  if (!opts.tls.dir.empty()) {
    try {
      tls = resolve_tls(opts.tls, {opts.node_id});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "taskrt: %s\n", e.what());
      return 1;
    }
  }

  caf::actor_system_config cfg;
  configure_network(cfg, opts.net);
  // One scheduler thread: a node's actors only pass messages between the
  // head and its worker processes (the tasks run in those), and CAF's idle
  // work-stealing threads poll 50 µs at a time after every message, taking
  // the CPU from the task processes and from a Postgres on the same machine
  // (docs/performance.md, "Worker nodes": node CPU per task halved, 2-node
  // throughput up by about half on 2 cores).
  cfg.set("scheduler.max-threads", size_t{1});
  if (tls)
    configure_tls(cfg, *tls);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  node_info info;
  info.id = opts.node_id;
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  info.host = host;
  info.slots = opts.workers;
  info.pid = static_cast<int32_t>(::getpid());
  info.queues = opts.queues;
  info.tasks = registry.names();
  info.version = version();
  auto sup = sys.spawn(node_supervisor, info, caf::actor_cast<caf::actor>(self),
                       opts.drain_grace_s, opts.fault, opts.report_window);
  auto workers = spawn_workers(sys, opts.node_id, opts.workers, opts.queues, opts.exe, sup,
                               opts.prefetch);
  self->send(sup, workers);

  std::unique_ptr<http::health_server> http_server;
  if (opts.http_port >= 0) {
    http_server = std::make_unique<http::health_server>(node_probes(sys, sup));
    if (auto ok = http_server->start(opts.http_host, opts.http_port); !ok) {
      std::fprintf(stderr, "taskrt: cannot serve HTTP on %s:%d: %s\n", opts.http_host.c_str(),
                   opts.http_port, error_message(ok.error()).c_str());
      self->send_exit(sup, caf::exit_reason::user_shutdown);
      for (auto& w : workers)
        self->send_exit(w, caf::exit_reason::user_shutdown);
      return 1;
    }
  }

  std::thread{[sup, sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    caf::anon_send(sup, drain_atom::value);
  }}.detach();

  auto heads = opts.heads;
  if (heads.empty())
    heads.push_back({opts.head_host, opts.head_port});
  size_t head_index = 0;
  const auto transport
    = tls ? "mutual TLS as '" + tls->name + "' (CA " + tls->ca_file + ")" : std::string{"plaintext"};
  const auto http_line = http_server ? "http://" + opts.http_host + ":"
                                         + std::to_string(http_server->port())
                                     : std::string{"off"};
  if (opts.log_format == logging::log_format::json) {
    spdlog::info("worker node {}: {} workers, head {}, {}, http {}", opts.node_id,
                 opts.workers, join_head_addresses(heads), transport, http_line);
  } else {
    std::printf("taskrt worker node %s: %d workers, head %s, %s, http %s\n",
                opts.node_id.c_str(), opts.workers, join_head_addresses(heads).c_str(),
                transport.c_str(), http_line.c_str());
    std::fflush(stdout);
  }
  auto backoff = std::chrono::milliseconds(200);
  const auto max_backoff = std::chrono::milliseconds(500);
  bool done = false;
  int exit_code = 0;
  while (!done) {
    auto h = connect_any_head(sys, heads, head_index);
    bool registered = false;
    if (h) {
      self->request(sup, caf::infinite, register_atom::value, caf::actor_cast<caf::actor>(*h))
        .receive([&](bool) { registered = true; },
                 [&](caf::error& e) {
                   if (taskrt_code(e) == static_cast<uint8_t>(errc::illegal_state)) {
                     // Refused for good (a live node holds this id): retrying
                     // would only wait for that node to die.
                     std::fprintf(stderr, "taskrt: the head refused node %s: %s\n",
                                  opts.node_id.c_str(), error_message(e).c_str());
                     exit_code = 1;
                     done = true;
                     return;
                   }
                   spdlog::warn("node {}: registration failed: {}", opts.node_id,
                                sys.render(e));
                 });
    } else {
      spdlog::warn("node {}: {}; retrying in {} ms", opts.node_id, error_message(h.error()),
                   backoff.count());
    }
    if (done) {
      for (auto& w : workers)
        anon_send_exit(w, caf::exit_reason::user_shutdown);
      anon_send_exit(sup, caf::exit_reason::user_shutdown);
      break;
    }
    if (registered) {
      backoff = std::chrono::milliseconds(200);
      // Wait until the head is lost (reconnect) or the node is done.
      self->receive([&](headlost_atom) {}, [&](nodedone_atom) { done = true; });
      continue;
    }
    self->receive([&](nodedone_atom) { done = true; }, [&](headlost_atom) {},
                  caf::after(backoff) >> [] {});
    // A failed attempt costs at most the probe's 500 ms (cluster/tcp_probe.hpp),
    // and a head restarted on its address or a standby taking over is back
    // within seconds: a cap of 5 s (before) made nodes rejoin up to 5 s late.
    backoff = std::min(backoff * 2, max_backoff);
  }
  if (http_server)
    http_server->stop();
  spdlog::info("node {} left", opts.node_id);
  return exit_code;
}

} // namespace taskrt

#include "cluster/worker_node.hpp"

#include "actors/worker.hpp"
#include "cluster/net_config.hpp"
#include "http/health_server.hpp"
#include "metrics/taskrt_metrics.hpp"
#include "runtime/lease.hpp"
#include "runtime/protocol.hpp"
#include "runtime/version.hpp"

#include <caf/io/all.hpp>
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

struct node_state {
  node_info info;
  caf::actor head;      ///< null while disconnected
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
  double heartbeat_s = 1;
  /// The lease terms of the head, and where this node's lease ends
  /// (CLOCK_MONOTONIC ns; 0: never granted).
  lease::terms lease_terms;
  int64_t lease_end_ns = 0;
  bool draining = false;
  bool drain_deadline_passed = false;
  double drain_grace_s = 30;
  size_t workers_down = 0;
  static inline const char* name = "taskrt.node_supervisor";
};

using node_actor_t = caf::stateful_actor<node_state>;

void lose_head(node_actor_t* self, const std::string& why) {
  auto& st = self->state;
  if (!st.head)
    return;
  spdlog::warn("node {}: lost the head ({}); keeping {} worker(s), reconnecting",
               st.info.id, why, st.workers.size());
  self->demonitor(st.head);
  st.head = nullptr;
  metrics::set_node_registered(false);
  // Whatever the old head may not have seen is sent again after registering;
  // the head fences results of attempts it already declared LOST.
  std::vector<attempt_done_msg> again;
  for (auto& kv : st.unacked)
    again.push_back(std::move(kv.second));
  st.unacked.clear();
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

/// Sends a result to the head, keeping it until a heartbeat acknowledges it.
void send_result(node_actor_t* self, attempt_done_msg msg) {
  auto& st = self->state;
  self->send(st.head, msg);
  st.unacked.emplace_back(++st.sent_seq, std::move(msg));
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
    self->request(head, std::chrono::seconds(30), register_atom::value, st.info, *gathered)
      .then(
        [self, head, rp, gathered, sent_ns](register_reply& reply) mutable {
          auto& st = self->state;
          if (st.registering != head)
            return; // it went away meanwhile; answered already
          st.registering = nullptr;
          st.head = head;
          st.heartbeat_s = reply.heartbeat_s;
          st.lease_terms = lease::terms_of(reply.lease_s, reply.lease_margin_s);
          metrics::set_node_registered(true);
          // Fenced attempts are killed first: the renewal below reaches
          // each worker after its drop (one sender, in order).
          for (auto& d : reply.drop)
            self->send(d.worker, drop_atom::value, d.task_id, d.lease_epoch);
          renew_lease(self, sent_ns);
          for (auto& r : st.unsent)
            send_result(self, std::move(r));
          st.unsent.clear();
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

caf::behavior node_supervisor(node_actor_t* self, node_info info, caf::actor main,
                              double drain_grace_s) {
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
          send_result(self, std::move(r));
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
      if (st.head) {
        int32_t n = 0;
        const auto acked_up_to = st.sent_seq;
        const auto sent_ns = lease::mono_ns();
        self->request(st.head, std::chrono::seconds(5), heartbeat_atom::value, st.info.id, n)
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
      if (st.head)
        self->send(st.head, drain_atom::value, st.info.id);
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
    [self](ready_atom, worker_info& info, caf::actor& w) {
      auto& st = self->state;
      if (st.head && !st.draining)
        self->send(st.head, ready_atom::value, std::move(info), std::move(w));
    },
    [self](unready_atom, worker_info& info, caf::actor& w) {
      auto& st = self->state;
      if (st.head)
        self->send(st.head, unready_atom::value, std::move(info), std::move(w));
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
      if (st.head)
        self->send(st.head, event_atom::value, std::move(ev));
    },
    [self](submit_atom, task_spec& spec) -> caf::result<int64_t> {
      auto& st = self->state;
      if (!st.head)
        return make_error(errc::unavailable, "the head is not reachable right now");
      return self->delegate(caf::actor_cast<head_actor>(st.head), submit_atom::value,
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
                       opts.drain_grace_s);
  auto workers = spawn_workers(sys, opts.node_id, opts.workers, opts.queues, opts.exe, sup,
                               opts.prefetch);
  self->send(sup, workers);

  std::unique_ptr<http::health_server> http_server;
  if (opts.http_port >= 0) {
    http_server = std::make_unique<http::health_server>(node_probes(sys, sup));
    std::string error;
    if (!http_server->start(opts.http_host, opts.http_port, error)) {
      std::fprintf(stderr, "taskrt: cannot serve HTTP on %s:%d: %s\n", opts.http_host.c_str(),
                   opts.http_port, error.c_str());
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

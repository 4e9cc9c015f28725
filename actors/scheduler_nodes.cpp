/// The node registry wired to CAF: registration (with adoption of running
/// attempts), heartbeats, drain and leave, down messages, the nodes rows and
/// the /metrics gauges.

#include "taskrt/actors/scheduler_state.hpp"
#include "taskrt/runtime/version.hpp"

namespace taskrt::scheduler_detail {

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

/// The wire's name for a registry state.
node_status status_of(sched::node_state s) {
  switch (s) {
    case sched::node_state::alive: return node_status::alive;
    case sched::node_state::suspect: return node_status::suspect;
    case sched::node_state::dead: return node_status::dead;
    case sched::node_state::draining: return node_status::draining;
    case sched::node_state::left: return node_status::left;
  }
  return node_status::dead;
}

std::vector<node_view> node_views(const scheduler_state& st) {
  std::vector<node_view> out;
  for (const auto& kv : st.nodes.nodes()) {
    const auto& n = kv.second;
    out.push_back({n.info.id, status_of(n.state), n.info.slots, running_on(st, n.info.id),
                   n.last_heartbeat_us,
                   n.info.id == st.cfg.node_id ? std::string{version()} : n.info.version});
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
  if (info.node == st.cfg.node_id) {
    st.local_workers.insert(w);
    renew_local_leases(self, w); // before its first dispatch
  }
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
  if (info.protocol != node_protocol_version)
    return make_error(errc::illegal_state,
                      "node '" + info.id + "' speaks node protocol " + std::to_string(info.protocol)
                        + " (taskrt " + info.version + "), this head speaks node protocol "
                        + std::to_string(node_protocol_version) + " (taskrt " + version()
                        + "): run the same protocol on both (docs/deploy.md, Upgrades)");
  if (!within_supported_skew(version(), info.version))
    return make_error(errc::illegal_state,
                      "node '" + info.id + "' runs taskrt " + info.version + ", this head runs "
                        + version() + ": outside the supported version skew (same major, "
                        "minor at most one apart); upgrade it (docs/deploy.md, Upgrades)");
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
    {info.id, info.host, info.slots, info.pid, info.queues, info.tasks, info.version}, to_micros(now()));
  const bool rejoin = before == sched::node_state::dead;
  set_supervisor(st, info.id, sup);
  self->monitor(sup);
  register_reply reply;
  reply.heartbeat_s = st.cfg.heartbeat_s;
  reply.lease_s = st.cfg.lease_s;
  reply.lease_margin_s = st.cfg.lease_margin_s;
  journal_store::batch b;
  for (auto& ra : running) {
    auto i = st.tasks.find(ra.task_id);
    const auto* lease = st.leases.current(ra.task_id, ra.attempt, ra.lease_epoch);
    // A worker handle comes from the peer: only one living in the
    // registering process may hold an attempt (a null one would crash
    // monitor(), another process's one would take over its attempt).
    const bool current = lease && lease->node == info.id && i != st.tasks.end()
                         && i->second.rec.state == task_state::running && ra.worker
                         && ra.worker.node() == sup.node();
    if (current) {
      auto& t = i->second;
      if (!st.slots.find(known_slot(st, ra.worker.address())))
        self->monitor(ra.worker);
      assign(st, t, ra.worker);
      st.orphans.erase(ra.task_id);
      if (t.cancel_requested) // requested before the restart: deliver it again
        self->send(ra.worker, cancel_atom::value, ra.task_id);
      b.notes.push_back({ra.task_id, ra.attempt, note_kind::adopted,
                         {{"node", info.id}, {"lease_epoch", ra.lease_epoch}},
                         to_micros(now()), info.id});
    } else {
      reply.drop.push_back(ra);
      b.notes.push_back({ra.task_id, ra.attempt, note_kind::fenced_attempt,
                         {{"node", info.id},
                          {"lease_epoch", ra.lease_epoch},
                          {"reason", "the attempt was declared LOST meanwhile; the node drops it"}},
                         to_micros(now()), info.id});
    }
  }
  if (!b.empty())
    journal(self, std::move(b), [](journal_store::batch_result&) {});
  st.leases.granted(info.id, lease::mono_ns()); // the node counts from before it asked
  spdlog::info("node {} {} version={} slots={} queues={} reported_running={} dropped={}",
               info.id, rejoin ? "rejoined" : "registered",
               info.version.empty() ? "unknown" : info.version, info.slots, info.queues.size(),
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
  // Spilled queues: their tasks in the journal only count too.
  for (const auto& name : st.window.spilled_queues()) {
    queues[name].first += st.window.outside(name);
    tasks[task_state::queued] += st.window.outside(name);
  }
  tasks[task_state::queued] += st.later_outside; // scheduled past the horizon
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
  renew_local_leases(self);
  if (release_expired_fences(st))
    try_dispatch(self);
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
    fence_lost_attempt(st, task); // its node may run it still, cut off from this head
    json err = {{"kind", lost_kind},
                {"ancestors", json::array()},
                {"message", "node " + task.rec.node
                              + " did not re-register after the head restarted"}};
    end_attempt(self, task, task_state::lost, "", err.dump(),
                {{"reason", "not adopted after head restart"}, {"node", task.rec.node}});
  }
}


/// A worker is not ready (its process restarts): no dispatches to it.
void on_unready(scheduler_state& st, const caf::actor& w) {
  if (auto sid = known_slot(st, w.address()))
    st.slots.set_unready(sid);
}

/// A node registers: checked (its certificate under TLS, then its id),
/// answered after recovery.
caf::result<register_reply> on_register_request(scheduler_actor_t* self, node_info& info,
                                                std::vector<running_attempt>& running) {
  auto& st = self->state;
  auto sup = caf::actor_cast<caf::actor>(self->current_sender());
  auto rp = self->make_response_promise<register_reply>();
  if (!sup) {
    // No sender: CAF 0.17 delivers a remote message without one when it came
    // over a connection it no longer knows (its node id was purged), and an
    // anonymous local send has none. Nobody to monitor, nobody to answer.
    spdlog::warn("refused registration of node {}: it came without a sender (its connection "
                 "is gone)", info.id);
    rp.deliver(make_error(errc::illegal_state, "registration of node '" + info.id
                                                 + "' refused: it came without a sender"));
    return rp;
  }
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
  st.leases.granted(node, lease::mono_ns()); // answered true: the node's lease is renewed
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

} // namespace taskrt::scheduler_detail

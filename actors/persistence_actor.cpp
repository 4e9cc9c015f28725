#include "taskrt/actors/persistence_actor.hpp"

#include "taskrt/metrics/taskrt_metrics.hpp"
#include "taskrt/persistence/store_error.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/time.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <map>
#include <tuple>

namespace taskrt {

namespace {

using retry_atom = caf::atom_constant<caf::atom("jretry")>;
using health_atom = caf::atom_constant<caf::atom("jhealth")>;
using lane_atom = caf::atom_constant<caf::atom("jlane")>;

using batch = journal_store::batch;
using batch_result = journal_store::batch_result;

struct pending_request {
  batch b;
  caf::response_promise promise;
  size_t items = 0;
};

/// Requests committed together in one transaction, under one commit id.
struct unit {
  std::vector<pending_request> reqs;
  std::string commit_id = journal_store::new_commit_id();
  int conflicts = 0; ///< serialization failures / deadlocks so far
  bool maybe_committed = false; ///< an attempt failed in doubt (during COMMIT)
};

struct persistence_state {
  std::shared_ptr<transition_store_interface> store;
  std::shared_ptr<node_store_interface> node_rows; ///< null in the submit lane
  std::shared_ptr<task_reads_interface> reads;     ///< null in the submit lane
  persistence_options opts;
  std::deque<pending_request> pending; ///< not yet in a unit
  std::deque<unit> units;              ///< formed; the front one commits next
  std::map<std::string, node_row> nodes;
  /// Loads waiting for Postgres, with their window and horizon.
  std::vector<std::tuple<caf::response_promise, int32_t, int64_t>> loads;
  std::vector<caf::actor> subscribers;
  bool flush_scheduled = false;
  bool lingered = false; ///< the scheduled flush waits out opts.linger
  caf::actor_clock::time_point last_commit_end; ///< on the actor's clock
  bool up = true;
  std::string reason;
  int64_t down_since_us = 0;
  bool retry_scheduled = false;
  std::chrono::milliseconds backoff{100};
  caf::actor_clock::time_point last_ok; ///< on the actor's clock
  uint64_t commits = 0;
  caf::actor router;          ///< told of the submit lane once it is open
  caf::actor lane;            ///< the submit lane, once open
  bool lane_up = true;        ///< as the lane last said
  std::string lane_reason;
  bool published_up = true;   ///< what the subscribers were told last
  static inline const char* name = "taskrt.persistence";
};

using persistence_actor_t = caf::stateful_actor<persistence_state>;

size_t items_of(const batch& b) {
  return b.submits.size() + b.transitions.size() + b.notes.size() + b.checkpoints.size()
         + b.progress.size();
}

bool submits_only(const batch& b) {
  return !b.submits.empty() && b.transitions.empty() && b.notes.empty()
         && b.checkpoints.empty() && b.progress.empty();
}

template <class T>
void append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

caf::error unavailable(const persistence_state& st) {
  return make_error(errc::unavailable, "journal unavailable: " + st.reason);
}

/// The journal state subscribers see: down when this connection or the
/// submit lane's is.
std::pair<bool, std::string> published(const persistence_state& st) {
  if (!st.up)
    return {false, st.reason};
  if (!st.lane_up)
    return {false, st.lane_reason};
  return {true, {}};
}

void notify(persistence_actor_t* self) {
  auto& st = self->state;
  auto [up, reason] = published(st);
  st.published_up = up;
  for (auto& s : st.subscribers)
    self->send(s, journal_atom::value, up, reason);
}

void mark_up(persistence_actor_t* self) {
  auto& st = self->state;
  st.last_ok = self->clock().now();
  st.backoff = std::chrono::milliseconds{100};
  if (st.up)
    return;
  spdlog::info("journal available again after {:.1f} s",
               static_cast<double>(to_micros(now()) - st.down_since_us) / 1e6);
  st.up = true;
  st.reason.clear();
  st.down_since_us = 0;
  notify(self);
}

void schedule_retry(persistence_actor_t* self) {
  auto& st = self->state;
  if (st.retry_scheduled)
    return;
  st.retry_scheduled = true;
  self->delayed_send(self, st.backoff, retry_atom::value);
  st.backoff = std::min(st.backoff * 2, st.opts.max_backoff);
}

/// An outage: remember why, tell the subscribers, refuse the submits that
/// wait for a unit (nobody has seen them yet), retry later.
void mark_down(persistence_actor_t* self, const store_error& e) {
  auto& st = self->state;
  const auto why = first_line(e.what());
  if (e.error_class() == store_error_class::fenced) {
    // Not an outage: another head leads the journal now. Nothing more may be
    // written from here; the head process exits (cluster/head_node.cpp).
    spdlog::critical("journal fenced: {}", why);
    self->quit(make_error(errc::stepped_down, why));
    return;
  }
  if (st.up) {
    spdlog::warn("journal unavailable: {}", why);
    st.up = false;
    st.reason = why;
    st.down_since_us = to_micros(now());
    notify(self);
  } else if (why != st.reason) {
    spdlog::warn("journal still unavailable: {}", why);
    st.reason = why;
  }
  for (auto i = st.pending.begin(); i != st.pending.end();) {
    if (submits_only(i->b)) {
      i->promise.deliver(unavailable(st));
      i = st.pending.erase(i);
    } else {
      ++i;
    }
  }
  schedule_retry(self);
}

/// Moves requests from `pending` into a new unit of at most max_batch_items.
void form_unit(persistence_state& st) {
  unit u;
  size_t items = 0;
  while (!st.pending.empty()
         && (u.reqs.empty() || items + st.pending.front().items <= st.opts.max_batch_items)) {
    items += st.pending.front().items;
    u.reqs.push_back(std::move(st.pending.front()));
    st.pending.pop_front();
  }
  st.units.push_back(std::move(u));
}

/// Answers each request of `u` with its part of `res`. The graph's moves
/// (tasks released, settled, waiting again) go once, with the first request
/// that wrote something: only the scheduler writes, and it takes them all.
/// Never with an empty batch: a barrier (the router's, as the submit lane
/// opens) may share the unit, and its answer reaches no scheduler.
void deliver(unit& u, const batch_result& res) {
  size_t si = 0, ti = 0;
  bool moves_given = false;
  for (auto& r : u.reqs) {
    batch_result part;
    for (size_t i = 0; i < r.b.submits.size(); ++i, ++si) {
      part.submitted_ids.push_back(res.submitted_ids.at(si));
      part.existing.push_back(res.existing.at(si));
    }
    for (size_t i = 0; i < r.b.transitions.size(); ++i)
      part.applied.push_back(res.applied.at(ti++));
    if (!moves_given && !r.b.empty()) {
      moves_given = true;
      part.released = res.released;
      part.settled = res.settled;
      part.rewaited = res.rewaited;
    }
    r.promise.deliver(std::move(part));
  }
}

/// The front unit failed for an outage: mark down; when no attempt of the
/// unit can have committed, its submit-only requests are refused at once
/// (their submitters must not wait for the outage to end), the rest waits.
void outage(persistence_actor_t* self, const store_error& e) {
  auto& st = self->state;
  mark_down(self, e);
  auto& u = st.units.front();
  if (e.in_doubt())
    u.maybe_committed = true;
  if (u.maybe_committed)
    return;
  std::vector<pending_request> keep;
  for (auto& r : u.reqs) {
    if (submits_only(r.b))
      r.promise.deliver(unavailable(st));
    else
      keep.push_back(std::move(r));
  }
  u.reqs = std::move(keep);
  if (u.reqs.empty())
    st.units.pop_front();
}

/// Commits every unit and pending request in order. False on an outage
/// (then marked down, the unit kept).
bool drain(persistence_actor_t* self) {
  auto& st = self->state;
  while (!st.units.empty() || !st.pending.empty()) {
    if (st.units.empty())
      form_unit(st);
    auto& u = st.units.front();
    batch all;
    for (const auto& r : u.reqs) {
      append(all.submits, r.b.submits);
      append(all.transitions, r.b.transitions);
      append(all.notes, r.b.notes);
      append(all.checkpoints, r.b.checkpoints);
      append(all.progress, r.b.progress);
    }
    try {
      const auto t0 = std::chrono::steady_clock::now();
      auto res = st.store->commit(all, u.commit_id);
      metrics::observe_commit(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
        static_cast<int64_t>(items_of(all)));
      ++st.commits;
      mark_up(self);
      deliver(u, res);
      st.units.pop_front();
    } catch (const store_error& e) {
      switch (e.error_class()) {
        case store_error_class::retry:
          if (++u.conflicts < 5)
            continue;
          outage(self, e);
          return false;
        case store_error_class::outage:
        case store_error_class::fenced:
          outage(self, e);
          return false;
        case store_error_class::data:
          mark_up(self); // Postgres answered
          if (u.reqs.size() > 1) {
            // Split the group: each request alone, in the same order.
            spdlog::warn("journal rejected a group of {} requests ({}); committing them"
                         " one by one", u.reqs.size(), first_line(e.what()));
            auto reqs = std::move(u.reqs);
            st.units.pop_front();
            for (auto i = reqs.rbegin(); i != reqs.rend(); ++i) {
              unit single;
              single.reqs.push_back(std::move(*i));
              st.units.push_front(std::move(single));
            }
          } else {
            spdlog::error("journal rejected a request: {}", first_line(e.what()));
            u.reqs.front().promise.deliver(
              make_error(errc::bad_request, "journal rejected: " + first_line(e.what())));
            st.units.pop_front();
          }
          continue;
      }
    }
  }
  return true;
}

bool write_nodes(persistence_actor_t* self) {
  auto& st = self->state;
  if (st.nodes.empty() || !st.node_rows)
    return true;
  std::vector<node_row> rows;
  for (auto& [id, n] : st.nodes)
    rows.push_back(n);
  try {
    st.node_rows->upsert_nodes(rows);
    mark_up(self);
  } catch (const store_error& e) {
    if (e.error_class() != store_error_class::data) {
      mark_down(self, e);
      return false;
    }
    // The node registry is informational (the CLI reads it).
    spdlog::error("node registry rows not written: {}", first_line(e.what()));
  }
  st.nodes.clear();
  return true;
}

caf::actor spawn_journal_writer(caf::actor_system& sys, journal_ports journal,
                                persistence_options opts, caf::actor router);

/// Opens the submit lane (once, after the first load was served).
void open_lane(persistence_actor_t* self) {
  auto& st = self->state;
  if (st.lane || !st.router || !st.opts.open_submit_lane)
    return;
  auto opts = st.opts;
  auto open = std::move(opts.open_submit_lane);
  st.opts.open_submit_lane = nullptr; // one attempt only
  try {
    auto lane_store = open();
    lane_store->fence_on(st.store->fence_generation()); // the lane's writes are fenced too
    journal_ports lane_journal; // submits only: no node rows, no reads
    lane_journal.transitions = std::move(lane_store);
    opts.linger = {}; // a submit's commit is on the path from enqueue to start
    st.lane = spawn_journal_writer(self->system(), std::move(lane_journal), opts, nullptr);
  } catch (const std::exception& e) {
    spdlog::warn("journal: no submit lane ({}); submits share the one connection",
                 first_line(e.what()));
    return;
  }
  self->link_to(st.lane);
  self->send(st.lane, journal_atom::value, caf::actor_cast<caf::actor>(self));
  self->send(st.router, lane_atom::value, st.lane);
}

/// The recovery data of a load with `window` (0: every QUEUED task).
recovery_data load(transition_store_interface& store, node_store_interface* node_rows,
                   int32_t window, int64_t horizon_us) {
  const auto t0 = std::chrono::steady_clock::now();
  recovery_data data;
  data.window = window;
  int64_t analyzed = 0;
  if (window > 0) {
    auto w = store.load_windowed(to_micros(now()), static_cast<size_t>(window), horizon_us);
    data.horizon_us = horizon_us;
    data.later = w.later;
    data.waiting = w.waiting;
    data.tasks = std::move(w.tasks);
    data.due = std::move(w.due);
    data.max_id = w.max_id;
    analyzed = w.analyzed_changes;
  } else {
    data.tasks = store.load_unfinished();
    for (const auto& t : data.tasks)
      data.max_id = std::max(data.max_id, t.id);
  }
  if (node_rows)
    data.nodes = node_rows->nodes();
  std::vector<int64_t> ids;
  for (const auto& t : data.tasks)
    ids.push_back(t.id);
  data.checkpoints = store.latest_checkpoints(ids);
  // Leases of this head lifetime are (generation << 32 | counter).
  data.generation = store.next_head_generation();
  int64_t due = 0;
  for (const auto& kv : data.due)
    due += kv.second;
  spdlog::info("journal: recovery read {} tasks ({} QUEUED and due in {} queues{}) in {:.2f} s",
               data.tasks.size(), due, data.due.size(),
               analyzed > 0 ? "; tasks analyzed first, " + std::to_string(analyzed)
                                + " rows changed since its last analyze"
                            : std::string{},
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return data;
}

bool serve_loads(persistence_actor_t* self) {
  auto& st = self->state;
  if (st.loads.empty())
    return true;
  std::vector<std::pair<caf::response_promise, recovery_data>> done;
  try {
    for (auto& [rp, window, horizon] : st.loads)
      done.emplace_back(rp, load(*st.store, st.node_rows.get(), window, horizon));
    mark_up(self);
  } catch (const store_error& e) {
    if (e.error_class() == store_error_class::data) {
      // Not something a retry mends: the head cannot recover from it.
      for (auto& p : st.loads)
        std::get<0>(p).deliver(
          make_error(errc::bad_request, "journal rejected: " + first_line(e.what())));
      st.loads.clear();
      return true;
    }
    mark_down(self, e);
    return false;
  }
  st.loads.clear();
  open_lane(self); // before the answers: whoever got the data finds the lane open
  for (auto& [rp, data] : done)
    rp.deliver(std::move(data));
  return true;
}

/// One request's call `f` on the store while the journal is up: its result;
/// a data error fails this request only, an outage marks the journal down.
template <class T, class F>
caf::result<T> store_call(persistence_actor_t* self, F f) {
  auto& st = self->state;
  if (!st.up)
    return unavailable(st);
  try {
    T out = f(st);
    mark_up(self);
    return out;
  } catch (const store_error& e) {
    if (e.error_class() == store_error_class::data)
      return make_error(errc::bad_request, "journal rejected: " + first_line(e.what()));
    mark_down(self, e);
    return unavailable(st);
  }
}

/// A read of QUEUED tasks for memory (`read` from the store), after every
/// write sent before it committed (so its snapshot has them), with their
/// newest checkpoints.
template <class Read>
caf::result<window_rows> serve_read(persistence_actor_t* self, Read read) {
  if (self->state.up && !drain(self))
    return unavailable(self->state);
  return store_call<window_rows>(self, [&read](persistence_state& st) {
    auto& s = *st.store;
    window_rows out;
    out.tasks = read(s);
    std::vector<int64_t> ids;
    for (const auto& t : out.tasks)
      ids.push_back(t.id);
    out.checkpoints = s.latest_checkpoints(ids);
    return out;
  });
}

/// A refill of a queue window.
caf::result<window_rows> serve_window(persistence_actor_t* self, const window_query& q) {
  return serve_read(self, [&q](transition_store_interface& s) {
    return s.queued_after(q.queue, q.after, q.now_us, static_cast<size_t>(q.limit));
  });
}

/// The QUEUED tasks scheduled in (after, until]: the head's horizon moved.
caf::result<window_rows> serve_later(persistence_actor_t* self, int64_t after_us,
                                     int64_t until_us) {
  return serve_read(self, [=](transition_store_interface& s) {
    return s.queued_between(after_us, until_us);
  });
}

/// Everything that waits for Postgres, oldest first; on a retry tick also a
/// ping when nothing waits.
void work(persistence_actor_t* self, bool probe) {
  auto& st = self->state;
  if (!drain(self) || !write_nodes(self) || !serve_loads(self))
    return;
  if (probe && !st.up) {
    try {
      st.store->ping_ms();
      mark_up(self);
    } catch (const store_error& e) {
      mark_down(self, e);
    }
  }
}

size_t pending_items(const persistence_state& st) {
  size_t items = 0;
  for (const auto& r : st.pending)
    items += r.items;
  return items;
}

/// Whether the flush at hand waits: the writer is busy (its last commit
/// ended less than opts.linger ago) and fewer than opts.linger_items items
/// wait. Then the flush comes again once opts.linger has passed since that
/// commit (or at once when linger_items items come first), and commits
/// whatever waits by then.
bool lingers(persistence_actor_t* self) {
  auto& st = self->state;
  if (st.lingered) { // its wait is over
    st.lingered = false;
    return false;
  }
  if (st.opts.linger.count() <= 0 || !st.up || st.pending.empty())
    return false;
  const auto since = self->clock().now() - st.last_commit_end;
  if (since >= st.opts.linger || pending_items(st) >= st.opts.linger_items)
    return false;
  st.lingered = true;
  self->delayed_send(self, st.opts.linger - since, flush_atom::value);
  return true;
}

void schedule_flush(persistence_actor_t* self) {
  auto& st = self->state;
  if (st.flush_scheduled || !st.up)
    return;
  st.flush_scheduled = true;
  // Everything already in the mailbox is handled before this.
  self->send(self, flush_atom::value);
}

/// The actor that owns one connection (detached unless opts.detached is off:
/// its calls block). With a
/// `router`, it opens the submit lane after the first load and tells the
/// router.
caf::behavior journal_writer(persistence_actor_t* self, journal_ports journal,
                             persistence_options opts, caf::actor router) {
  self->state.store = journal.transitions;
  self->state.node_rows = journal.nodes;
  self->state.reads = journal.reads;
  self->state.opts = opts;
  self->state.router = router;
  self->state.last_ok = self->clock().now();
  self->delayed_send(self, opts.health_interval, health_atom::value);
  return {
    [self](batch& b) -> caf::result<batch_result> {
      auto& st = self->state;
      if (!st.up && submits_only(b))
        return unavailable(st);
      const auto n = items_of(b);
      st.pending.push_back({std::move(b), self->make_response_promise(), n});
      auto rp = st.pending.back().promise;
      schedule_flush(self);
      if (st.lingered && pending_items(st) >= st.opts.linger_items) {
        st.lingered = false; // enough waits: commit now, not at the delayed flush
        self->send(self, flush_atom::value);
      }
      return rp;
    },
    [self](flush_atom) {
      auto& st = self->state;
      if (lingers(self))
        return;
      st.flush_scheduled = false;
      const auto commits = st.commits;
      if (st.up)
        work(self, false);
      if (st.commits != commits)
        st.last_commit_end = self->clock().now();
    },
    [self](retry_atom) {
      self->state.retry_scheduled = false;
      work(self, true);
    },
    [self](health_atom) {
      auto& st = self->state;
      self->delayed_send(self, st.opts.health_interval, health_atom::value);
      if (!st.up || self->clock().now() - st.last_ok < st.opts.health_interval)
        return;
      try {
        st.store->ping_ms();
        mark_up(self);
      } catch (const store_error& e) {
        if (e.error_class() != store_error_class::data)
          mark_down(self, e);
      }
    },
    [self](caf::get_atom, int64_t id) {
      return store_call<std::vector<task_record>>(self, [id](persistence_state& st) {
        std::vector<task_record> out;
        if (!st.reads)
          return out;
        if (auto row = st.reads->get_task(id))
          out.push_back(std::move(*row));
        return out;
      });
    },
    [self](node_row& n) {
      self->state.nodes[n.id] = std::move(n);
      schedule_flush(self);
    },
    [self](std::vector<node_row>& ns) {
      for (auto& n : ns)
        self->state.nodes[n.id] = std::move(n);
      schedule_flush(self);
    },
    [self](prune_atom, int64_t older_than_us) {
      return store_call<int64_t>(
        self, [older_than_us](persistence_state& st) {
          return st.node_rows ? st.node_rows->prune_nodes(older_than_us) : int64_t{0};
        });
    },
    [self](load_atom) -> caf::result<recovery_data> {
      auto& st = self->state;
      auto rp = self->make_response_promise<recovery_data>();
      st.loads.emplace_back(rp, 0, 0);
      if (st.up)
        work(self, false);
      return rp;
    },
    [self](load_atom, int32_t window, int64_t horizon_us) -> caf::result<recovery_data> {
      auto& st = self->state;
      auto rp = self->make_response_promise<recovery_data>();
      st.loads.emplace_back(rp, window, horizon_us);
      if (st.up)
        work(self, false);
      return rp;
    },
    [self](window_atom, const window_query& q) { return serve_window(self, q); },
    [self](later_atom, int64_t after_us, int64_t until_us) {
      return serve_later(self, after_us, until_us);
    },
    [self](journal_atom, caf::actor& sub) {
      auto& st = self->state;
      auto [up, reason] = published(st);
      self->send(sub, journal_atom::value, up, reason);
      st.subscribers.push_back(std::move(sub));
    },
    // From the submit lane: its connection's state.
    [self](journal_atom, bool up, std::string& reason) {
      auto& st = self->state;
      st.lane_up = up;
      st.lane_reason = std::move(reason);
      if (published(st).first != st.published_up || !up)
        notify(self);
    },
  };
}

caf::actor spawn_journal_writer(caf::actor_system& sys, journal_ports journal,
                                persistence_options opts, caf::actor router) {
  if (opts.detached)
    return sys.spawn<caf::detached>(journal_writer, std::move(journal), std::move(opts),
                                    std::move(router));
  return sys.spawn(journal_writer, std::move(journal), std::move(opts), std::move(router));
}

/// The front of a persistence actor with a submit lane (scheduled, never
/// blocks): batches of submits only go to the lane once it is open, an empty
/// batch (a barrier) waits for the lane and then for the main writer,
/// everything else goes to the main writer as it came.
///
/// The lane's opening is a window: submits sent before it went to the main
/// writer and may wait there behind the first load, and a submit sent after
/// it must not commit before them (one client's submits keep their order:
/// ids are handed out in commit order). So when the lane opens, submits and
/// barriers are held until a barrier through the main writer is answered
/// (everything sent to it before has committed), then go on in order.
struct router_state {
  caf::actor main;
  caf::actor lane;
  bool lane_ready = false; ///< the main writer committed what came before the lane
  std::vector<std::pair<batch, caf::response_promise>> held; ///< until lane_ready
  static inline const char* name = "taskrt.persistence_router";
};

using router_t = caf::stateful_actor<router_state>;

/// Routes `b` (submits only, or a barrier) once the lane is ready.
void route_to_lane(router_t* self, batch b, caf::response_promise rp) {
  auto& st = self->state;
  if (!b.empty()) {
    rp.delegate(st.lane, std::move(b)); // the lane answers the submitter
    return;
  }
  self->request(st.lane, caf::infinite, batch{})
    .then([self, rp](batch_result&) mutable { rp.delegate(self->state.main, batch{}); },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

caf::behavior persistence_router(router_t* self, journal_ports journal,
                                 persistence_options opts) {
  self->state.main = spawn_journal_writer(self->system(), std::move(journal), std::move(opts),
                                          caf::actor_cast<caf::actor>(self));
  self->link_to(self->state.main);
  self->set_default_handler(
    [](caf::scheduled_actor* ptr, caf::message_view& x) -> caf::result<caf::message> {
      auto* me = static_cast<router_t*>(ptr);
      me->delegate(me->state.main, x.move_content_to_message());
      return caf::delegated<caf::message>{};
    });
  return {
    [self](lane_atom, caf::actor& lane) {
      self->state.lane = std::move(lane);
      self->link_to(self->state.lane);
      // Ready once what the main writer holds has committed (or failed:
      // its submits are then answered with the outage).
      auto ready = [self] {
        auto& st = self->state;
        st.lane_ready = true;
        auto held = std::move(st.held);
        st.held.clear();
        for (auto& [b, rp] : held)
          route_to_lane(self, std::move(b), std::move(rp));
      };
      self->request(self->state.main, caf::infinite, batch{})
        .then([ready](batch_result&) { ready(); }, [ready](caf::error&) { ready(); });
    },
    [self](batch& b) -> caf::result<batch_result> {
      auto& st = self->state;
      if (st.lane && (submits_only(b) || b.empty())) {
        auto rp = self->make_response_promise();
        if (st.lane_ready)
          route_to_lane(self, std::move(b), rp);
        else
          st.held.emplace_back(std::move(b), rp);
        return rp;
      }
      self->delegate(st.main, std::move(b));
      return caf::delegated<batch_result>{};
    },
  };
}

} // namespace

caf::actor spawn_persistence(caf::actor_system& sys, journal_ports journal,
                             persistence_options opts) {
  if (!opts.open_submit_lane)
    return spawn_journal_writer(sys, std::move(journal), std::move(opts), nullptr);
  return sys.spawn(persistence_router, std::move(journal), std::move(opts));
}

} // namespace taskrt

#include "taskrt/cluster/head_coalescer.hpp"

#include "taskrt/runtime/limits.hpp"

#include <deque>
#include <unordered_map>

namespace taskrt {

namespace {

using flush_atom = caf::atom_constant<caf::atom("cflush")>;

/// One held submit: its spec and who waits for the id.
struct held_submit {
  task_spec spec;
  caf::response_promise rp;
};

struct coalescer_state {
  head_actor head;
  coalescer_options opts;
  std::vector<held_submit> held; ///< submits not yet sent, in arrival order
  size_t held_bytes = 0;
  /// Sent batches not yet answered, by request number: their promises.
  std::unordered_map<uint64_t, std::vector<caf::response_promise>> inflight;
  uint64_t next_batch = 0;
  bool submit_flush_queued = false;
  /// Awaits: the promises per id (answered when its outcome comes), and the
  /// ids not yet sent in a watch.
  std::unordered_map<int64_t, std::vector<caf::response_promise>> waiting;
  std::vector<int64_t> unsent;
  bool watch_flush_queued = false;
  static inline const char* name = "taskrt.head_coalescer";
};

using coalescer_t = caf::stateful_actor<coalescer_state>;

size_t bytes_of(const task_spec& s) {
  return s.name.size() + s.args.size() + s.queue.size() + s.lock.size() + s.policy.size()
         + s.origin.size() + s.key.size() + 64;
}

void answer_waiters(coalescer_t* self, int64_t id, const task_outcome* out,
                    const caf::error* err) {
  auto& st = self->state;
  auto w = st.waiting.find(id);
  if (w == st.waiting.end())
    return;
  for (auto& rp : w->second)
    if (out)
      rp.deliver(*out);
    else
      rp.deliver(*err);
  st.waiting.erase(w);
}

void schedule_submit_flush(coalescer_t* self);

/// Sends the held submits as one `submit, each` request (even past the
/// in-flight bound when `force`).
void send_submits(coalescer_t* self, bool force) {
  auto& st = self->state;
  while (!st.held.empty() && (force || st.inflight.size() < st.opts.max_inflight)) {
    std::vector<task_spec> specs;
    std::vector<caf::response_promise> rps;
    size_t bytes = 0;
    size_t n = 0;
    while (n < st.held.size() && n < st.opts.max_count
           && (n == 0 || bytes + bytes_of(st.held[n].spec) <= st.opts.max_bytes)) {
      bytes += bytes_of(st.held[n].spec);
      specs.push_back(std::move(st.held[n].spec));
      rps.push_back(std::move(st.held[n].rp));
      ++n;
    }
    st.held.erase(st.held.begin(), st.held.begin() + static_cast<ptrdiff_t>(n));
    st.held_bytes -= std::min(st.held_bytes, bytes);
    const auto no = st.next_batch++;
    st.inflight.emplace(no, std::move(rps));
    self->request(st.head, caf::infinite, submit_atom::value, each_atom::value, std::move(specs))
      .then(
        [self, no](submit_each_reply& r) {
          auto& st = self->state;
          auto i = st.inflight.find(no);
          if (i == st.inflight.end())
            return;
          auto& rps = i->second;
          for (auto& x : r.refused)
            if (x.index < rps.size()) {
              rps[x.index].deliver(x.error);
              rps[x.index] = caf::response_promise{};
            }
          for (size_t k = 0; k < rps.size() && k < r.ids.size(); ++k)
            if (rps[k].pending())
              rps[k].deliver(r.ids[k]);
          st.inflight.erase(i);
          schedule_submit_flush(self);
        },
        [self, no](caf::error& e) {
          auto& st = self->state;
          auto i = st.inflight.find(no);
          if (i == st.inflight.end())
            return;
          for (auto& rp : i->second)
            rp.deliver(e); // the whole batch: draining, journal down, or lost
          st.inflight.erase(i);
          schedule_submit_flush(self);
        });
  }
}

/// Sends the held submits after whatever is already in the mailbox (so a
/// burst of requests goes as one), when the in-flight bound allows.
void schedule_submit_flush(coalescer_t* self) {
  auto& st = self->state;
  if (st.held.empty() || st.submit_flush_queued || st.inflight.size() >= st.opts.max_inflight)
    return;
  st.submit_flush_queued = true;
  self->send(self, flush_atom::value, submit_atom::value);
}

void send_watch(coalescer_t* self) {
  auto& st = self->state;
  for (size_t from = 0; from < st.unsent.size(); from += st.opts.max_count) {
    const auto to = std::min(st.unsent.size(), from + st.opts.max_count);
    self->send(st.head, watch_atom::value,
               std::vector<int64_t>(st.unsent.begin() + static_cast<ptrdiff_t>(from),
                                    st.unsent.begin() + static_cast<ptrdiff_t>(to)));
  }
  st.unsent.clear();
}

/// The head is gone: everything pending learns why.
void fail_all(coalescer_t* self, const caf::error& reason) {
  auto& st = self->state;
  for (auto& h : st.held)
    h.rp.deliver(reason);
  st.held.clear();
  for (auto& [no, rps] : st.inflight)
    for (auto& rp : rps)
      rp.deliver(reason);
  st.inflight.clear();
  for (auto& [id, rps] : st.waiting)
    for (auto& rp : rps)
      rp.deliver(reason);
  st.waiting.clear();
}

caf::behavior coalescer(coalescer_t* self, head_actor head, coalescer_options opts) {
  self->state.head = head;
  self->state.opts = opts;
  self->monitor(head);
  self->set_down_handler([self](caf::down_msg& d) {
    auto reason = d.reason ? d.reason : caf::error{caf::sec::request_receiver_down};
    fail_all(self, reason);
    self->quit(reason);
  });
  // Everything else the head answers goes to it as it came, after the held
  // submits (a cancel of a task submitted just before finds it).
  self->set_default_handler(
    [](caf::scheduled_actor* ptr, caf::message_view& x) -> caf::result<caf::message> {
      auto* me = static_cast<coalescer_t*>(ptr);
      send_submits(me, true);
      me->delegate(caf::actor_cast<caf::actor>(me->state.head), x.move_content_to_message());
      return caf::delegated<caf::message>{};
    });
  return {
    [self](submit_atom, task_spec& spec) -> caf::result<int64_t> {
      if (auto e = check_task_spec(spec))
        return make_error(errc::bad_request, *e);
      auto& st = self->state;
      auto rp = self->make_response_promise();
      st.held_bytes += bytes_of(spec);
      st.held.push_back({std::move(spec), rp});
      if (st.held.size() >= st.opts.max_count || st.held_bytes >= st.opts.max_bytes)
        send_submits(self, false);
      schedule_submit_flush(self);
      return caf::delegated<int64_t>{};
    },
    [self](submit_atom, std::vector<task_spec>& specs) -> caf::result<std::vector<int64_t>> {
      send_submits(self, true); // those held go first: the order is kept
      self->delegate(self->state.head, submit_atom::value, std::move(specs));
      return caf::delegated<std::vector<int64_t>>{};
    },
    [self](flush_atom, submit_atom) {
      self->state.submit_flush_queued = false;
      send_submits(self, false);
    },
    [self](await_atom, int64_t id) -> caf::result<task_outcome> {
      auto& st = self->state;
      auto& w = st.waiting[id];
      w.push_back(self->make_response_promise());
      if (w.size() == 1) { // else already watched
        st.unsent.push_back(id);
        if (st.unsent.size() >= st.opts.max_count) {
          send_watch(self);
        } else if (!st.watch_flush_queued) {
          st.watch_flush_queued = true;
          self->send(self, flush_atom::value, await_atom::value);
        }
      }
      return caf::delegated<task_outcome>{};
    },
    [self](flush_atom, await_atom) {
      self->state.watch_flush_queued = false;
      send_watch(self);
    },
    [self](watch_atom, std::vector<task_outcome>& outs) {
      for (const auto& out : outs)
        answer_waiters(self, out.id, &out, nullptr);
    },
    [self](watch_atom, int64_t id, caf::error& e) { answer_waiters(self, id, nullptr, &e); },
  };
}

} // namespace

head_actor spawn_head_coalescer(caf::actor_system& sys, head_actor head,
                                coalescer_options opts) {
  return caf::actor_cast<head_actor>(sys.spawn(coalescer, std::move(head), opts));
}

} // namespace taskrt

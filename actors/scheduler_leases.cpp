/// Time-bound leases on the head's side (runtime/lease.hpp): grants to the
/// head's own workers, and the fences that keep a lock from being handed on
/// while an attempt lost with its node may still run.

#include "taskrt/actors/scheduler_state.hpp"

namespace taskrt::scheduler_detail {

lease::terms lease_terms(const scheduler_state& st) {
  return lease::terms_of(st.cfg.lease_s, st.cfg.lease_margin_s);
}

int64_t lease_over_ns(const scheduler_state& st, const std::string& node) {
  const auto grant = node == st.cfg.node_id ? lease::mono_ns() : st.leases.last_grant(node);
  return lease::head_expiry(grant, lease_terms(st));
}

void fence_lost_attempt(scheduler_state& st, live_task& t) {
  if (t.rec.lock.empty())
    return; // no lock, no promise of one holder: retried at once
  t.lock_fence_ns = std::max(t.lock_fence_ns, lease_over_ns(st, t.rec.node));
}

void renew_local_leases(scheduler_actor_t* self, const caf::actor& w) {
  auto& st = self->state;
  const auto t = lease::mono_ns();
  st.leases.granted(st.cfg.node_id, t);
  const auto terms = lease_terms(st);
  const auto end = lease::node_lease_end(t, terms);
  if (w) {
    self->send(w, lease_atom::value, end, terms.margin_ns);
    return;
  }
  for (const auto& lw : st.local_workers)
    self->send(lw, lease_atom::value, end, terms.margin_ns);
}

bool release_expired_fences(scheduler_state& st) {
  auto locks = st.leases.expired_fences(lease::mono_ns());
  for (const auto& lock : locks) {
    spdlog::info("lock {}: the lease of its lost attempt is over; handed on", lock);
    st.queue.release(lock);
  }
  return !locks.empty();
}

} // namespace taskrt::scheduler_detail

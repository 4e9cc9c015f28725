/// Rate and concurrency limits at dispatch: the limit gate (sched/limit_gate)
/// wired between the scheduler's held tasks and its ready queue, the limits
/// as Postgres has them, and the throttled tasks per key for /metrics.

#include "taskrt/actors/scheduler_state.hpp"
#include "taskrt/metrics/taskrt_metrics.hpp"

#include <cstdio>

namespace taskrt::scheduler_detail {

void feed_gate(scheduler_state& st) {
  if (!st.limits_loaded)
    return;
  const auto t = to_micros(now());
  for (const auto& r : st.gate.poll(t)) {
    auto i = st.tasks.find(r.id);
    if (i == st.tasks.end()) { // cannot happen: the gate holds only held tasks
      st.gate.remove(r.id);
      continue;
    }
    const auto& rec = i->second.rec;
    // Ranked by its release, not its run_at: keys take turns (limit_gate.hpp).
    st.queue.push({rec.id, rec.queue, rec.name, rec.lock, rec.priority, r.release_us},
                  std::max(t, r.release_us));
  }
}

void limits_started(scheduler_state& st, const live_task& t) {
  if (!t.rec.limit_keys.empty())
    st.gate.started(t.rec.id, to_micros(now()));
}

int64_t next_due(const scheduler_state& st) {
  const auto a = st.queue.next_due_us();
  const auto b = st.gate.next_wake_us();
  return a == 0 ? b : b == 0 ? a : std::min(a, b);
}

void on_limits(scheduler_actor_t* self, const std::vector<limit_row>& rows) {
  auto& st = self->state;
  const auto t = to_micros(now());
  std::set<std::string> now_set;
  for (const auto& r : rows) {
    now_set.insert(r.key);
    auto old = st.gate.limit_of(r.key);
    sched::key_limit l{r.rate_per_s, r.burst, r.concurrency};
    if (old && old->rate_per_s == l.rate_per_s && old->burst == l.burst
        && old->concurrency == l.concurrency)
      continue; // unchanged: its bucket keeps its tokens
    st.gate.set_limit(r.key, l, t);
  }
  for (const auto& k : st.limit_keys_set)
    if (!now_set.count(k))
      st.gate.clear_limit(k);
  spdlog::info("limits: {} key(s) limited ({} before)", now_set.size(), st.limit_keys_set.size());
  st.limit_keys_set = std::move(now_set);
  st.limits_loaded = true;
  try_dispatch(self);
}

std::string limit_wait_text(const scheduler_state& st, int64_t id) {
  const auto t = to_micros(now());
  const auto w = st.gate.why(id, t);
  char buf[512];
  using k = sched::wait_reason::kind;
  switch (w.what) {
    case k::rate:
      std::snprintf(buf, sizeof buf, "rate limit %s: %s, next token in %.1f s", w.key.c_str(),
                    sched::format_rate(w.limit.rate_per_s).c_str(),
                    static_cast<double>(w.next_token_us - t) / 1e6);
      return buf;
    case k::concurrency:
      std::snprintf(buf, sizeof buf, "concurrency limit %s: %d of %d running", w.key.c_str(),
                    w.running, w.limit.concurrency);
      return buf;
    case k::behind:
      std::snprintf(buf, sizeof buf, "limit key %s: behind task %lld", w.key.c_str(),
                    static_cast<long long>(w.other));
      return buf;
    default:
      return "";
  }
}

void publish_limit_metrics(scheduler_state& st) {
  auto waiting = st.gate.waiting_per_key();
  for (const auto& k : st.limit_keys_set)
    waiting.emplace(k, 0);
  for (const auto& k : st.gauge_limit_keys)
    waiting.emplace(k, 0); // keys that emptied go to 0
  st.gauge_limit_keys.clear();
  for (const auto& [key, n] : waiting) {
    metrics::set_throttled(key, static_cast<int64_t>(n));
    if (n > 0)
      st.gauge_limit_keys.insert(key);
  }
}

} // namespace taskrt::scheduler_detail

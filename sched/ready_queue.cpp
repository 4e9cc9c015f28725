#include "taskrt/sched/ready_queue.hpp"

#include <algorithm>

namespace taskrt::sched {

void ready_queue::push(const queued_task& t, int64_t now_us) {
  remove(t.id);
  auto& ln = lanes_[{t.queue, t.name}];
  if (ln.refs++ == 0) {
    ln.queue = t.queue;
    ln.name = t.name;
  }
  lock_entry* lk = nullptr;
  if (!t.lock.empty()) {
    lk = &locks_[t.lock];
    if (lk->refs++ == 0 && lk->name.empty())
      lk->name = t.lock;
  }
  auto& e = entries_[t.id];
  e.key = {t.priority, t.run_at_us, t.id};
  e.ln = &ln;
  e.lk = lk;
  e.scheduled = t.run_at_us > now_us;
  if (e.scheduled)
    timers_.emplace(t.run_at_us, t.id);
  else
    make_ready(e);
}

bool ready_queue::remove(int64_t id) {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return false;
  auto& e = i->second;
  if (e.scheduled)
    timers_.erase({e.key.run_at_us, id});
  else
    unready(e);
  unref(e);
  entries_.erase(i);
  return true;
}

bool ready_queue::contains(int64_t id) const {
  return entries_.count(id) > 0;
}

size_t ready_queue::promote_due(int64_t now_us) {
  size_t moved = 0;
  while (!timers_.empty() && timers_.begin()->first <= now_us) {
    const auto id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    auto& e = entries_.at(id);
    e.scheduled = false;
    make_ready(e);
    ++moved;
  }
  return moved;
}

int64_t ready_queue::peek(const task_filter& f) const {
  const bool any_queue = !f.queues || f.queues->empty();
  const bool any_name = !f.names || f.names->empty();
  for (const auto& k : heads_) {
    if (any_queue && any_name)
      return k.id;
    const auto& ln = *entries_.at(k.id).ln;
    if (!any_queue && std::find(f.queues->begin(), f.queues->end(), ln.queue) == f.queues->end())
      continue;
    if (!any_name && !f.names->count(ln.name))
      continue;
    return k.id;
  }
  return 0;
}

void ready_queue::hold(const std::string& lock) {
  auto& lk = locks_[lock];
  if (lk.name.empty())
    lk.name = lock;
  if (lk.held)
    return;
  lk.held = true;
  for (auto& [ln, waiters] : lk.waiting)
    withdraw(*ln, *waiters.begin());
}

void ready_queue::release(const std::string& lock) {
  auto i = locks_.find(lock);
  if (i == locks_.end() || !i->second.held)
    return;
  auto& lk = i->second;
  lk.held = false;
  for (auto& [ln, waiters] : lk.waiting)
    offer(*ln, *waiters.begin());
  if (lk.refs == 0)
    locks_.erase(i);
}

bool ready_queue::held(const std::string& lock) const {
  auto i = locks_.find(lock);
  return i != locks_.end() && i->second.held;
}

void ready_queue::make_ready(entry& e) {
  if (!e.lk) {
    offer(*e.ln, e.key);
    return;
  }
  auto& waiters = e.lk->waiting[e.ln];
  const bool best = waiters.empty() || e.key < *waiters.begin();
  if (!e.lk->held && best && !waiters.empty())
    withdraw(*e.ln, *waiters.begin());
  waiters.insert(e.key);
  if (!e.lk->held && best)
    offer(*e.ln, e.key);
}

void ready_queue::unready(entry& e) {
  if (!e.lk) {
    withdraw(*e.ln, e.key);
    return;
  }
  auto w = e.lk->waiting.find(e.ln);
  if (w == e.lk->waiting.end())
    return;
  auto& waiters = w->second;
  const bool was_best = !waiters.empty() && *waiters.begin() == e.key;
  waiters.erase(e.key);
  if (!e.lk->held && was_best) {
    withdraw(*e.ln, e.key);
    if (!waiters.empty())
      offer(*e.ln, *waiters.begin());
  }
  if (waiters.empty())
    e.lk->waiting.erase(w);
}

void ready_queue::offer(lane& l, const ready_key& k) {
  const bool new_head = l.offered.empty() || k < *l.offered.begin();
  if (new_head && !l.offered.empty())
    heads_.erase(*l.offered.begin());
  l.offered.insert(k);
  if (new_head)
    heads_.insert(k);
}

void ready_queue::withdraw(lane& l, const ready_key& k) {
  auto i = l.offered.find(k);
  if (i == l.offered.end())
    return;
  const bool was_head = i == l.offered.begin();
  l.offered.erase(i);
  if (was_head) {
    heads_.erase(k);
    if (!l.offered.empty())
      heads_.insert(*l.offered.begin());
  }
}

void ready_queue::unref(entry& e) {
  if (e.lk && --e.lk->refs == 0 && !e.lk->held) {
    const std::string name = e.lk->name; // the key outlives the erase
    locks_.erase(name);
  }
  if (--e.ln->refs == 0) {
    const std::pair<std::string, std::string> key{e.ln->queue, e.ln->name};
    lanes_.erase(key);
  }
  e.lk = nullptr;
  e.ln = nullptr;
}

} // namespace taskrt::sched

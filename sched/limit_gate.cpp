#include "taskrt/sched/limit_gate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace taskrt::sched {

namespace {
/// Tokens below 1 by less than this count as a whole one (float rounding).
constexpr double token_eps = 1e-9;
} // namespace

void limit_gate::set_limit(const std::string& name, const key_limit& l, int64_t now_us) {
  auto& k = key(name);
  const bool had_rate = k.limit && k.limit->rate_per_s > 0;
  if (l.rate_per_s > 0) {
    k.tokens = had_rate ? std::min(tokens_at(k, now_us), std::max(l.burst, 1.0))
                        : std::max(l.burst, 1.0);
    k.refill_us = now_us;
  }
  k.limit = l;
  k.limit->burst = std::max(l.burst, 1.0);
  mark(k);
}

void limit_gate::clear_limit(const std::string& name) {
  auto i = keys_.find(name);
  if (i == keys_.end() || !i->second.limit)
    return;
  i->second.limit.reset();
  mark(i->second);
}

std::optional<key_limit> limit_gate::limit_of(const std::string& name) const {
  auto i = keys_.find(name);
  if (i == keys_.end())
    return std::nullopt;
  return i->second.limit;
}

void limit_gate::push(int64_t id, const std::vector<std::string>& names, const ready_key& k,
                      int64_t now_us) {
  remove(id);
  auto& e = entries_[id];
  e.key = k;
  e.keys.clear();
  for (const auto& n : names) {
    auto& ks = key(n);
    if (std::find(e.keys.begin(), e.keys.end(), &ks) != e.keys.end())
      continue; // a key named twice counts once
    ++ks.refs;
    e.keys.push_back(&ks);
  }
  if (k.run_at_us > now_us) {
    e.at = where::scheduled;
    timers_.emplace(k.run_at_us, id);
  } else {
    make_waiting(id, e);
  }
}

bool limit_gate::remove(int64_t id) {
  auto i = entries_.find(id);
  if (i == entries_.end() || i->second.at == where::running)
    return false;
  drop(id, i->second);
  entries_.erase(i);
  return true;
}

bool limit_gate::started(int64_t id, int64_t now_us) {
  auto i = entries_.find(id);
  if (i == entries_.end() || i->second.at != where::pending)
    return false;
  auto& e = i->second;
  e.at = where::running;
  for (auto* k : e.keys) {
    k->pending = 0;
    ++k->running;
    if (k->limit && k->limit->rate_per_s > 0) {
      // The start may come a little after its token did (timer, dispatch):
      // that lateness is kept, up to start_slack(), so it does not slow the
      // rate down; the bucket is at most that much above its burst.
      const double raw = k->tokens
                         + static_cast<double>(now_us - k->refill_us) * k->limit->rate_per_s / 1e6;
      k->tokens = std::min(raw, k->limit->burst + start_slack(k->limit->rate_per_s)) - 1;
      k->refill_us = now_us;
    }
    mark(*k);
  }
  return true;
}

void limit_gate::adopt_running(int64_t id, const std::vector<std::string>& names) {
  remove(id);
  ended(id);
  auto& e = entries_[id];
  e.at = where::running;
  for (const auto& n : names) {
    auto& ks = key(n);
    if (std::find(e.keys.begin(), e.keys.end(), &ks) != e.keys.end())
      continue;
    ++ks.refs;
    ++ks.running;
    e.keys.push_back(&ks);
  }
}

bool limit_gate::ended(int64_t id) {
  auto i = entries_.find(id);
  if (i == entries_.end() || i->second.at != where::running)
    return false;
  for (auto* k : i->second.keys) {
    --k->running;
    mark(*k);
    unref(k);
  }
  entries_.erase(i);
  return true;
}

std::vector<released_task> limit_gate::poll(int64_t now_us) {
  std::vector<released_task> out;
  while (!timers_.empty() && timers_.begin()->first <= now_us) {
    const auto id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    make_waiting(id, entries_.at(id));
  }
  while (!token_timers_.empty() && token_timers_.begin()->first <= now_us) {
    auto i = keys_.find(token_timers_.begin()->second);
    token_timers_.erase(token_timers_.begin());
    if (i != keys_.end()) {
      i->second.wake_us = 0;
      mark(i->second);
    }
  }
  auto& work = work_;
  work.clear();
  work.swap(dirty_);
  for (auto* k : work) {
    k->dirty = false;
    examine(*k, now_us, out);
  }
  for (auto* k : work) // keys left with no state at all are forgotten
    if (!k->dirty && k->refs == 0 && !k->limit && k->running == 0 && k->pending == 0) {
      if (k->wake_us != 0)
        token_timers_.erase({k->wake_us, k->name});
      const std::string name = k->name; // the key outlives the erase
      keys_.erase(name);
    }
  return out;
}

int64_t limit_gate::next_wake_us() const {
  int64_t t = 0;
  if (!timers_.empty())
    t = timers_.begin()->first;
  if (!token_timers_.empty() && (t == 0 || token_timers_.begin()->first < t))
    t = token_timers_.begin()->first;
  return t;
}

bool limit_gate::holds(int64_t id) const {
  auto i = entries_.find(id);
  return i != entries_.end() && i->second.at != where::running;
}

bool limit_gate::pending(int64_t id) const {
  auto i = entries_.find(id);
  return i != entries_.end() && i->second.at == where::pending;
}

wait_reason limit_gate::why(int64_t id, int64_t now_us) const {
  wait_reason w;
  auto i = entries_.find(id);
  if (i == entries_.end() || i->second.at == where::running)
    return w;
  const auto& e = i->second;
  if (e.at == where::scheduled) {
    w.what = wait_reason::kind::scheduled;
    return w;
  }
  if (e.at == where::pending) {
    w.what = wait_reason::kind::pending;
    w.other = id;
    return w;
  }
  for (const auto* k : e.keys) { // a limit that holds it comes first
    if (!k->limit)
      continue;
    if (k->limit->concurrency > 0 && k->running >= k->limit->concurrency) {
      w.what = wait_reason::kind::concurrency;
      w.key = k->name;
      w.limit = *k->limit;
      w.running = k->running;
      return w;
    }
    if (k->limit->rate_per_s > 0 && tokens_at(*k, now_us) < 1 - token_eps) {
      w.what = wait_reason::kind::rate;
      w.key = k->name;
      w.limit = *k->limit;
      w.next_token_us = token_due_us(*k, now_us);
      return w;
    }
  }
  for (const auto* k : e.keys) {
    if (k->pending != 0 || k->waiting.begin()->id != id) {
      w.what = wait_reason::kind::behind;
      w.key = k->name;
      w.other = k->pending != 0 ? k->pending : k->waiting.begin()->id;
      if (k->limit)
        w.limit = *k->limit;
      return w;
    }
  }
  w.what = wait_reason::kind::behind; // released at the next poll
  return w;
}

std::map<std::string, size_t> limit_gate::waiting_per_key() const {
  std::map<std::string, size_t> out;
  for (const auto& [name, k] : keys_)
    if (!k.waiting.empty())
      out.emplace(name, k.waiting.size());
  return out;
}

size_t limit_gate::size() const {
  size_t n = 0;
  for (const auto& [id, e] : entries_)
    n += e.at == where::scheduled || e.at == where::waiting;
  return n;
}

int32_t limit_gate::running(const std::string& name) const {
  auto i = keys_.find(name);
  return i == keys_.end() ? 0 : i->second.running;
}

limit_gate::key_state& limit_gate::key(const std::string& name) {
  auto& k = keys_[name];
  if (k.name.empty())
    k.name = name;
  return k;
}

double limit_gate::tokens_at(const key_state& k, int64_t now_us) const {
  if (!k.limit || k.limit->rate_per_s <= 0)
    return 1;
  const double grown
    = k.tokens + static_cast<double>(now_us - k.refill_us) * k.limit->rate_per_s / 1e6;
  return std::min(grown, k.limit->burst);
}

int64_t limit_gate::token_due_us(const key_state& k, int64_t now_us) const {
  if (tokens_at(k, now_us) >= 1 - token_eps)
    return now_us;
  const double wait_us = (1 - k.tokens) / k.limit->rate_per_s * 1e6;
  // Less a nanosecond: rounding must not put the due time 1 µs late (the
  // token counts as whole within token_eps).
  return std::max(now_us, k.refill_us + static_cast<int64_t>(std::ceil(wait_us - 1e-3)));
}

void limit_gate::mark(key_state& k) {
  if (k.dirty)
    return;
  k.dirty = true;
  dirty_.push_back(&k);
}

void limit_gate::examine(key_state& k, int64_t now_us, std::vector<released_task>& out) {
  if (k.pending != 0 || k.waiting.empty())
    return;
  const auto cand = *k.waiting.begin();
  auto& e = entries_.at(cand.id);
  for (auto* kp : e.keys) {
    if (kp->pending != 0 || !(*kp->waiting.begin() == cand))
      return; // its turn on that key comes when that key changes
    if (!kp->limit)
      continue;
    if (kp->limit->concurrency > 0 && kp->running >= kp->limit->concurrency)
      return; // an end of one of its attempts marks the key
    if (kp->limit->rate_per_s > 0 && tokens_at(*kp, now_us) < 1 - token_eps) {
      const auto due = token_due_us(*kp, now_us);
      if (kp->wake_us == 0 || due < kp->wake_us) {
        if (kp->wake_us != 0)
          token_timers_.erase({kp->wake_us, kp->name});
        kp->wake_us = std::max(due, now_us + 1);
        token_timers_.emplace(kp->wake_us, kp->name);
      }
      return;
    }
  }
  for (auto* kp : e.keys) {
    kp->waiting.erase(cand);
    kp->pending = cand.id;
  }
  e.at = where::pending;
  clock_us_ = std::max(clock_us_ + 1, now_us);
  out.push_back({cand.id, clock_us_});
}

void limit_gate::make_waiting(int64_t, entry& e) {
  e.at = where::waiting;
  for (auto* k : e.keys) {
    const bool best = k->waiting.empty() || e.key < *k->waiting.begin();
    k->waiting.insert(e.key);
    if (best)
      mark(*k);
  }
}

void limit_gate::drop(int64_t id, entry& e) {
  for (auto* k : e.keys) {
    switch (e.at) {
      case where::scheduled:
        break;
      case where::waiting:
        if (*k->waiting.begin() == e.key)
          mark(*k);
        k->waiting.erase(e.key);
        break;
      case where::pending:
        k->pending = 0;
        mark(*k);
        break;
      case where::running:
        break;
    }
    unref(k);
  }
  if (e.at == where::scheduled)
    timers_.erase({e.key.run_at_us, id});
}

void limit_gate::unref(key_state* k) {
  --k->refs;
  mark(*k); // poll() forgets it when nothing is left
}

double start_slack(double rate_per_s) {
  return std::min(0.5, 0.02 * rate_per_s);
}

std::optional<double> parse_rate(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 2 != text.size())
    return std::nullopt;
  const std::string num = text.substr(0, slash);
  char* end = nullptr;
  const double n = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size() || !std::isfinite(n) || n <= 0 || num[0] == '+'
      || std::isspace(static_cast<unsigned char>(num[0])))
    return std::nullopt;
  switch (text[slash + 1]) {
    case 's':
      return n;
    case 'm':
      return n / 60;
    case 'h':
      return n / 3600;
    default:
      return std::nullopt;
  }
}

std::string format_rate(double per_s) {
  char buf[64];
  const std::pair<double, const char*> units[] = {{1, "s"}, {60, "m"}, {3600, "h"}};
  for (const auto& [f, u] : units) {
    const double v = per_s * f;
    if (v >= 1 || f == 3600) {
      std::snprintf(buf, sizeof buf, "%.6g/%s", v, u);
      return buf;
    }
  }
  return buf;
}

} // namespace taskrt::sched

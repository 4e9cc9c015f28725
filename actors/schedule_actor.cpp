#include "taskrt/actors/schedule_actor.hpp"

#include "taskrt/actors/schedule_row_check.hpp"
#include "taskrt/persistence/store_error.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/time.hpp"
#include "taskrt/sched/duration_text.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

namespace taskrt {

namespace {

using wake_atom = caf::atom_constant<caf::atom("schedwake")>;

/// Ticks older than this, found while the head runs, count as missed.
constexpr int64_t late_limit_us = 60'000'000;
/// At most this many ticks are decided one by one in a pass.
constexpr size_t max_ticks_per_pass = 10'000;
/// The longest wait between two looks at the mailbox.
constexpr int64_t max_wait_ms = 500;

bool final_state(const std::string& s) {
  return s == "SUCCEEDED" || s == "FAILED" || s == "CANCELLED" || s == "LOST";
}

/// A deterministic jitter in [0, jitter_s) seconds for one tick.
int64_t jitter_us(const std::string& name, int64_t tick_us, int64_t jitter_s) {
  if (jitter_s <= 0)
    return 0;
  uint64_t h = 1469598103934665603ULL;
  for (char c : name + ":" + std::to_string(tick_us))
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return static_cast<int64_t>(h % static_cast<uint64_t>(jitter_s * 1'000'000));
}

struct entry {
  schedule_row row;
  std::optional<sched::schedule_spec> spec;
  std::string spec_error;
};

/// The work of the actor, on its own thread.
class runner {
public:
  runner(caf::actor_system& sys, schedule_actor_config cfg) : sys_(sys), cfg_(std::move(cfg)) {}

  /// One round: (re)load, fire what is due, wait for the next tick or a change.
  void round() {
    try {
      if (!store_) {
        store_ = std::make_unique<schedule_store>(cfg_.dsn);
        store_->listen();
        for (const auto& d : cfg_.declared)
          store_->upsert_declared(d);
        reload_ = true;
      }
      if (reload_) {
        reload_ = false;
        load();
      }
      const auto t = now();
      for (auto& [name, e] : entries_)
        if (!e.row.paused && e.spec)
          run_due(e, to_micros(t));
      reload_ = store_->await_change(wait_ms()) || reload_;
    } catch (const std::exception& e) {
      spdlog::warn("schedules: {}; trying again in 1 s", e.what());
      store_.reset();
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }

private:
  /// Reads every schedule; a schedule seen paused before and not now was
  /// resumed: its due ticks were missed while paused.
  void load() {
    std::map<std::string, entry> fresh;
    for (auto& row : store_->list()) {
      entry e;
      auto spec = spec_of(row);
      if (auto err = std::get_if<std::string>(&spec))
        e.spec_error = *err;
      else
        e.spec = std::get<sched::schedule_spec>(spec);
      auto old = entries_.find(row.name);
      if (old == entries_.end()) {
        // Ticks due at the first load came due while no head was active; a
        // schedule added while this head runs is on time (its first tick
        // may come due between the add and the NOTIFY).
        if (first_load_)
          missed_reason_[row.name] = row.paused ? "paused" : "no active head";
      } else if (old->second.row.paused && !row.paused) {
        missed_reason_[row.name] = "paused";
      }
      if (!e.spec_error.empty() && (old == entries_.end() || old->second.spec_error.empty()))
        spdlog::error("schedule {}: {}; it does not fire", row.name, e.spec_error);
      e.row = std::move(row);
      fresh.emplace(e.row.name, std::move(e));
    }
    entries_ = std::move(fresh);
    first_load_ = false;
  }

  int64_t wait_ms() const {
    const int64_t t = to_micros(now());
    int64_t wait = max_wait_ms;
    for (const auto& [name, e] : entries_)
      if (!e.row.paused && e.spec && e.row.next_tick_us != 0)
        wait = std::min(wait, std::max<int64_t>(0, (e.row.next_tick_us - t) / 1000 + 1));
    return wait;
  }

  /// Submits one tick; the task id, 0 when the head refused it for good
  /// (`refusal` says why); throws when it may work later.
  int64_t submit(const schedule_row& r, int64_t tick_us, const std::string& key,
                 std::string& refusal) {
    task_spec spec;
    spec.name = r.task;
    spec.args = r.args;
    spec.queue = r.queue;
    spec.priority = r.priority;
    spec.lock = r.overlap == "buffer-one" ? "schedule:" + r.name : r.lock;
    spec.policy = r.policy;
    spec.time_limit_s = r.time_limit_s;
    spec.run_at_us = tick_us + jitter_us(r.name, tick_us, r.jitter_s);
    spec.origin = "schedule " + r.name;
    spec.key = key;
    int64_t id = 0;
    std::string retry_error;
    caf::scoped_actor self{sys_};
    self->request(cfg_.head, std::chrono::seconds(15), submit_atom::value, spec)
      .receive([&](int64_t x) { id = x; },
               [&](caf::error& err) {
                 if (taskrt_code(err) == static_cast<uint8_t>(errc::bad_request))
                   refusal = error_message(err);
                 else
                   retry_error = error_message(err);
               });
    if (!retry_error.empty())
      throw std::runtime_error("schedule " + r.name + ": submit of tick " + key + " failed: "
                               + retry_error);
    return id;
  }

  /// Why a tick may not start now for the overlap rule ("" when it may).
  std::string overlap_block(entry& e) {
    if (e.row.overlap == "allow" || e.row.recent_task_ids.empty())
      return {};
    auto states = store_->task_states(e.row.recent_task_ids);
    std::vector<std::pair<int64_t, std::string>> live;
    for (auto id : e.row.recent_task_ids) {
      auto s = states.find(id);
      if (s != states.end() && !final_state(s->second))
        live.emplace_back(id, s->second);
    }
    if (e.row.overlap == "skip" && !live.empty())
      return "overlap: task " + std::to_string(live.back().first) + " of an earlier tick is "
             + live.back().second;
    if (e.row.overlap == "buffer-one" && live.size() >= 2)
      return "overlap: task " + std::to_string(live.back().first)
             + " already waits behind task " + std::to_string(live.front().first);
    return {};
  }

  void fired(entry& e, int64_t id) {
    e.row.recent_task_ids.push_back(id);
    if (e.row.recent_task_ids.size() > 2)
      e.row.recent_task_ids.erase(e.row.recent_task_ids.begin());
  }

  /// Fires a manual trigger, then the due ticks of `e`.
  void run_due(entry& e, int64_t now_us) {
    auto& r = e.row;
    if (r.trigger_at_us != 0) {
      const auto key = tick_key(r.name, r.trigger_at_us);
      std::string refusal;
      const auto id = submit(r, r.trigger_at_us, key, refusal);
      schedule_event_row ev{0, r.name, r.trigger_at_us, id ? "triggered" : "skipped",
                            id ? "schedules trigger" : "submit refused: " + refusal, id, 0};
      store_->record_ticks(r.name, {ev}, r.next_tick_us);
      store_->clear_trigger(r.name, r.trigger_at_us);
      if (id)
        fired(e, id);
      r.trigger_at_us = 0;
    }
    if (r.next_tick_us == 0) { // a rule that had no next tick when added
      if (auto n = e.spec->next_after(now_us / 1'000'000)) {
        store_->record_ticks(r.name, {}, *n * 1'000'000);
        r.next_tick_us = *n * 1'000'000;
      }
      return;
    }
    if (r.next_tick_us > now_us) {
      missed_reason_.erase(r.name);
      return;
    }
    // The due ticks, oldest first, and the first one after now.
    std::vector<int64_t> ticks;
    int64_t next = r.next_tick_us;
    while (next != 0 && next <= now_us && ticks.size() < max_ticks_per_pass) {
      ticks.push_back(next);
      auto n = e.spec->next_after(next / 1'000'000);
      next = n ? *n * 1'000'000 : 0;
    }
    const bool more = next != 0 && next <= now_us;
    const auto reason_it = missed_reason_.find(r.name);
    const std::string why = reason_it == missed_reason_.end() ? "" : reason_it->second;
    std::vector<std::string> keys;
    for (auto t : ticks)
      keys.push_back(tick_key(r.name, t));
    const auto existing = store_->tasks_by_key(keys);
    // Which ticks were missed, and which of those the policy fires.
    std::vector<bool> missed(ticks.size()), fire(ticks.size());
    int64_t last_missed = -1;
    for (size_t i = 0; i < ticks.size(); ++i) {
      missed[i] = !why.empty() || more || ticks[i] < now_us - late_limit_us;
      fire[i] = !missed[i];
      if (missed[i])
        last_missed = static_cast<int64_t>(i);
    }
    const std::string missed_text
      = "missed: " + (why.empty() ? std::string{"the head could not fire it in time"}
                                  : why == "paused" ? std::string{"the schedule was paused"}
                                                    : std::string{"no head was active"});
    std::vector<std::string> skip_reason(ticks.size());
    for (size_t i = 0; i < ticks.size(); ++i) {
      if (!missed[i])
        continue;
      if (r.missed == "latest") {
        fire[i] = static_cast<int64_t>(i) == last_missed && !more;
        skip_reason[i] = missed_text + " (--missed latest fires only the most recent)";
      } else if (r.missed == "all") {
        fire[i] = !more && (r.catchup_window_s == 0
                            || ticks[i] >= now_us - r.catchup_window_s * 1'000'000);
        skip_reason[i] = missed_text + " (older than the catch-up window "
                         + sched::duration_text(r.catchup_window_s) + ")";
        if (more)
          skip_reason[i] = missed_text + " (more than 10000 ticks behind)";
      } else {
        skip_reason[i] = missed_text + " (--missed skip)";
      }
    }
    std::vector<schedule_event_row> pending;
    for (size_t i = 0; i < ticks.size(); ++i) {
      const auto after = i + 1 < ticks.size() ? ticks[i + 1] : next;
      const auto key = keys[i];
      auto ex = existing.find(key);
      schedule_event_row ev{0, r.name, ticks[i], "", "", 0, 0};
      if (ex != existing.end()) { // fired before (a head that died before recording it)
        ev.kind = "fired"; // on time, by a head that died before journaling it
        ev.reason = "its task was submitted before a restart";
        ev.task_id = ex->second;
        fired(e, ex->second);
      } else if (!fire[i]) {
        ev.kind = "skipped";
        ev.reason = skip_reason[i];
      } else if (auto block = overlap_block(e); !block.empty()) {
        ev.kind = "skipped";
        ev.reason = block;
      } else {
        std::string refusal;
        const auto id = submit(r, ticks[i], key, refusal);
        if (id == 0) {
          ev.kind = "skipped";
          ev.reason = "submit refused: " + refusal;
        } else {
          ev.kind = missed[i] ? "caught_up" : "fired";
          ev.reason = missed[i] ? missed_text : "";
          ev.task_id = id;
          fired(e, id);
        }
      }
      pending.push_back(ev);
      // A fire is recorded at once (with the skips before it); skips alone
      // are written together.
      if (ev.task_id != 0 || i + 1 == ticks.size()) {
        store_->record_ticks(r.name, pending, after == 0 ? to_micros(max_timestamp()) : after);
        pending.clear();
      }
      r.next_tick_us = after == 0 ? to_micros(max_timestamp()) : after;
    }
    if (!more)
      missed_reason_.erase(r.name);
  }

  caf::actor_system& sys_;
  schedule_actor_config cfg_;
  std::unique_ptr<schedule_store> store_;
  bool reload_ = true;
  bool first_load_ = true;
  std::map<std::string, entry> entries_;
  std::map<std::string, std::string> missed_reason_; ///< by name: why due ticks were missed
};

} // namespace

caf::actor spawn_schedule_actor(caf::actor_system& sys, const schedule_actor_config& cfg) {
  auto work = std::make_shared<runner>(sys, cfg);
  return sys.spawn<caf::detached>([work](caf::event_based_actor* self) -> caf::behavior {
    self->send(self, wake_atom::value);
    return {
      [self, work](wake_atom) {
        work->round();
        self->send(self, wake_atom::value);
      },
    };
  });
}

} // namespace taskrt

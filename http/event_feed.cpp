#include "taskrt/http/event_feed.hpp"

#include "taskrt/cli/task_json.hpp"
#include "taskrt/persistence/dsn.hpp"
#include "taskrt/runtime/time.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

namespace taskrt::http {

namespace {

/// Events read per query; a subscriber far behind catches up a page a round.
constexpr int page = 500;

/// A comment line every this often keeps proxies from closing an idle
/// stream and finds clients that went away.
constexpr auto keepalive_every = std::chrono::seconds(15);

/// The longest re-check interval of a barrier that stays pending.
constexpr auto recheck_max = std::chrono::milliseconds(200);

/// While the journal cannot be reached: the wait before each new attempt.
constexpr auto reconnect_after = std::chrono::seconds(1);

/// Names the feed's connection in pg_stat_activity.
constexpr const char* application_name = "taskrt-event-feed";

bool wanted(const feed_filter& f, const feed_event& e) {
  if (!e.event.to_state && !f.notes)
    return false;
  if (f.task_id != 0 && e.event.task_id != f.task_id)
    return false;
  if (!f.states.empty()
      && (!e.event.to_state || f.states.count(to_string(*e.event.to_state)) == 0))
    return false;
  if (!f.name.empty() && e.name != f.name)
    return false;
  return true;
}

std::string sse_of(const feed_event& e) {
  auto j = cli::event_json(e.event);
  j["name"] = e.name.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.name);
  return std::string{"event: "} + (e.event.to_state ? "transition" : "note") + "\nid: "
         + std::to_string(e.event.id) + "\ndata: " + j.dump() + "\n\n";
}

} // namespace

event_feed::event_feed(std::string dsn, std::chrono::milliseconds recheck)
  : dsn_(dsn_with_defaults(dsn, {{"application_name", application_name}})), recheck_(recheck),
    wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (wake_fd_ < 0)
    throw std::runtime_error("event feed: eventfd failed");
  thread_ = std::thread([this] { loop(); });
}

event_feed::~event_feed() {
  stop();
  ::close(wake_fd_);
}

void event_feed::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void event_feed::subscribe(std::shared_ptr<stream_channel> out, feed_filter f, int64_t after_id) {
  {
    std::lock_guard<std::mutex> guard{m_};
    if (stop_) {
      out->close();
      return;
    }
    incoming_.push_back({std::move(out), std::move(f), after_id});
    ++count_;
  }
  cv_.notify_one();
  wake();
}

size_t event_feed::subscribers() const {
  std::lock_guard<std::mutex> guard{m_};
  return count_;
}

uint64_t event_feed::statements() const {
  return statements_.load();
}

void event_feed::stop() {
  {
    std::lock_guard<std::mutex> guard{m_};
    stop_ = true;
  }
  cv_.notify_all();
  wake();
  if (thread_.joinable())
    thread_.join();
}

void event_feed::deliver(subscriber& s, const std::vector<feed_event>& events, int64_t up_to) {
  std::string batch;
  for (const auto& e : events)
    if (e.event.id > s.cursor && wanted(s.filter, e))
      batch += sse_of(e);
  s.cursor = std::max(s.cursor, up_to);
  if (!batch.empty())
    s.out->push(batch);
}

void event_feed::loop() {
  using std::chrono::milliseconds;
  std::vector<subscriber> subs;
  std::unique_ptr<access_store> store;
  uint64_t past_statements = 0;        // of the stores before this one
  std::optional<feed_barrier> pending; // taken, not yet settled
  int64_t settled = -1;                // every id up to this is settled
  bool announced = true; // events may have committed since the last barrier
  auto recheck = recheck_;
  auto last_keepalive = std::chrono::steady_clock::now();
  bool failing = false;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock{m_};
      if (stop_)
        break;
      if (!incoming_.empty())
        announced = true; // a resume needs a barrier at least as new as it
      for (auto& s : incoming_)
        subs.push_back(std::move(s));
      incoming_.clear();
    }
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [](const subscriber& s) { return s.out->closed(); }),
               subs.end());
    {
      std::lock_guard<std::mutex> guard{m_};
      count_ = subs.size() + incoming_.size();
    }
    uint64_t drained = 0;
    [[maybe_unused]] auto n = ::read(wake_fd_, &drained, sizeof drained);
    if (subs.empty()) {
      // Nobody listens: no reads, and no LISTEN either (a connection that
      // LISTENs must take its notifications, else Postgres queues them).
      pending.reset();
      if (store) {
        past_statements += store->statements();
        statements_ = past_statements;
        store.reset();
      }
      announced = true;
      std::unique_lock<std::mutex> lock{m_};
      cv_.wait(lock, [&] { return stop_ || !incoming_.empty(); });
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_keepalive >= keepalive_every) {
      last_keepalive = now;
      for (auto& s : subs)
        s.out->push(": keepalive\n\n");
    }
    auto wait = std::chrono::duration_cast<milliseconds>(last_keepalive + keepalive_every - now);
    try {
      if (!store)
        store = std::make_unique<access_store>(dsn_);
      auto try_settle = [&] {
        if (pending && store->barrier_settled(*pending)) {
          settled = std::max(settled, pending->last_id);
          pending.reset();
          recheck = recheck_;
        }
      };
      try_settle();
      if (!pending && announced) {
        pending = store->take_barrier();
        announced = false;
        try_settle();
      }
      if (settled >= 0) {
        // Streams from "now": start after what is settled.
        for (auto& s : subs)
          if (s.cursor < 0)
            s.cursor = settled;
        // The common position first (one read serves every subscriber
        // there), then each one behind it, a page a round.
        std::vector<int64_t> cursors;
        for (const auto& s : subs)
          cursors.push_back(s.cursor);
        std::sort(cursors.begin(), cursors.end());
        cursors.erase(std::unique(cursors.begin(), cursors.end()), cursors.end());
        for (auto from : cursors) {
          if (from >= settled)
            continue;
          auto events = store->events_between(from, settled, page);
          const int64_t up_to
            = static_cast<int>(events.size()) < page ? settled : events.back().event.id;
          for (auto& s : subs)
            if (s.cursor == from)
              deliver(s, events, up_to);
        }
      }
      const bool behind = std::any_of(subs.begin(), subs.end(),
                                      [&](const subscriber& s) { return s.cursor < settled; });
      if (behind) {
        wait = milliseconds(0); // the next page at once
      } else if (pending) {
        // A transaction that was running when the barrier was taken has
        // not ended: wait for it (or for a notification), not for the
        // journal to change.
        wait = std::min(wait, recheck);
        recheck = std::min<milliseconds>(recheck * 2, recheck_max);
      }
      if (failing)
        spdlog::info("event feed: the journal answers again");
      failing = false;
      if (store->wait_events(wake_fd_, wait))
        announced = true;
      statements_ = past_statements + store->statements();
    } catch (const std::exception& e) {
      if (!failing)
        spdlog::warn("event feed: {}; retrying every {} s", e.what(), reconnect_after.count());
      failing = true;
      pending.reset();
      announced = true; // after reconnecting: read from the cursors
      if (store) {
        past_statements += store->statements();
        statements_ = past_statements;
        store.reset();
      }
      std::unique_lock<std::mutex> lock{m_};
      cv_.wait_for(lock, reconnect_after, [&] { return stop_; });
    }
  }
  for (auto& s : subs)
    s.out->close();
  std::lock_guard<std::mutex> guard{m_};
  for (auto& s : incoming_)
    s.out->close();
  incoming_.clear();
  count_ = 0;
}

} // namespace taskrt::http

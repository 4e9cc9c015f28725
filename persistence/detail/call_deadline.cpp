#include "taskrt/persistence/detail/call_deadline.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <sys/socket.h>

namespace taskrt::detail {

namespace {

using clock = std::chrono::steady_clock;

/// The process' watchdog: armed deadlines by token, one thread that sleeps
/// until the earliest one and shuts its socket down when it passes.
class watchdog {
public:
  /// Never destroyed (nor its thread joined): calls may still be armed
  /// while the process exits.
  static watchdog& instance() {
    static auto* w = new watchdog;
    return *w;
  }

  uint64_t arm(int fd, clock::time_point at) {
    std::lock_guard<std::mutex> g{m_};
    if (!started_) {
      std::thread([this] { run(); }).detach();
      started_ = true;
    }
    const auto token = ++last_;
    armed_[token] = {fd, at, false};
    if (at < wakes_at_) // else it wakes in time for this one anyway
      cv_.notify_one();
    return token;
  }

  /// Forgets `token`; true when it had fired.
  bool disarm(uint64_t token) {
    std::lock_guard<std::mutex> g{m_};
    auto i = armed_.find(token);
    if (i == armed_.end())
      return false;
    const bool fired = i->second.fired;
    armed_.erase(i);
    return fired;
  }

  /// Moves `token`'s deadline to `at` unless it fired already.
  void rearm(uint64_t token, clock::time_point at) {
    std::lock_guard<std::mutex> g{m_};
    auto i = armed_.find(token);
    if (i == armed_.end() || i->second.fired)
      return;
    i->second.at = at;
    if (at < wakes_at_)
      cv_.notify_one();
  }

  bool fired(uint64_t token) {
    std::lock_guard<std::mutex> g{m_};
    auto i = armed_.find(token);
    return i != armed_.end() && i->second.fired;
  }

private:
  struct entry {
    int fd;
    clock::time_point at;
    bool fired;
  };

  void run() {
    std::unique_lock<std::mutex> g{m_};
    for (;;) {
      auto next = clock::time_point::max();
      const auto t = clock::now();
      for (auto& [token, e] : armed_) {
        if (e.fired)
          continue;
        if (e.at <= t) {
          // Under the lock: the owner cannot disarm (and close the socket)
          // meanwhile, so `fd` is still the call's socket.
          ::shutdown(e.fd, SHUT_RDWR);
          e.fired = true;
        } else {
          next = std::min(next, e.at);
        }
      }
      wakes_at_ = next;
      if (next == clock::time_point::max())
        cv_.wait(g);
      else
        cv_.wait_until(g, next);
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::map<uint64_t, entry> armed_;
  uint64_t last_ = 0;
  bool started_ = false;
  clock::time_point wakes_at_ = clock::time_point::max(); ///< the thread's next wake-up
};

} // namespace

call_deadline::call_deadline(int fd, std::chrono::milliseconds limit)
  : limit_(limit), armed_at_(clock::now()) {
  if (fd >= 0 && limit.count() > 0)
    token_ = watchdog::instance().arm(fd, armed_at_ + limit);
}

void call_deadline::extend_to(std::chrono::milliseconds limit) {
  if (token_ == 0)
    return;
  limit_ = limit;
  watchdog::instance().rearm(token_, armed_at_ + limit);
}

call_deadline::~call_deadline() {
  if (token_ != 0)
    watchdog::instance().disarm(token_);
}

bool call_deadline::fired() const {
  return token_ != 0 && watchdog::instance().fired(token_);
}

} // namespace taskrt::detail

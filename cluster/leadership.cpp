#include "taskrt/cluster/leadership.hpp"

#include "taskrt/cluster/head_node.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <unistd.h>

namespace taskrt {

lock_watcher::lock_watcher(std::unique_ptr<leader_lock> lock, std::string dsn,
                           std::string address, std::string state_path, bool enabled)
  : lock_(std::move(lock)),
    dsn_(std::move(dsn)),
    address_(std::move(address)),
    state_path_(std::move(state_path)),
    enabled_(enabled),
    thread_([this] { run(); }) {}

lock_watcher::~lock_watcher() {
  watching_ = false;
  thread_.join();
}

void lock_watcher::set_address(const std::string& address) {
  std::lock_guard<std::mutex> guard{m_};
  address_ = address;
  try {
    lock_->set_address(address);
  } catch (const std::exception& e) {
    spdlog::warn("leadership session not renamed to {}: {}", address, e.what());
  }
}

void lock_watcher::run() {
  bool lost = false;
  while (watching_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (!watching_.load())
      break;
    if (!enabled_)
      continue;
    std::lock_guard<std::mutex> guard{m_};
    if (!lost && lock_->held())
      continue;
    if (!lost) {
      lost = true;
      spdlog::error("lost the leadership lock of the journal ({}); taking it back as soon as "
                    "Postgres answers, unless another head took it",
                    lock_->last_error());
    }
    std::unique_ptr<leader_lock> again;
    try {
      again = std::make_unique<leader_lock>(dsn_, address_);
      if (again->try_acquire()) {
        lock_ = std::move(again);
        lost = false;
        spdlog::info("leadership lock of the journal taken back");
        continue;
      }
    } catch (const std::exception&) {
      continue; // Postgres still away: nobody else can take it either
    }
    ::unlink(state_path_.c_str());
    std::fprintf(stderr,
                 "taskrt: another head (%s) holds the leadership lock of the journal: this "
                 "head can no longer prove it is the only active one; stepping down (exit %d)\n",
                 again->holder().c_str(), exit_stepped_down);
    std::fflush(stderr);
    std::_Exit(exit_stepped_down);
  }
}

silent_head_watch::silent_head_watch(std::string dsn, double takeover_after_s)
  : dsn_(std::move(dsn)), takeover_after_s_(takeover_after_s), thread_([this] { run(); }) {}

silent_head_watch::~silent_head_watch() {
  watching_ = false;
  thread_.join();
}

void silent_head_watch::run() {
  if (takeover_after_s_ <= 0)
    return;
  while (watching_.load()) {
    for (int i = 0; i < 10 && watching_.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!watching_.load())
      break;
    try {
      for (const auto& s : leader_lock::sessions(dsn_)) {
        if (s.role != "active" || s.silent_s <= takeover_after_s_)
          continue;
        spdlog::warn("the active head {} has been silent on its lock session for {:.1f} s "
                     "(paused, hung or cut off from Postgres; limit --takeover-after {:.0f} s): "
                     "ending its session to take over",
                     s.address, s.silent_s, takeover_after_s_);
        leader_lock::end_session(dsn_, s.backend_pid);
      }
    } catch (const std::exception& e) {
      spdlog::debug("standby: cannot check the active head: {}", e.what());
    }
  }
}

} // namespace taskrt

#include "taskrt/cluster/frame_budget.hpp"

namespace taskrt {

void frame_budget::release_locked(int64_t conn) {
  auto i = by_conn_.find(conn);
  if (i == by_conn_.end())
    return;
  total_ -= i->second.bytes;
  if (!i->second.registered)
    unregistered_ -= i->second.bytes;
  by_conn_.erase(i);
}

frame_budget_verdict frame_budget::reserve(int64_t conn, size_t bytes, bool registered) {
  std::lock_guard<std::mutex> guard{m_};
  release_locked(conn);
  if (!registered) {
    if (bytes > limits_.unregistered_each)
      return frame_budget_verdict::over_unregistered_each;
    if (bytes > limits_.unregistered_total - unregistered_)
      return frame_budget_verdict::over_unregistered_total;
  }
  if (bytes > limits_.total - total_)
    return frame_budget_verdict::over_total;
  by_conn_[conn] = entry{bytes, registered};
  total_ += bytes;
  if (!registered)
    unregistered_ += bytes;
  return frame_budget_verdict::admitted;
}

void frame_budget::release(int64_t conn) {
  std::lock_guard<std::mutex> guard{m_};
  release_locked(conn);
}

frame_budget_usage frame_budget::usage() const {
  std::lock_guard<std::mutex> guard{m_};
  return {total_, unregistered_, by_conn_.size()};
}

const char* to_string(frame_budget_verdict v) {
  switch (v) {
    case frame_budget_verdict::admitted:
      return "";
    case frame_budget_verdict::over_unregistered_each:
      return "over the budget of a connection that has not completed its handshake";
    case frame_budget_verdict::over_unregistered_total:
      return "over the budget of all connections that have not completed their handshake";
    case frame_budget_verdict::over_total:
      return "over the budget of bytes in flight from all peers";
  }
  return "?";
}

} // namespace taskrt

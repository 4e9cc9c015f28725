#include "taskrt/sched/queue_window.hpp"

#include <algorithm>

namespace taskrt::sched {

ready_key just_before(const ready_key& k) {
  return {k.priority, k.run_at_us, k.id - 1};
}

queue_window::queue_window(size_t capacity) : capacity_(std::max<size_t>(capacity, 2)) {
}

void queue_window::move_frontier_before(queue_state& q, const std::string& name,
                                        const ready_key& k) {
  const auto f = just_before(k);
  if (!q.frontier || f < *q.frontier)
    q.frontier = f;
  spilled_.insert(name);
}

admit_result queue_window::admit(const std::string& queue, const ready_key& k) {
  auto& q = queues_[queue];
  if (q.refilling) {
    q.held.insert(k); // the refill's snapshot may not have it
    return {true, 0};
  }
  if (q.frontier && *q.frontier < k) {
    ++q.outside; // ranks after the frontier: read back in its turn
    return {false, 0};
  }
  q.held.insert(k);
  if (q.held.size() <= capacity_)
    return {true, 0};
  const auto worst = *q.held.rbegin();
  q.held.erase(std::prev(q.held.end()));
  ++q.outside;
  move_frontier_before(q, queue, worst);
  if (worst.id == k.id)
    return {false, 0};
  return {true, worst.id};
}

void queue_window::hold(const std::string& queue, const ready_key& k) {
  queues_[queue].held.insert(k);
}

std::vector<int64_t> queue_window::trim(const std::string& queue) {
  std::vector<int64_t> out;
  auto i = queues_.find(queue);
  if (i == queues_.end() || i->second.refilling)
    return out;
  auto& q = i->second;
  while (q.held.size() > capacity_) {
    const auto worst = *q.held.rbegin();
    q.held.erase(std::prev(q.held.end()));
    ++q.outside;
    move_frontier_before(q, queue, worst);
    out.push_back(worst.id);
  }
  return out;
}

void queue_window::leave(const std::string& queue, const ready_key& k) {
  auto i = queues_.find(queue);
  if (i == queues_.end())
    return;
  auto& q = i->second;
  if (q.refilling)
    q.touched.insert(k.id);
  q.held.erase(k);
}

void queue_window::left_journal(const std::string& queue, int64_t id) {
  auto i = queues_.find(queue);
  if (i == queues_.end())
    return;
  auto& q = i->second;
  if (q.refilling)
    q.touched.insert(id);
  if (q.outside > 0)
    --q.outside;
}

std::optional<refill_request> queue_window::want_refill(const std::string& queue) {
  auto i = queues_.find(queue);
  if (i == queues_.end() || !spilled_.count(queue))
    return std::nullopt;
  auto& q = i->second;
  if (q.refilling || q.held.size() >= capacity_ / 2)
    return std::nullopt;
  q.refilling = true;
  q.touched.clear();
  q.asked = capacity_ - q.held.size();
  return refill_request{queue, q.frontier, q.asked};
}

void queue_window::end_refill(const std::string& queue, const std::vector<ready_key>& rows,
                              refill_result& out) {
  auto& q = queues_[queue];
  q.refilling = false;
  q.touched.clear();
  for (auto i : out.take)
    q.held.insert(rows[i]);
  q.outside = std::max<int64_t>(0, q.outside - static_cast<int64_t>(out.take.size()));
  if (rows.size() < q.asked) {
    q.frontier.reset(); // every due task of the queue is in memory again
    q.outside = 0;
    spilled_.erase(queue);
    return;
  }
  if (!rows.empty())
    q.frontier = rows.back();
  // Tasks held while the refill was in flight may rank after the new
  // frontier, where tasks only in the journal are: they leave memory, so the
  // best task of the queue is always held.
  while (!q.held.empty() && *q.frontier < *q.held.rbegin()) {
    out.evicted.push_back(q.held.rbegin()->id);
    q.held.erase(std::prev(q.held.end()));
    ++q.outside;
  }
}

void queue_window::refill_failed(const std::string& queue) {
  auto i = queues_.find(queue);
  if (i == queues_.end())
    return;
  i->second.refilling = false;
  i->second.touched.clear();
}

void queue_window::recovered(const std::string& queue, const std::vector<ready_key>& held,
                             int64_t total) {
  auto& q = queues_[queue];
  q.held.insert(held.begin(), held.end());
  if (held.size() >= capacity_) {
    q.frontier = *q.held.rbegin();
    q.outside = std::max<int64_t>(0, total - static_cast<int64_t>(held.size()));
    spilled_.insert(queue);
  }
}

size_t queue_window::held(const std::string& queue) const {
  auto i = queues_.find(queue);
  return i == queues_.end() ? 0 : i->second.held.size();
}

int64_t queue_window::outside(const std::string& queue) const {
  auto i = queues_.find(queue);
  return i == queues_.end() ? 0 : i->second.outside;
}

int64_t queue_window::outside_total() const {
  int64_t n = 0;
  for (const auto& kv : queues_)
    n += kv.second.outside;
  return n;
}

std::optional<ready_key> queue_window::frontier(const std::string& queue) const {
  auto i = queues_.find(queue);
  return i == queues_.end() ? std::nullopt : i->second.frontier;
}

} // namespace taskrt::sched

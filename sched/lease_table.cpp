#include "taskrt/sched/lease_table.hpp"

#include <algorithm>

namespace taskrt::sched {

namespace {

/// Removes `id` from the set under `key` of `index`, and the set when empty.
template <class Map, class Key>
void unindex(Map& index, const Key& key, int64_t id) {
  auto i = index.find(key);
  if (i == index.end())
    return;
  i->second.erase(id);
  if (i->second.empty())
    index.erase(i);
}

} // namespace

int64_t lease_table::issue(int64_t previous) {
  const int64_t fresh = (generation_ << 32) | ++counter_;
  return std::max(fresh, previous + 1);
}

void lease_table::add(running_attempt_entry a) {
  remove(a.task_id);
  by_lease_[a.lease] = a.task_id;
  by_node_[a.node].insert(a.task_id);
  if (a.worker != 0)
    by_worker_[a.worker].insert(a.task_id);
  const auto id = a.task_id;
  by_task_.emplace(id, std::move(a));
}

bool lease_table::remove(int64_t task_id) {
  auto i = by_task_.find(task_id);
  if (i == by_task_.end())
    return false;
  const auto& a = i->second;
  auto l = by_lease_.find(a.lease);
  if (l != by_lease_.end() && l->second == task_id)
    by_lease_.erase(l);
  unindex(by_node_, a.node, task_id);
  if (a.worker != 0)
    unindex(by_worker_, a.worker, task_id);
  by_task_.erase(i);
  return true;
}

const running_attempt_entry* lease_table::find(int64_t task_id) const {
  auto i = by_task_.find(task_id);
  return i == by_task_.end() ? nullptr : &i->second;
}

const running_attempt_entry* lease_table::current(int64_t task_id, int32_t attempt,
                                                  int64_t lease) const {
  const auto* a = find(task_id);
  return a && a->attempt == attempt && a->lease == lease ? a : nullptr;
}

const running_attempt_entry* lease_table::by_lease(int64_t lease) const {
  auto i = by_lease_.find(lease);
  return i == by_lease_.end() ? nullptr : find(i->second);
}

slot_id lease_table::move_to(int64_t task_id, slot_id worker) {
  auto i = by_task_.find(task_id);
  if (i == by_task_.end())
    return 0;
  auto& a = i->second;
  const auto before = a.worker;
  if (before == worker)
    return before;
  if (before != 0)
    unindex(by_worker_, before, task_id);
  a.worker = worker;
  if (worker != 0)
    by_worker_[worker].insert(task_id);
  return before;
}

void lease_table::mark_began(int64_t task_id) {
  auto i = by_task_.find(task_id);
  if (i != by_task_.end())
    i->second.began = true;
}

std::vector<int64_t> lease_table::on_node(const std::string& node) const {
  auto i = by_node_.find(node);
  return i == by_node_.end() ? std::vector<int64_t>{}
                             : std::vector<int64_t>(i->second.begin(), i->second.end());
}

std::vector<int64_t> lease_table::on_worker(slot_id worker) const {
  auto i = by_worker_.find(worker);
  return i == by_worker_.end() ? std::vector<int64_t>{}
                               : std::vector<int64_t>(i->second.begin(), i->second.end());
}

int32_t lease_table::count_on(const std::string& node) const {
  auto i = by_node_.find(node);
  return i == by_node_.end() ? 0 : static_cast<int32_t>(i->second.size());
}

void lease_table::granted(const std::string& node, int64_t mono_ns) {
  auto& g = grants_[node];
  g = std::max(g, mono_ns);
}

int64_t lease_table::last_grant(const std::string& node) const {
  auto i = grants_.find(node);
  return std::max(grant_floor_ns_, i == grants_.end() ? 0 : i->second);
}

void lease_table::fence_lock(const std::string& lock, int64_t until_ns) {
  auto& f = fences_[lock];
  f = std::max(f, until_ns);
}

int64_t lease_table::lock_fence(const std::string& lock) const {
  auto i = fences_.find(lock);
  return i == fences_.end() ? 0 : i->second;
}

std::vector<std::string> lease_table::expired_fences(int64_t now_ns) {
  std::vector<std::string> out;
  for (auto i = fences_.begin(); i != fences_.end();) {
    if (i->second <= now_ns) {
      out.push_back(i->first);
      i = fences_.erase(i);
    } else {
      ++i;
    }
  }
  return out;
}

} // namespace taskrt::sched

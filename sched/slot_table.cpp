#include "taskrt/sched/slot_table.hpp"

namespace taskrt::sched {

void slot_table::announce(slot_id id, slot_info info) {
  auto& e = ensure(id);
  unindex(id, e);
  move_node(id, e, info.node);
  e.s.info = std::move(info);
  e.s.ready = true;
  reindex(id, e);
}

void slot_table::set_unready(slot_id id) {
  auto i = slots_.find(id);
  if (i == slots_.end())
    return;
  unindex(id, i->second);
  i->second.s.ready = false;
}

void slot_table::assign(slot_id id) {
  auto& e = ensure(id);
  unindex(id, e);
  ++e.s.assigned;
  reindex(id, e);
}

void slot_table::unassign(slot_id id) {
  auto i = slots_.find(id);
  if (i == slots_.end())
    return;
  auto& e = i->second;
  unindex(id, e);
  if (--e.s.assigned <= 0) {
    e.s.assigned = 0;
    e.s.prefetch = true;
  }
  reindex(id, e);
}

void slot_table::dispatched(slot_id id) {
  auto i = slots_.find(id);
  if (i == slots_.end())
    return;
  unindex(id, i->second);
  i->second.s.last_dispatch = ++seq_;
  reindex(id, i->second);
}

void slot_table::stop_prefetch(slot_id id) {
  auto i = slots_.find(id);
  if (i == slots_.end())
    return;
  unindex(id, i->second);
  i->second.s.prefetch = false;
  reindex(id, i->second);
}

void slot_table::erase(slot_id id) {
  auto i = slots_.find(id);
  if (i == slots_.end())
    return;
  unindex(id, i->second);
  auto n = nodes_.find(i->second.s.info.node);
  if (n != nodes_.end()) {
    n->second.slots.erase(id);
    if (n->second.slots.empty() && !n->second.open)
      nodes_.erase(n);
  }
  slots_.erase(i);
}

std::vector<slot_id> slot_table::erase_node(const std::string& node) {
  std::vector<slot_id> out;
  auto n = nodes_.find(node);
  if (n == nodes_.end())
    return out;
  out.assign(n->second.slots.begin(), n->second.slots.end());
  for (auto id : out) {
    auto i = slots_.find(id);
    unindex(id, i->second);
    slots_.erase(i);
  }
  n->second.slots.clear();
  if (!n->second.open)
    nodes_.erase(n);
  return out;
}

void slot_table::set_node_open(const std::string& node, bool open) {
  auto& n = nodes_[node];
  if (n.open == open)
    return;
  n.open = open;
  for (auto id : n.slots) {
    auto& e = slots_.at(id);
    unindex(id, e);
    reindex(id, e);
  }
  if (!open && n.slots.empty())
    nodes_.erase(node);
}

slot_id slot_table::next() const {
  return free_.empty() ? 0 : std::get<2>(*free_.begin());
}

void slot_table::park(slot_id id) {
  auto i = slots_.find(id);
  if (i == slots_.end() || i->second.parked)
    return;
  unindex(id, i->second);
  i->second.parked = true;
  parked_.push_back(id);
}

void slot_table::unpark_all() {
  for (auto id : parked_) {
    auto i = slots_.find(id);
    if (i == slots_.end())
      continue;
    i->second.parked = false;
    reindex(id, i->second);
  }
  parked_.clear();
}

const slot* slot_table::find(slot_id id) const {
  auto i = slots_.find(id);
  return i == slots_.end() ? nullptr : &i->second.s;
}

std::pair<int32_t, int32_t> slot_table::ready_and_busy() const {
  int32_t ready = 0, busy = 0;
  for (const auto& kv : slots_) {
    if (!kv.second.s.ready)
      continue;
    ++ready;
    if (kv.second.s.assigned > 0)
      ++busy;
  }
  return {ready, busy};
}

slot_table::entry& slot_table::ensure(slot_id id) {
  auto [i, fresh] = slots_.try_emplace(id);
  if (fresh)
    nodes_[i->second.s.info.node].slots.insert(id);
  return i->second;
}

void slot_table::unindex(slot_id id, entry& e) {
  if (!e.indexed)
    return;
  free_.erase({e.s.assigned, e.s.last_dispatch, id});
  e.indexed = false;
}

void slot_table::reindex(slot_id id, entry& e) {
  auto n = nodes_.find(e.s.info.node);
  const bool open = n != nodes_.end() && n->second.open;
  if (e.indexed || e.parked || !e.s.ready || !open || e.s.free() <= 0)
    return;
  free_.insert({e.s.assigned, e.s.last_dispatch, id});
  e.indexed = true;
}

void slot_table::move_node(slot_id id, entry& e, const std::string& node) {
  if (e.s.info.node == node)
    return;
  auto old = nodes_.find(e.s.info.node);
  if (old != nodes_.end()) {
    old->second.slots.erase(id);
    if (old->second.slots.empty() && !old->second.open)
      nodes_.erase(old);
  }
  nodes_[node].slots.insert(id);
  e.s.info.node = node;
}

} // namespace taskrt::sched

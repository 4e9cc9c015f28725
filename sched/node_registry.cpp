#include "taskrt/sched/node_registry.hpp"

#include <algorithm>

namespace taskrt::sched {

const char* to_string(node_state s) {
  switch (s) {
    case node_state::alive:
      return "ALIVE";
    case node_state::suspect:
      return "SUSPECT";
    case node_state::dead:
      return "DEAD";
    case node_state::draining:
      return "DRAINING";
    case node_state::left:
      return "LEFT";
  }
  return "DEAD";
}

std::optional<node_state> parse_node_state(const std::string& s) {
  for (auto x : {node_state::alive, node_state::suspect, node_state::dead,
                 node_state::draining, node_state::left})
    if (s == to_string(x))
      return x;
  return std::nullopt;
}

node_registry::node_registry(std::string own_id, int32_t slots,
                             const std::vector<std::string>& tasks, int64_t now_us)
  : own_(std::move(own_id)) {
  auto& n = nodes_[own_];
  n.info.id = own_;
  n.info.slots = slots;
  n.info.tasks = tasks;
  n.runs = {tasks.begin(), tasks.end()};
  n.last_heartbeat_us = now_us;
  n.started_us = now_us;
  known_ = n.runs;
  index(n);
}

const node_entry* node_registry::find(const std::string& id) const {
  auto i = nodes_.find(id);
  return i == nodes_.end() ? nullptr : &i->second;
}

std::optional<node_state> node_registry::register_node(node_announcement a, int64_t now_us) {
  auto [i, fresh] = nodes_.try_emplace(a.id);
  auto& n = i->second;
  std::optional<node_state> before;
  if (!fresh) {
    before = n.state;
    unindex(n);
  }
  n.runs = {a.tasks.begin(), a.tasks.end()};
  known_.insert(a.tasks.begin(), a.tasks.end());
  n.info = std::move(a);
  n.state = node_state::alive;
  n.connected = true;
  n.last_heartbeat_us = now_us;
  n.started_us = now_us;
  index(n);
  return before;
}

bool node_registry::restore(const std::string& id, const std::string& host, int32_t slots,
                            int64_t started_us, node_state state, int64_t now_us) {
  if (id == own_ || nodes_.count(id))
    return false;
  auto& n = nodes_[id];
  n.info.id = id;
  n.info.host = host;
  n.info.slots = slots;
  n.started_us = started_us;
  n.last_heartbeat_us = now_us;
  n.state = state;
  index(n);
  return true;
}

bool node_registry::set_state(const std::string& id, node_state s) {
  auto i = nodes_.find(id);
  if (i == nodes_.end() || i->second.state == s)
    return false;
  unindex(i->second);
  i->second.state = s;
  index(i->second);
  return true;
}

void node_registry::set_connected(const std::string& id, bool connected) {
  auto i = nodes_.find(id);
  if (i == nodes_.end())
    return;
  unindex(i->second);
  i->second.connected = connected;
  index(i->second);
}

void node_registry::heard(const std::string& id, int64_t now_us) {
  auto i = nodes_.find(id);
  if (i == nodes_.end())
    return;
  unindex(i->second);
  i->second.last_heartbeat_us = now_us;
  index(i->second);
}

std::vector<node_verdict> node_registry::check(int64_t now_us, const node_timeouts& t) const {
  std::vector<node_verdict> out;
  const double first = std::min({t.suspect_after_s, t.dead_after_s, t.adopt_grace_s});
  for (const auto& [heard_us, id] : watch_) {
    const double silent = static_cast<double>(now_us - heard_us) / 1e6;
    if (silent <= first)
      break; // the rest were heard of more recently
    const auto& n = nodes_.at(id);
    if (!n.connected) {
      if (n.state == node_state::suspect && silent > t.adopt_grace_s)
        out.push_back({id, node_state::dead, "did not re-register after the head restarted"});
    } else if (silent > t.dead_after_s) {
      out.push_back({id, node_state::dead,
                     "no heartbeat for " + std::to_string(static_cast<int>(silent)) + " s"});
    } else if (silent > t.suspect_after_s && n.state == node_state::alive) {
      out.push_back({id, node_state::suspect, "no heartbeat"});
    }
  }
  return out;
}

std::vector<std::string> node_registry::expire(int64_t now_us, int64_t ttl_us) {
  std::vector<std::string> out;
  for (auto i = nodes_.begin(); i != nodes_.end();) {
    const auto& n = i->second;
    const bool gone = n.state == node_state::dead || n.state == node_state::left;
    if (gone && !n.connected && now_us - n.last_heartbeat_us > ttl_us && i->first != own_) {
      unindex(n);
      out.push_back(i->first);
      i = nodes_.erase(i);
    } else {
      ++i;
    }
  }
  return out;
}

bool node_registry::runnable(const std::string& name) const {
  if (alive_all_ > 0)
    return true;
  auto i = alive_runs_.find(name);
  return i != alive_runs_.end() && i->second > 0;
}

std::map<std::string, int64_t> node_registry::count_by_state() const {
  std::map<std::string, int64_t> out;
  for (const auto& kv : nodes_)
    ++out[to_string(kv.second.state)];
  return out;
}

bool node_registry::watched(const node_entry& n) {
  if (n.connected)
    return n.state == node_state::alive || n.state == node_state::suspect
           || n.state == node_state::draining;
  return n.state == node_state::suspect;
}

void node_registry::unindex(const node_entry& n) {
  watch_.erase({n.last_heartbeat_us, n.info.id});
  if (n.state != node_state::alive || n.info.slots <= 0)
    return;
  if (n.runs.empty()) {
    --alive_all_;
    return;
  }
  for (const auto& name : n.runs) {
    auto i = alive_runs_.find(name);
    if (i != alive_runs_.end() && --i->second <= 0)
      alive_runs_.erase(i);
  }
}

void node_registry::index(const node_entry& n) {
  if (n.info.id != own_ && watched(n))
    watch_.emplace(n.last_heartbeat_us, n.info.id);
  if (n.state != node_state::alive || n.info.slots <= 0)
    return;
  if (n.runs.empty()) {
    ++alive_all_;
    return;
  }
  for (const auto& name : n.runs)
    ++alive_runs_[name];
}

} // namespace taskrt::sched

#include "taskrt/sched/graph_order.hpp"

#include <cerrno>
#include <cstdlib>
#include <deque>

namespace taskrt::sched {

std::variant<ordered_graph, std::string> order_graph(const std::vector<graph_node_ref>& nodes) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name.empty() || nodes[i].name[0] == '#')
      return "node " + std::to_string(i) + ": a name must not be empty nor start with '#'";
    if (!index.emplace(nodes[i].name, i).second)
      return "node '" + nodes[i].name + "' named twice";
  }
  // In-graph parents per node, and the nodes waiting on each.
  std::vector<size_t> missing(nodes.size(), 0);
  std::vector<std::vector<size_t>> kids(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& p : nodes[i].after) {
      if (!p.empty() && p[0] == '#') {
        char* end = nullptr;
        errno = 0;
        const auto v = std::strtoll(p.c_str() + 1, &end, 10);
        if (p.size() == 1 || *end != '\0' || errno != 0 || v <= 0)
          return "node '" + nodes[i].name + "': '" + p + "' is not a task id";
        continue;
      }
      auto it = index.find(p);
      if (it == index.end())
        return "node '" + nodes[i].name + "': no node named '" + p + "'";
      if (it->second == i)
        return "node '" + nodes[i].name + "' waits on itself";
      ++missing[i];
      kids[it->second].push_back(i);
    }
  ordered_graph g;
  std::vector<int64_t> position(nodes.size(), -1);
  std::deque<size_t> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (missing[i] == 0)
      ready.push_back(i);
  while (!ready.empty()) {
    const auto i = ready.front();
    ready.pop_front();
    position[i] = static_cast<int64_t>(g.order.size());
    g.order.push_back(i);
    for (auto k : kids[i])
      if (--missing[k] == 0)
        ready.push_back(k);
  }
  if (g.order.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (position[i] < 0)
        return "a cycle through node '" + nodes[i].name + "'";
  }
  for (auto i : g.order) {
    std::vector<int64_t> refs;
    for (const auto& p : nodes[i].after)
      refs.push_back(p[0] == '#' ? std::strtoll(p.c_str() + 1, nullptr, 10)
                                 : -(position[index.at(p)] + 1));
    g.after.push_back(std::move(refs));
  }
  return g;
}

} // namespace taskrt::sched

/// client::submit_graph: a graph of locally named tasks as one batch submit.

#include "taskrt/cluster/client.hpp"
#include "taskrt/sched/graph_order.hpp"

namespace taskrt {

caf::expected<std::map<std::string, int64_t>>
client::submit_graph(const std::vector<graph_task>& tasks) {
  std::vector<sched::graph_node_ref> refs;
  refs.reserve(tasks.size());
  for (const auto& t : tasks)
    refs.push_back({t.name, t.after});
  auto ordered = sched::order_graph(refs);
  if (auto e = std::get_if<std::string>(&ordered))
    return make_error(errc::bad_request, "submit_graph: " + *e);
  const auto& g = std::get<sched::ordered_graph>(ordered);
  std::vector<task_spec> specs;
  specs.reserve(tasks.size());
  for (size_t k = 0; k < g.order.size(); ++k) {
    specs.push_back(tasks[g.order[k]].spec);
    specs.back().after = g.after[k];
  }
  auto ids = submit_many(specs);
  if (!ids)
    return ids.error();
  std::map<std::string, int64_t> out;
  for (size_t k = 0; k < g.order.size(); ++k)
    out[tasks[g.order[k]].name] = ids->at(k);
  return out;
}

} // namespace taskrt

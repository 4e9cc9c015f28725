#pragma once
/// Orders a graph of tasks named locally (client::submit_graph) so that each
/// task comes after its parents, and turns the local names of its parents
/// into the references a batch submit takes (-N: the N-th task of the
/// batch). Pure logic.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace taskrt::sched {

/// One node: its local name and the local names (or ids, as decimal text
/// starting with '#': "#42") of its parents.
struct graph_node_ref {
  std::string name;
  std::vector<std::string> after;
};

/// A graph in submit order.
struct ordered_graph {
  std::vector<size_t> order;               ///< indexes into the nodes, parents first
  std::vector<std::vector<int64_t>> after; ///< per position in `order`: -N or a task id
};

/// Orders `nodes` (Kahn's algorithm, stable: the given order where it is
/// free). An error names a duplicate or empty name, an unknown parent, or
/// a cycle.
std::variant<ordered_graph, std::string> order_graph(const std::vector<graph_node_ref>& nodes);

} // namespace taskrt::sched

#pragma once
/// Reads the graph around a task for `tasks describe` and `tasks graph`:
/// dependencies (task_edges, migration 7) and spawned children (a child a
/// running task submitted with ctx.submit, tasks.parent_id).

#include "taskrt/runtime/task_state.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace taskrt {

/// A task of the graph.
struct graph_task_row {
  int64_t id = 0;
  std::string name;
  task_state state = task_state::queued;
  std::string trigger; ///< its trigger rule when it has parents; empty: none
};

/// An arrow from `parent` to `child`.
struct graph_edge_row {
  int64_t parent = 0;
  int64_t child = 0;
  bool spawned = false; ///< submitted by the running parent (ctx.submit), not a dependency
};

/// The tasks within `depth` arrows of a task, both ways.
struct graph_view {
  int64_t root = 0;
  std::vector<graph_task_row> tasks; ///< by id
  std::vector<graph_edge_row> edges; ///< by (parent, child)
  bool truncated = false;            ///< the limit of tasks was reached
};

/// Reads the graph around task `id` (empty tasks when it does not exist), at
/// most `depth` arrows away and `limit` tasks, over its own connection to
/// `dsn` (connect timeout 3 s, statement timeout 10 s). Throws store_error.
graph_view read_graph(const std::string& dsn, int64_t id, int depth, size_t limit = 500);

} // namespace taskrt

#include "taskrt/persistence/graph_reader.hpp"

#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/dsn.hpp"
#include "taskrt/persistence/store_error.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace taskrt {

namespace {

std::string id_list(const std::set<int64_t>& ids) {
  std::string s;
  for (auto id : ids)
    s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

} // namespace

graph_view read_graph(const std::string& dsn, int64_t id, int depth, size_t limit) {
  try {
    pqxx::connection c{dsn_with_defaults(dsn, {{"connect_timeout", "3"}})};
    pqxx::read_transaction tx{c};
    tx.exec("SET LOCAL statement_timeout = 10000");
    graph_view g;
    g.root = id;
    std::set<int64_t> seen{id}, frontier{id};
    std::set<std::tuple<int64_t, int64_t, bool>> edges;
    for (int d = 0; d < depth && !frontier.empty(); ++d) {
      const auto in = id_list(frontier);
      std::set<int64_t> next;
      auto add = [&](int64_t p, int64_t k, bool spawned) {
        edges.emplace(p, k, spawned);
        for (auto x : {p, k})
          if (!seen.count(x)) {
            if (seen.size() >= limit) {
              g.truncated = true;
              continue;
            }
            seen.insert(x);
            next.insert(x);
          }
      };
      for (const auto& r : tx.exec("SELECT parent_id, child_id FROM task_edges WHERE child_id IN ("
                                   + in + ") OR parent_id IN (" + in + ") ORDER BY 1, 2 LIMIT "
                                   + std::to_string(limit * 4)))
        add(r[0].as<int64_t>(), r[1].as<int64_t>(), false);
      for (const auto& r : tx.exec("SELECT parent_id, id FROM tasks WHERE parent_id IN (" + in
                                   + ") OR (id IN (" + in + ") AND parent_id IS NOT NULL)"
                                   " ORDER BY 1, 2 LIMIT " + std::to_string(limit * 4)))
        add(r[0].as<int64_t>(), r[1].as<int64_t>(), true);
      frontier = std::move(next);
    }
    for (const auto& r : tx.exec("SELECT id, name, state, coalesce(trigger_rule, '')"
                                 " FROM tasks WHERE id IN (" + id_list(seen) + ") ORDER BY id")) {
      graph_task_row t;
      t.id = r[0].as<int64_t>();
      t.name = r[1].as<std::string>();
      t.state = parse_task_state(r[2].as<std::string>()).value_or(task_state::queued);
      t.trigger = r[3].as<std::string>();
      g.tasks.push_back(std::move(t));
    }
    if (g.tasks.empty() || std::none_of(g.tasks.begin(), g.tasks.end(),
                                        [id](const graph_task_row& t) { return t.id == id; }))
      return graph_view{id, {}, {}, false};
    std::set<int64_t> known;
    for (const auto& t : g.tasks)
      known.insert(t.id);
    for (const auto& [p, k, s] : edges)
      if (known.count(p) && known.count(k)) // a truncated end is left out
        g.edges.push_back({p, k, s});
    return g;
  } catch (const pqxx::broken_connection& e) {
    throw store_error("graph: connection failed: " + redact_secrets(e.what(), dsn), true);
  } catch (const pqxx::sql_error& e) {
    throw store_error("graph: " + redact_secrets(e.what(), dsn), false, false, e.sqlstate());
  }
}

} // namespace taskrt

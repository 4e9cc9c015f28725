/// `tasks graph ID`: the graph around a task (dependencies and spawned
/// children) as an indented tree, Graphviz dot, or JSON; and the parents
/// and children `tasks describe` lists.

#include "taskrt/cli/arg_checks.hpp"
#include "taskrt/cli/cli_env.hpp"
#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/cli/tasks_subcommands.hpp"
#include "taskrt/persistence/graph_reader.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

std::string label(const graph_task_row& t) {
  std::string s = std::to_string(t.id) + " " + t.name + " " + to_string(t.state);
  if (!t.trigger.empty())
    s += " [" + t.trigger + "]";
  return s;
}

/// The tree: from each task without a parent in the view, its children
/// indented below it; a task reached twice (a diamond) is printed once in
/// full, then as "(above)".
void print_tree(const graph_view& g) {
  std::map<int64_t, const graph_task_row*> by_id;
  for (const auto& t : g.tasks)
    by_id[t.id] = &t;
  std::map<int64_t, std::vector<const graph_edge_row*>> kids;
  std::set<int64_t> has_parent;
  for (const auto& e : g.edges) {
    kids[e.parent].push_back(&e);
    has_parent.insert(e.child);
  }
  std::set<int64_t> printed;
  std::function<void(int64_t, int, const char*)> walk = [&](int64_t id, int level,
                                                            const char* how) {
    const auto* t = by_id.at(id);
    std::printf("%s%s%s%s%s\n", std::string(static_cast<size_t>(level) * 2, ' ').c_str(), how,
                label(*t).c_str(), id == g.root ? "  <-" : "",
                printed.count(id) ? "  (above)" : "");
    if (!printed.insert(id).second)
      return;
    for (const auto* e : kids[id])
      walk(e->child, level + 1, e->spawned ? "spawned " : "");
  };
  for (const auto& t : g.tasks)
    if (!has_parent.count(t.id))
      walk(t.id, 0, "");
  if (g.truncated)
    std::printf("(more tasks than shown: raise --limit or lower --depth)\n");
}

void print_dot(const graph_view& g) {
  std::printf("digraph taskrt {\n  rankdir=TB;\n");
  for (const auto& t : g.tasks)
    std::printf("  t%lld [label=\"%s\"%s];\n", static_cast<long long>(t.id),
                json(label(t)).dump().substr(1, json(label(t)).dump().size() - 2).c_str(),
                t.id == g.root ? ", style=bold" : "");
  for (const auto& e : g.edges)
    std::printf("  t%lld -> t%lld%s;\n", static_cast<long long>(e.parent),
                static_cast<long long>(e.child), e.spawned ? " [style=dashed]" : "");
  std::printf("}\n");
}

json graph_json(const graph_view& g) {
  json tasks = json::array(), edges = json::array();
  for (const auto& t : g.tasks)
    tasks.push_back({{"id", t.id},
                     {"name", t.name},
                     {"state", to_string(t.state)},
                     {"trigger", t.trigger.empty() ? json(nullptr) : json(t.trigger)}});
  for (const auto& e : g.edges)
    edges.push_back({{"parent", e.parent}, {"child", e.child},
                     {"kind", e.spawned ? "spawned" : "after"}});
  return {{"root", g.root}, {"tasks", tasks}, {"edges", edges}, {"truncated", g.truncated}};
}

} // namespace

json neighbours_json(const graph_view& g, bool parents) {
  std::map<int64_t, const graph_task_row*> by_id;
  for (const auto& t : g.tasks)
    by_id[t.id] = &t;
  json out = json::array();
  for (const auto& e : g.edges) {
    const auto other = parents ? e.parent : e.child;
    if ((parents ? e.child : e.parent) != g.root || !by_id.count(other))
      continue;
    const auto* t = by_id.at(other);
    out.push_back({{"id", t->id}, {"name", t->name}, {"state", to_string(t->state)},
                   {"kind", e.spawned ? "spawned" : "after"}});
  }
  return out;
}

void add_tasks_graph(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto id = std::make_shared<int64_t>(0);
  auto depth = std::make_shared<int>(3);
  auto limit = std::make_shared<int>(500);
  auto* cmd = tasks->add_subcommand("graph", "The graph around a task: parents, children, "
                                             "spawned tasks");
  cmd->footer(R"txt(Arrows are dependencies (submit --after) and spawned children (ctx.submit in
a running task, "spawned"). The task asked for is marked "<-"; a task reached
twice (a diamond) is printed again as "(above)". Reads Postgres.
Examples:
  taskrt tasks graph 42
  taskrt tasks graph 42 -o dot | dot -Tsvg > graph.svg
  taskrt tasks graph 42 -o json --depth 10)txt");
  cmd->add_option("id", *id, "Task id")->required()->check(task_id_check());
  cmd->add_option("--depth", *depth, "Arrows to follow from the task, both ways")
    ->capture_default_str()->check(CLI::Range(1, 100));
  cmd->add_option("--limit", *limit, "Most tasks to show")
    ->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("-o,--output", o->output, "table (an indented tree), dot or json")
    ->check(CLI::IsMember({"table", "dot", "json"}))->capture_default_str();
  add_db_options(cmd, *o);
  cmd->callback([&env, o, id, depth, limit] {
    const auto dsn = store_dsn(*o, env.exit_code);
    if (dsn.empty())
      return;
    try {
      const auto g = read_graph(dsn, *id, *depth, static_cast<size_t>(*limit));
      if (g.tasks.empty()) {
        env.exit_code = fail(failed, "no task with id " + std::to_string(*id));
        return;
      }
      if (o->output == "dot")
        print_dot(g);
      else if (o->output == "json")
        std::printf("%s\n", graph_json(g).dump(2).c_str());
      else
        print_tree(g);
      env.exit_code = ok;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, e.what());
    }
  });
}

} // namespace taskrt::cli

#pragma once
/// The subcommands of `taskrt tasks`, one file each (internal to cli/).

#include "taskrt/cli/cli_env.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/persistence/graph_reader.hpp"

#include <nlohmann/json.hpp>

#include <vector>

namespace taskrt::cli {

/// The table columns of a task summary row (task_summary_json).
const std::vector<column>& task_columns_for_list();

/// `tasks list`
void add_tasks_list(CLI::App* tasks, cli_env& env);

/// `tasks events ID`
void add_tasks_events(CLI::App* tasks, cli_env& env);

/// `tasks watch ID`
void add_tasks_watch(CLI::App* tasks, cli_env& env);

/// `tasks retry ID... | --state ...`
void add_tasks_retry(CLI::App* tasks, cli_env& env);

/// `tasks cancel ID... | --state ...`
void add_tasks_cancel(CLI::App* tasks, cli_env& env);

/// `tasks graph ID` (tasks_graph.cpp)
void add_tasks_graph(CLI::App* tasks, cli_env& env);

/// The parents (`parents`) or children of `g.root` in `g`: [{id, name,
/// state, kind}], kind "after" (a dependency) or "spawned".
nlohmann::json neighbours_json(const graph_view& g, bool parents);

/// `tasks purge --older-than DUR`
void add_tasks_purge(CLI::App* tasks, cli_env& env);

} // namespace taskrt::cli

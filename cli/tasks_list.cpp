#include "taskrt/cli/tasks_subcommands.hpp"

#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/filter_opts.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/cli/task_json.hpp"

#include <cstdio>
#include <memory>

namespace taskrt::cli {

using json = nlohmann::json;

/// The columns of `tasks list` (and of the task selections of retry/cancel).
const std::vector<column>& task_columns_for_list() {
  static const std::vector<column> cols{
    {"ID", "id"},           {"NAME", "name"},          {"STATE", "state"},
    {"ATTEMPT", "attempt"}, {"QUEUE", "queue"},        {"PRIO", "priority"},
    {"LOCK", "lock", true}, {"NODE", "node"},          {"RUN AT", "run_at", true},
    {"CREATED", "created_at", true}, {"UPDATED", "updated_at"}, {"ERROR", "error_kind"}};
  return cols;
}

void add_tasks_list(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto fo = std::make_shared<filter_opts>();
  fo->limit = 100;
  auto* cmd = tasks->add_subcommand("list", "List tasks (reads Postgres; works while the head is down)");
  cmd->footer(R"(Examples:
  taskrt tasks list
  taskrt tasks list --state FAILED --name payments.charge -o json   # the dead-letter queue
  taskrt tasks list --state QUEUED,RUNNING --queue mail --limit 20
  taskrt tasks list --error-kind std::runtime_error --since 1h --sort -updated -o wide
  taskrt tasks list --since 2026-01-01T00:00:00Z --until 7d -o yaml
The list is cut at --limit (default 100); a note on stderr says so.)");
  add_filter_options(cmd, *fo, f_all & ~unsigned{f_limit});
  cmd->add_option("--limit", fo->limit, "At most this many")
    ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1'000'000}));
  add_output_option(cmd, o->output);
  add_db_options(cmd, *o);
  cmd->callback([&env, o, fo] {
    auto f = make_filter(*fo, env.exit_code);
    if (!f)
      return;
    auto store = open_store(*o, env.exit_code);
    if (!store)
      return;
    auto filter = *f;
    filter.limit = fo->limit + 1; // one more tells whether the list was cut
    std::vector<task_record> rows;
    try {
      rows = store->list_tasks(filter);
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, e.what());
      return;
    }
    const bool cut = static_cast<int64_t>(rows.size()) > fo->limit;
    if (cut)
      rows.resize(static_cast<size_t>(fo->limit));
    json out = json::array();
    for (const auto& t : rows)
      out.push_back(task_summary_json(t));
    print_list(out, task_columns_for_list(), parse_output(o->output));
    if (cut)
      std::fprintf(stderr, "taskrt: showing the first %lld; more match: raise --limit\n",
                   static_cast<long long>(fo->limit));
    env.exit_code = ok;
  });
}

} // namespace taskrt::cli

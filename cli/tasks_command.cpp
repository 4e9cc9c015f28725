#include "taskrt/cli/tasks_command.hpp"

#include "taskrt/cli/arg_checks.hpp"
#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/cli/table.hpp"
#include "taskrt/cli/task_json.hpp"
#include "taskrt/cli/tasks_subcommands.hpp"
#include "taskrt/cli/yaml.hpp"
#include "taskrt/persistence/limit_store.hpp"
#include "taskrt/runtime/time.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

void print_describe(const json& j) {
  std::printf("Task %s  %s  %s\n", cell(j["id"]).c_str(), cell(j["name"]).c_str(),
              cell(j["state"]).c_str());
  std::printf("  queue %s  priority %s  lock %s  attempt %s  created %s\n",
              cell(j["queue"]).c_str(), cell(j["priority"]).c_str(),
              cell(j["lock"]).c_str(), cell(j["attempt"]).c_str(),
              cell(j["created_at"]).c_str());
  std::printf("  key     %s\n", cell(j["key"]).c_str());
  if (j["schedule"].is_object())
    std::printf("  schedule %s  tick %s\n", cell(j["schedule"]["name"]).c_str(),
                cell(j["schedule"]["tick"]).c_str());
  if (j.contains("limit_keys"))
    std::printf("  limits  %s%s\n", j["limit_keys"].dump().c_str(),
                j["waiting_for"].is_string()
                  ? ("  (waits: " + j["waiting_for"].get<std::string>() + ")").c_str()
                  : "");
  std::printf("  args    %s\n  policy  %s\n", j["args"].dump().c_str(),
              j["policy"].dump().c_str());
  // Dependencies and spawned tasks (tasks graph shows more).
  for (const char* side : {"parents", "children"})
    if (j.contains(side) && !j[side].empty()) {
      std::string line;
      for (const auto& n : j[side])
        line += (line.empty() ? "" : ", ") + cell(n["id"]) + " " + cell(n["name"]) + " "
                + cell(n["state"]) + (n["kind"] == "spawned" ? " (spawned)" : "");
      std::printf("  %-8s%s%s\n", side, line.c_str(),
                  std::string{side} == "parents" && j.contains("trigger") && !j["trigger"].is_null()
                    ? ("  trigger " + cell(j["trigger"])).c_str()
                    : "");
    }
  if (j["progress"].is_object())
    std::printf("  progress %s  (attempt %s, %s)\n", j["progress"]["value"].dump().c_str(),
                cell(j["progress"]["attempt"]).c_str(), cell(j["progress"]["at"]).c_str());
  if (!j["result"].is_null())
    std::printf("  result  %s\n", j["result"].dump().c_str());
  // A crash's stack is printed once, under the attempts.
  auto without_stack = [](json v) {
    if (v.is_object() && v.contains("backtrace"))
      v["backtrace"] = "(below)";
    return v;
  };
  if (!j["last_error"].is_null())
    std::printf("  %s %s\n", j["state"] == "SUCCEEDED" ? "last error (earlier attempt)" : "error  ",
                without_stack(j["last_error"]).dump().c_str());
  std::printf("\nAttempts\n");
  table a{{"#", "NODE", "PID", "STARTED", "ENDED", "OUTCOME", "ERROR", "SIGNAL", "HANDED BACK",
           "RETRY DECISION"},
          {},
          5};
  for (const auto& at : j["attempts"]) {
    std::string decision = "-";
    if (at["retry_decision"].is_object())
      decision = at["retry_decision"].value("decision", "") + ": "
                 + at["retry_decision"].value("reason", "");
    a.rows.push_back({cell(at["attempt"]), cell(at["node"]), cell(at["worker_pid"]),
                      cell(at["started"]), cell(at["ended"]), cell(at["outcome"]),
                      cell(at["error_kind"]), cell(at["signal"]),
                      at["handbacks"].empty() ? "-" : std::to_string(at["handbacks"].size()) + "x",
                      decision});
  }
  a.print(terminal_width(), use_colour());
  for (const auto& at : j["attempts"])
    if (at["backtrace"].is_string())
      std::printf("\nBacktrace of attempt %s (%s)\n%s", cell(at["attempt"]).c_str(),
                  cell(at["signal"]).c_str(), at["backtrace"].get<std::string>().c_str());
  std::printf("\nEvents\n");
  table e{{"AT", "ATTEMPT", "EVENT", "FROM", "TO", "DETAIL"}, {}, 4};
  for (const auto& ev : j["events"]) {
    auto detail = ev["detail"];
    if (detail.is_object() && detail.contains("error"))
      detail["error"] = without_stack(detail["error"]);
    e.rows.push_back({cell(ev["at"]), cell(ev["attempt"]), cell(ev["kind"]), cell(ev["from"]),
                      cell(ev["to"]), detail.is_null() ? "-" : detail.dump()});
  }
  e.print(terminal_width(), use_colour());
  if (!j["checkpoints"].empty())
    std::printf("\n%zu checkpoint(s); latest: %s\n", j["checkpoints"].size(),
                j["checkpoints"].back()["data"].dump().c_str());
}

void add_describe(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto id = std::make_shared<int64_t>(0);
  auto* cmd = tasks->add_subcommand("describe", "Everything about one task: attempts, retry decisions, events");
  cmd->footer(R"(Shows args, the resolved policy, each attempt (node, worker pid, started,
ended, outcome, error kind, message, signal) with its retry decision, the
stack of a worker process that crashed, the checkpoints and the event
timeline. Reads Postgres; works while the head is down.
Examples:
  taskrt tasks describe 42
  taskrt tasks describe 42 -o json | jq '.attempts'
  taskrt tasks describe 42 -o yaml)");
  cmd->add_option("id", *id, "Task id")->required()->check(task_id_check());
  cmd->add_option("-o,--output", o->output, "table (a page for people), json or yaml")
    ->check(CLI::IsMember({"table", "json", "yaml"}))->capture_default_str();
  add_db_options(cmd, *o);
  cmd->callback([&env, o, id] {
    auto store = open_store(*o, env.exit_code);
    if (!store)
      return;
    try {
      auto t = store->get_task(*id);
      if (!t) {
        env.exit_code = fail(failed, "no task with id " + std::to_string(*id));
        return;
      }
      auto j = task_detail_json(*t, store->events(*id), store->checkpoints(*id),
                                store->progress(*id));
      if (!t->limit_keys.empty()) { // and why it waits, when a limit holds it
        j["limit_keys"] = t->limit_keys;
        j["waiting_for"] = nullptr;
        if (t->state == task_state::queued)
          if (auto why = limit_store{resolve_dsn(o->db, o->data_dir)}.wait_reason(t->limit_keys);
              !why.empty())
            j["waiting_for"] = why;
      }
      try { // a journal older than schema 7 has no graph: describe works without
        const auto g = read_graph(resolve_dsn(o->db, o->data_dir), *id, 1);
        j["parents"] = neighbours_json(g, true);
        j["children"] = neighbours_json(g, false);
        for (const auto& n : g.tasks)
          if (n.id == *id)
            j["trigger"] = n.trigger.empty() ? json(nullptr) : json(n.trigger);
      } catch (const std::exception&) {
      }
      if (o->output == "table")
        print_describe(j);
      else
        print_doc(j, parse_output(o->output));
      env.exit_code = ok;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, e.what());
    }
  });
}

void add_wait(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto id = std::make_shared<int64_t>(0);
  auto timeout = std::make_shared<int64_t>(3600);
  auto* cmd = tasks->add_subcommand("wait", "Wait until a task is final; exit 0 if it SUCCEEDED");
  cmd->footer("Examples:\n  taskrt tasks wait 42\n  taskrt tasks wait 42 --timeout 30 -o json");
  cmd->add_option("id", *id, "Task id")->required()->check(task_id_check());
  cmd->add_option("--timeout", *timeout, "Seconds to wait")
    ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("-o,--output", o->output, "table or json")
    ->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  add_head_options(cmd, *o);
  cmd->callback([&env, o, id, timeout] {
    auto c = open_head(*o, env);
    if (!c)
      return;
    auto out = c->await(*id, std::chrono::seconds(*timeout));
    if (!out) {
      env.exit_code = head_error(out.error(), "wait");
      return;
    }
    if (o->output == "json")
      std::printf("%s\n", json{{"id", out->id}, {"state", to_string(out->state)},
                               {"attempt", out->attempt}}.dump().c_str());
    else
      std::printf("%lld %s\n", static_cast<long long>(out->id), to_string(out->state));
    env.exit_code = out->state == task_state::succeeded ? ok : failed;
  });
}

} // namespace

void add_tasks_command(CLI::App& app, cli_env& env) {
  auto* tasks = app.add_subcommand("tasks", "Inspect and operate tasks");
  tasks->require_subcommand(1);
  add_tasks_list(tasks, env);
  add_describe(tasks, env);
  add_tasks_events(tasks, env);
  add_tasks_watch(tasks, env);
  add_wait(tasks, env);
  add_tasks_retry(tasks, env);
  add_tasks_cancel(tasks, env);
  add_tasks_purge(tasks, env);
  add_tasks_graph(tasks, env);
}

} // namespace taskrt::cli

#include "taskrt/cli/inspect_commands.hpp"

#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/filter_opts.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/cli/table.hpp"
#include "taskrt/runtime/time.hpp"

#include <cstdio>
#include <map>
#include <memory>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

const task_state all_states[] = {task_state::queued,    task_state::running,
                                 task_state::succeeded, task_state::failed,
                                 task_state::cancelled, task_state::lost};

json zero_states() {
  json j = json::object();
  for (auto s : all_states)
    j[to_string(s)] = 0;
  return j;
}

/// The summary document (see docs/cli.md).
json summarise(journal_store& store, const task_filter& f) {
  json by_name = json::array();
  json totals = zero_states();
  int64_t total = 0;
  std::map<std::string, json> names;
  for (const auto& c : store.count_by_name_state(f)) {
    auto& n = names[c.name];
    if (n.is_null())
      n = {{"name", c.name}, {"states", zero_states()}, {"total", 0}};
    n["states"][to_string(c.state)] = c.tasks;
    n["total"] = n["total"].get<int64_t>() + c.tasks;
    totals[to_string(c.state)] = totals[to_string(c.state)].get<int64_t>() + c.tasks;
    total += c.tasks;
  }
  for (auto& kv : names)
    by_name.push_back(std::move(kv.second));
  json failures = json::array();
  for (const auto& r : store.failures_by_kind(f))
    failures.push_back({{"error_kind", r.kind.empty() ? json(nullptr) : json(r.kind)},
                        {"attempts", r.attempts}, {"tasks", r.tasks}});
  json lost = json::array();
  for (const auto& r : store.lost_by_cause(f))
    lost.push_back({{"reason", r.reason.empty() ? json(nullptr) : json(r.reason)},
                    {"signal", r.signal.empty() ? json(nullptr) : json(r.signal)},
                    {"attempts", r.attempts}, {"tasks", r.tasks}});
  json out = json::object();
  out["since"] = f.since_us ? json(to_rfc3339(from_micros(f.since_us))) : json(nullptr);
  out["total"] = total;
  out["states"] = totals;
  out["by_name"] = by_name;
  out["failures_by_kind"] = failures;
  out["lost_by_cause"] = lost;
  return out;
}

void print_summary(const json& s) {
  table t;
  t.header.push_back("NAME");
  for (auto st : all_states)
    t.header.push_back(to_string(st));
  t.header.push_back("TOTAL");
  auto row = [&](const std::string& name, const json& states, const json& total) {
    std::vector<std::string> r{name};
    for (auto st : all_states)
      r.push_back(cell(states[to_string(st)]));
    r.push_back(cell(total));
    t.rows.push_back(std::move(r));
  };
  for (const auto& n : s["by_name"])
    row(n["name"].get<std::string>(), n["states"], n["total"]);
  row("(all)", s["states"], s["total"]);
  std::printf("Tasks by name and state%s\n",
              s["since"].is_null() ? "" : (" (created since " + cell(s["since"]) + ")").c_str());
  t.print(terminal_width());
  std::printf("\nFailed attempts by error kind\n");
  if (s["failures_by_kind"].empty()) {
    std::printf("  (none)\n");
  } else {
    table f{{"ERROR KIND", "ATTEMPTS", "TASKS"}, {}};
    for (const auto& r : s["failures_by_kind"])
      f.rows.push_back({cell(r["error_kind"]), cell(r["attempts"]), cell(r["tasks"])});
    f.print(terminal_width());
  }
  std::printf("\nLost attempts by cause\n");
  if (s["lost_by_cause"].empty()) {
    std::printf("  (none)\n");
  } else {
    table l{{"REASON", "SIGNAL", "ATTEMPTS", "TASKS"}, {}};
    for (const auto& r : s["lost_by_cause"])
      l.rows.push_back({cell(r["reason"]), cell(r["signal"]), cell(r["attempts"]), cell(r["tasks"])});
    l.print(terminal_width());
  }
}

} // namespace

void add_summary_command(CLI::App& app, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto fo = std::make_shared<filter_opts>();
  auto* cmd = app.add_subcommand(
    "summary", "Tasks by name and state, failures by error kind, LOST by cause (reads Postgres)");
  cmd->footer(R"(Failures and losses count journal events (attempts) and distinct tasks.
--since limits tasks to those created since then, and events to those since then.
Examples:
  taskrt summary
  taskrt summary --since 1h
  taskrt summary --name payments.charge -o json)");
  add_filter_options(cmd, *fo, f_name | f_queue | f_since);
  cmd->add_option("-o,--output", o->output, "table, json or yaml")
    ->check(CLI::IsMember({"table", "json", "yaml"}))->capture_default_str();
  add_db_options(cmd, *o);
  cmd->callback([&env, o, fo] {
    auto f = make_filter(*fo, env.exit_code);
    if (!f)
      return;
    auto store = open_store(*o, env.exit_code);
    if (!store)
      return;
    try {
      auto s = summarise(*store, *f);
      if (o->output == "table")
        print_summary(s);
      else
        print_doc(s, parse_output(o->output));
      env.exit_code = ok;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, e.what());
    }
  });
}

} // namespace taskrt::cli

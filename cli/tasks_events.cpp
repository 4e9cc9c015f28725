#include "taskrt/cli/tasks_subcommands.hpp"

#include "taskrt/cli/arg_checks.hpp"
#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/cli/task_json.hpp"
#include "taskrt/persistence/store_result.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

const std::vector<column>& event_columns_for_list() {
  static const std::vector<column> cols{
    {"EVENT", "id", true}, {"AT", "at"},     {"ATTEMPT", "attempt"}, {"KIND", "kind"},
    {"FROM", "from"},      {"TO", "to"},     {"NODE", "node", true}, {"DETAIL", "detail"}};
  return cols;
}

/// The event as one table-like line for `watch`.
std::string event_line(const json& e) {
  return cell(e["at"]) + "  attempt " + cell(e["attempt"]) + "  " + cell(e["kind"])
         + (e["to"].is_null() ? std::string{} : "  " + cell(e["from"]) + " -> " + cell(e["to"]))
         + (e["detail"].is_null() || e["detail"].empty() ? std::string{}
                                                        : "  " + e["detail"].dump());
}

/// True when `t` will not change again by itself: SUCCEEDED or CANCELLED,
/// or FAILED/LOST with its decision journaled (in the fail/lose event itself:
/// the row stays FAILED/LOST only when it gives up; older journals wrote a
/// separate retry_decision note), or no decision `grace_s` seconds after it
/// ended.
bool is_final(const task_record& t, const std::vector<event_row>& evs, double grace_s) {
  if (t.state == task_state::succeeded || t.state == task_state::cancelled)
    return true;
  if (t.state != task_state::failed && t.state != task_state::lost)
    return false;
  for (auto it = evs.rbegin(); it != evs.rend(); ++it) {
    if (it->attempt != t.attempt)
      continue;
    if (it->kind == transition_kind::fail || it->kind == transition_kind::lose) {
      auto d = json::parse(it->detail, nullptr, false);
      if (d.is_object() && d.contains("decision"))
        return true;
    }
    if (it->kind == note_kind::retry_decision) {
      auto d = json::parse(it->detail, nullptr, false);
      return !(d.is_object() && d.value("decision", "") == "retry");
    }
  }
  const double age_s = static_cast<double>(to_micros(now()) - t.updated_us) / 1e6;
  return age_s >= grace_s;
}

} // namespace

void add_tasks_events(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto id = std::make_shared<int64_t>(0);
  auto* cmd = tasks->add_subcommand("events", "The raw journal of one task, oldest first");
  cmd->footer(R"(Examples:
  taskrt tasks events 42
  taskrt tasks events 42 -o json | jq '.[] | select(.kind == "retry_decision")'
  taskrt tasks events 42 -o wide)");
  cmd->add_option("id", *id, "Task id")->required()->check(task_id_check());
  add_output_option(cmd, o->output);
  add_db_options(cmd, *o);
  cmd->callback([&env, o, id] {
    auto store = open_store(*o, env.exit_code);
    if (!store)
      return;
    try {
      if (!store->get_task(*id)) {
        env.exit_code = fail(failed, "no task with id " + std::to_string(*id));
        return;
      }
      json out = json::array();
      for (const auto& e : store->events(*id))
        out.push_back(event_json(e));
      print_list(out, event_columns_for_list(), parse_output(o->output), "to");
      env.exit_code = ok;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, e.what());
    }
  });
}

void add_tasks_watch(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto id = std::make_shared<int64_t>(0);
  auto timeout = std::make_shared<double>(3600);
  auto interval = std::make_shared<double>(0.5);
  auto grace = std::make_shared<double>(30);
  auto* cmd = tasks->add_subcommand(
    "watch", "Follow a task's journal live (polls Postgres) until the task is final");
  cmd->footer(R"(Prints the events so far, then each new one as it is journaled. Stops when
the task is SUCCEEDED or CANCELLED, or FAILED/LOST with no retry coming.
Exit 0 if it SUCCEEDED, 1 otherwise or on timeout. -o json prints one JSON
object per line (the fields of `tasks events -o json`).
Examples:
  taskrt tasks watch 42
  taskrt tasks watch 42 --timeout 60 -o json)");
  cmd->add_option("id", *id, "Task id")->required()->check(task_id_check());
  cmd->add_option("--timeout", *timeout, "Give up after SECONDS")
    ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--interval", *interval, "Poll every SECONDS")
    ->capture_default_str()->check(CLI::Range(0.05, 60.0));
  cmd->add_option("--grace", *grace,
                  "A FAILED/LOST task with no retry decision after SECONDS is final")
    ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("-o,--output", o->output, "table (one line per event) or json (JSON lines)")
    ->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  add_db_options(cmd, *o);
  cmd->callback([&env, o, id, timeout, interval, grace] {
    auto store = open_store(*o, env.exit_code);
    if (!store)
      return;
    const auto deadline = std::chrono::steady_clock::now()
                          + std::chrono::milliseconds(static_cast<int64_t>(*timeout * 1000));
    int64_t last = 0;
    std::vector<event_row> seen;
    try {
      for (;;) {
        std::optional<task_record> t;
        std::vector<event_row> fresh;
        const auto read = store_call([&] {
          t = store->get_task(*id);
          if (t)
            fresh = store->events_after(*id, last);
        });
        if (!read) {
          // A Postgres restart: keep polling (the store reconnects) until the timeout.
          if (!store_transient(read.error()) || std::chrono::steady_clock::now() >= deadline) {
            env.exit_code = fail(failed, store_message(read.error()));
            return;
          }
          std::fprintf(stderr, "taskrt: %s (retrying)\n", store_message(read.error()).c_str());
          std::this_thread::sleep_for(std::chrono::seconds(1));
          continue;
        }
        if (!t) {
          env.exit_code = fail(failed, "no task with id " + std::to_string(*id));
          return;
        }
        for (auto& e : fresh) {
          last = e.id;
          auto j = event_json(e);
          std::printf("%s\n", o->output == "json" ? j.dump().c_str() : event_line(j).c_str());
          seen.push_back(std::move(e));
        }
        std::fflush(stdout);
        if (is_final(*t, seen, *grace)) {
          if (o->output != "json")
            std::printf("task %lld is %s\n", static_cast<long long>(*id), to_string(t->state));
          env.exit_code = t->state == task_state::succeeded ? ok : failed;
          return;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
          env.exit_code = fail(failed, "timed out: task " + std::to_string(*id) + " is still "
                                         + to_string(t->state));
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(*interval * 1000)));
      }
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, e.what());
    }
  });
}

} // namespace taskrt::cli

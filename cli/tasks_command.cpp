#include "cli/tasks_command.hpp"

#include "cli/table.hpp"
#include "cli/task_json.hpp"
#include "cluster/client.hpp"
#include "cluster/dsn.hpp"
#include "persistence/journal_store.hpp"
#include "runtime/time.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

/// Options every `tasks` subcommand shares.
struct common_opts {
  std::string db, address, data_dir, output = "table";
};

void add_common(CLI::App* cmd, common_opts& o, bool reads_db) {
  if (reads_db)
    cmd->add_option("--db", o.db, "Postgres DSN (default: $TASKRT_DATABASE_URL, else the head's)");
  else
    cmd->add_option("--address", o.address, "Head HOST:PORT (default: from the state file)");
  cmd->add_option("--data-dir", o.data_dir, "Where the head's state file is");
  cmd->add_option("-o,--output", o.output, "table or json")
    ->check(CLI::IsMember({"table", "json"}));
}

/// Opens the store for a read command, or prints why not.
std::unique_ptr<journal_store> open_store(const common_opts& o, int& exit_code) {
  auto dsn = resolve_dsn(o.db, o.data_dir);
  if (dsn.empty()) {
    exit_code = fail(failed, "no database known: pass --db DSN, set "
                             "TASKRT_DATABASE_URL, or start a head first");
    return nullptr;
  }
  try {
    return std::make_unique<journal_store>(dsn);
  } catch (const std::exception& e) {
    exit_code = fail(failed, std::string{"cannot open the journal: "} + e.what());
    return nullptr;
  }
}

std::unique_ptr<client> open_head(const common_opts& o, int& exit_code) {
  auto addr = resolve_address(o.address, o.data_dir);
  std::string host;
  uint16_t port = 0;
  if (addr.empty() || !split_address(addr, host, port)) {
    exit_code = fail(failed, addr.empty() ? "no head found: start one with `taskrt "
                                            "start --head` or pass --address HOST:PORT"
                                          : "bad address '" + addr + "': expected HOST:PORT");
    return nullptr;
  }
  auto c = std::make_unique<client>(host, port);
  if (!c->connected()) {
    exit_code = fail(failed, c->connect_error());
    return nullptr;
  }
  return c;
}

std::string cell(const json& v) {
  if (v.is_null())
    return "-";
  if (v.is_string())
    return v.get<std::string>();
  return v.dump();
}

/// exit code for a caf error from the head: not found / illegal state → 1.
int head_error(const caf::error& e, const std::string& what) {
  return fail(failed, what + ": " + error_message(e));
}

void add_list(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto state = std::make_shared<std::vector<std::string>>();
  auto f = std::make_shared<task_filter>();
  f->limit = 100;
  auto* cmd = tasks->add_subcommand("list", "List tasks (reads Postgres; works while the head is down)");
  cmd->footer(R"(Examples:
  taskrt tasks list
  taskrt tasks list --state FAILED --name payments.charge -o json
  taskrt tasks list --state QUEUED,RUNNING --queue mail --limit 20)");
  cmd->add_option("--state", *state, "States, comma-separated (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, LOST)")
    ->delimiter(',');
  cmd->add_option("--name", f->name, "Task name");
  cmd->add_option("--queue", f->queue, "Queue");
  cmd->add_option("--lock", f->lock, "Lock");
  cmd->add_option("--limit", f->limit, "At most this many (newest first)")
    ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1'000'000}));
  add_common(cmd, *o, true);
  cmd->callback([&env, o, state, f] {
    for (const auto& s : *state) {
      auto st = parse_task_state(s);
      if (!st) {
        env.exit_code = fail(usage, "--state: unknown state '" + s
                                      + "' (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, LOST)");
        return;
      }
      f->states.push_back(*st);
    }
    auto store = open_store(*o, env.exit_code);
    if (!store)
      return;
    auto filter = *f;
    filter.limit = f->limit + 1; // one more tells whether the list was cut
    std::vector<task_record> rows;
    try {
      rows = store->list_tasks(filter);
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, e.what());
      return;
    }
    const bool cut = static_cast<int64_t>(rows.size()) > f->limit;
    if (cut)
      rows.resize(static_cast<size_t>(f->limit));
    if (o->output == "json") {
      json out = json::array();
      for (const auto& t : rows)
        out.push_back(task_summary_json(t));
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      table t{{"ID", "NAME", "STATE", "ATTEMPT", "QUEUE", "PRIO", "NODE", "UPDATED", "ERROR"}, {}};
      for (const auto& r : rows) {
        auto j = task_summary_json(r);
        t.rows.push_back({cell(j["id"]), r.name, to_string(r.state), cell(j["attempt"]),
                          r.queue, cell(j["priority"]), cell(j["node"]),
                          cell(j["updated_at"]), cell(j["error_kind"])});
      }
      t.print(terminal_width());
      if (cut)
        std::fprintf(stderr, "(showing the newest %lld; more match: raise --limit)\n",
                     static_cast<long long>(f->limit));
    }
    env.exit_code = ok;
  });
}

void print_describe(const json& j) {
  std::printf("Task %s  %s  %s\n", cell(j["id"]).c_str(), cell(j["name"]).c_str(),
              cell(j["state"]).c_str());
  std::printf("  queue %s  priority %s  lock %s  attempt %s  created %s\n",
              cell(j["queue"]).c_str(), cell(j["priority"]).c_str(),
              cell(j["lock"]).c_str(), cell(j["attempt"]).c_str(),
              cell(j["created_at"]).c_str());
  std::printf("  args    %s\n  policy  %s\n", j["args"].dump().c_str(),
              j["policy"].dump().c_str());
  if (!j["result"].is_null())
    std::printf("  result  %s\n", j["result"].dump().c_str());
  if (!j["last_error"].is_null())
    std::printf("  error   %s\n", j["last_error"].dump().c_str());
  std::printf("\nAttempts\n");
  table a{{"#", "NODE", "PID", "STARTED", "ENDED", "OUTCOME", "ERROR", "SIGNAL", "RETRY DECISION"}, {}};
  for (const auto& at : j["attempts"]) {
    std::string decision = "-";
    if (at["retry_decision"].is_object())
      decision = at["retry_decision"].value("decision", "") + ": "
                 + at["retry_decision"].value("reason", "");
    a.rows.push_back({cell(at["attempt"]), cell(at["node"]), cell(at["worker_pid"]),
                      cell(at["started"]), cell(at["ended"]), cell(at["outcome"]),
                      cell(at["error_kind"]), cell(at["signal"]), decision});
  }
  a.print(terminal_width());
  std::printf("\nEvents\n");
  table e{{"AT", "ATTEMPT", "EVENT", "FROM", "TO", "DETAIL"}, {}};
  for (const auto& ev : j["events"])
    e.rows.push_back({cell(ev["at"]), cell(ev["attempt"]), cell(ev["kind"]), cell(ev["from"]),
                      cell(ev["to"]), ev["detail"].is_null() ? "-" : ev["detail"].dump()});
  e.print(terminal_width());
  if (!j["checkpoints"].empty())
    std::printf("\n%zu checkpoint(s); latest: %s\n", j["checkpoints"].size(),
                j["checkpoints"].back()["data"].dump().c_str());
}

void add_describe(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto id = std::make_shared<int64_t>(0);
  auto* cmd = tasks->add_subcommand("describe", "Everything about one task: attempts, retry decisions, events");
  cmd->footer(R"(Examples:
  taskrt tasks describe 42
  taskrt tasks describe 42 -o json | jq '.attempts')");
  cmd->add_option("id", *id, "Task id")->required();
  add_common(cmd, *o, true);
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
      auto j = task_detail_json(*t, store->events(*id), store->checkpoints(*id));
      if (o->output == "json")
        std::printf("%s\n", j.dump(2).c_str());
      else
        print_describe(j);
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
  cmd->add_option("id", *id, "Task id")->required();
  cmd->add_option("--timeout", *timeout, "Seconds to wait")->capture_default_str();
  add_common(cmd, *o, false);
  cmd->callback([&env, o, id, timeout] {
    auto c = open_head(*o, env.exit_code);
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

void add_retry(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto m = std::make_shared<manual_retry_msg>();
  auto in = std::make_shared<double>(-1);
  auto at = std::make_shared<std::string>();
  auto prio = std::make_shared<std::optional<int32_t>>();
  auto* cmd = tasks->add_subcommand("retry", "Re-queue a FAILED, LOST or CANCELLED task (history kept)");
  cmd->footer(R"(Attempt numbers go on and the retry budget starts afresh.
Examples:
  taskrt tasks retry 42
  taskrt tasks retry 42 --in 60 --priority 10 --queue slow)");
  cmd->add_option("id", m->id, "Task id")->required();
  auto* in_opt = cmd->add_option("--in", *in, "Run no earlier than SECONDS from now")
                   ->check(CLI::NonNegativeNumber);
  cmd->add_option("--at", *at, "Run no earlier than an RFC 3339 time")->excludes(in_opt);
  cmd->add_option("--priority", *prio, "New priority");
  cmd->add_option("--queue", m->queue, "New queue");
  cmd->add_option("--lock", m->lock, "New lock");
  add_common(cmd, *o, false);
  cmd->callback([&env, o, m, in, at, prio] {
    if (*in >= 0)
      m->run_at_us = to_micros(add_seconds_clamped(now(), *in));
    if (!at->empty()) {
      auto t = parse_rfc3339(*at);
      if (!t) {
        env.exit_code = fail(usage, "--at: not an RFC 3339 time: " + *at);
        return;
      }
      m->run_at_us = to_micros(*t);
    }
    if (*prio) {
      m->set_priority = true;
      m->priority = **prio;
    }
    m->origin = origin();
    auto c = open_head(*o, env.exit_code);
    if (!c)
      return;
    auto r = c->retry(*m);
    if (!r) {
      env.exit_code = head_error(r.error(), "retry");
      return;
    }
    if (o->output == "json")
      std::printf("%s\n", json{{"id", *r}, {"state", "QUEUED"}}.dump().c_str());
    else
      std::printf("task %lld re-queued\n", static_cast<long long>(*r));
    env.exit_code = ok;
  });
}

void add_cancel(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto id = std::make_shared<int64_t>(0);
  auto* cmd = tasks->add_subcommand("cancel", "Cancel a task: QUEUED at once, RUNNING cooperatively");
  cmd->footer("Examples:\n  taskrt tasks cancel 42");
  cmd->add_option("id", *id, "Task id")->required();
  add_common(cmd, *o, false);
  cmd->callback([&env, o, id] {
    auto c = open_head(*o, env.exit_code);
    if (!c)
      return;
    auto r = c->cancel(*id, origin());
    if (!r) {
      env.exit_code = head_error(r.error(), "cancel");
      return;
    }
    if (o->output == "json")
      std::printf("%s\n", json{{"id", *id}, {"state", to_string(*r)},
                               {"cancel_requested", *r == task_state::running}}.dump().c_str());
    else if (*r == task_state::running)
      std::printf("task %lld is RUNNING: cancellation requested\n", static_cast<long long>(*id));
    else
      std::printf("task %lld %s\n", static_cast<long long>(*id), to_string(*r));
    env.exit_code = ok;
  });
}

} // namespace

void add_tasks_command(CLI::App& app, cli_env& env) {
  auto* tasks = app.add_subcommand("tasks", "Inspect and operate tasks");
  tasks->require_subcommand(1);
  add_list(tasks, env);
  add_describe(tasks, env);
  add_wait(tasks, env);
  add_retry(tasks, env);
  add_cancel(tasks, env);
}

} // namespace taskrt::cli

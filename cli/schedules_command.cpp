/// `taskrt schedules add | list | describe | pause | resume | trigger |
/// delete`: periodic schedules, written to and read from Postgres
/// (persistence/schedule_store.hpp). Every write notifies the active head,
/// which fires the ticks (actors/schedule_actor.hpp); the commands work
/// while no head runs.
#include "taskrt/cli/commands.hpp"

#include "taskrt/actors/schedule_row_check.hpp"
#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/cli/table.hpp"
#include "taskrt/persistence/schedule_store.hpp"
#include "taskrt/runtime/time.hpp"
#include "taskrt/sched/duration_text.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

json time_or_null(int64_t us) {
  return us == 0 ? json(nullptr) : json(to_rfc3339(from_micros(us)));
}

json schedule_json(const schedule_row& s) {
  auto args = json::parse(s.args, nullptr, false);
  return {{"name", s.name},
          {"task", s.task},
          {"args", args.is_discarded() ? json(s.args) : args},
          {"cron", s.cron.empty() ? json(nullptr) : json(s.cron)},
          {"every", s.every_s > 0 ? json(sched::duration_text(s.every_s)) : json(nullptr)},
          {"tz", s.tz},
          {"missed", s.missed},
          {"catchup_window", s.catchup_window_s > 0 ? json(sched::duration_text(s.catchup_window_s))
                                                    : json(nullptr)},
          {"overlap", s.overlap},
          {"jitter", s.jitter_s > 0 ? json(sched::duration_text(s.jitter_s)) : json(nullptr)},
          {"queue", s.queue.empty() ? json(nullptr) : json(s.queue)},
          {"priority", s.priority},
          {"policy", s.policy.empty() ? json(nullptr) : json(s.policy)},
          {"time_limit_s", s.time_limit_s},
          {"lock", s.lock.empty() ? json(nullptr) : json(s.lock)},
          {"declared", s.declared},
          {"paused", s.paused},
          {"next_tick", time_or_null(s.next_tick_us)},
          {"last_fired", time_or_null(s.last_tick_us)},
          {"recent_task_ids", s.recent_task_ids},
          {"trigger_pending", s.trigger_at_us != 0},
          {"created_at", time_or_null(s.created_us)},
          {"updated_at", time_or_null(s.updated_us)}};
}

std::string rule_text(const schedule_row& s) {
  return s.cron.empty() ? "every " + sched::duration_text(s.every_s)
                        : "cron " + s.cron + (s.tz == "UTC" ? "" : " " + s.tz);
}

/// Opens the schedules' store, or prints why not.
std::unique_ptr<schedule_store> open_schedules(const common_opts& o, int& exit_code) {
  auto dsn = store_dsn(o, exit_code);
  if (dsn.empty())
    return nullptr;
  try {
    return std::make_unique<schedule_store>(dsn, cli_journal_options());
  } catch (const std::exception& e) {
    exit_code = fail(failed, std::string{"cannot open the journal: "} + e.what());
    return nullptr;
  }
}

/// Runs `f` with the store, turning errors into exit 1.
template <class F>
void with_store(const common_opts& o, cli_env& env, F&& f) {
  auto store = open_schedules(o, env.exit_code);
  if (!store)
    return;
  try {
    f(*store);
  } catch (const std::exception& e) {
    env.exit_code = fail(failed, e.what());
  }
}

struct add_args {
  schedule_definition def;
  common_opts o;
};

void add_add(CLI::App* parent, cli_env& env) {
  auto a = std::make_shared<add_args>();
  auto* cmd = parent->add_subcommand("add", "Add a schedule: a task submitted on a cron rule or "
                                            "an interval");
  cmd->footer(R"(Each tick is one task with the idempotency key schedule:NAME:TICK, fired by
the active head. Ticks missed while no head was active (or while paused)
follow --missed: skip fires none, latest only the most recent, all each one
within --catchup-window. --overlap skip skips a tick while the previous
tick's task is not final; buffer-one lets at most one wait behind it.
Examples:
  taskrt schedules add nightly --task echo --cron '30 2 * * *' --tz Europe/Berlin
  taskrt schedules add heartbeat --task echo --every 1m --args '{"ping":1}'
  taskrt schedules add report --task echo --cron '0 9 * * MON-FRI' --missed latest
  taskrt schedules add sync --task echo --every 5m --missed all --catchup-window 1h \
      --overlap skip --jitter 30s)");
  cmd->add_option("name", a->def.name, "Schedule name (letters, digits, . _ -)")->required();
  cmd->add_option("--task", a->def.task, "Registered task each tick submits")->required();
  cmd->add_option("--args", a->def.args, "JSON arguments of each tick's task");
  auto* cron = cmd->add_option("--cron", a->def.cron, "Cron rule: 5 fields, or 6 with seconds first");
  auto* every = cmd->add_option("--every", a->def.every, "Fixed interval: 1s, 90s, 5m, 1h30m");
  cron->excludes(every);
  cmd->add_option("--tz", a->def.tz, "IANA time zone of the cron fields (default UTC)");
  cmd->add_option("--missed", a->def.missed, "skip, latest or all")->capture_default_str();
  cmd->add_option("--catchup-window", a->def.catchup_window,
                  "With --missed all: fire missed ticks this recent (default: any)");
  cmd->add_option("--overlap", a->def.overlap, "allow, skip or buffer-one")->capture_default_str();
  cmd->add_option("--jitter", a->def.jitter, "Delay each tick's start by up to this much");
  cmd->add_option("--queue", a->def.queue, "Queue of the tasks");
  cmd->add_option("--priority", a->def.priority, "Priority of the tasks");
  cmd->add_option("--policy", a->def.policy, "Retry policy JSON of the tasks");
  cmd->add_option("--time-limit", a->def.time_limit_s, "Per-attempt time limit (seconds)");
  cmd->add_option("--lock", a->def.lock, "Lock of the tasks");
  cmd->add_option("-o,--output", a->o.output, "table or json")
    ->check(CLI::IsMember({"table", "json"}));
  add_db_options(cmd, a->o);
  cmd->callback([&env, a] {
    if (a->def.cron.empty() && a->def.every.empty()) {
      env.exit_code = fail(usage, "give --cron SPEC or --every DURATION");
      return;
    }
    auto row = make_schedule_row(a->def, to_micros(now()) / 1'000'000);
    if (auto e = std::get_if<std::string>(&row)) {
      env.exit_code = fail(usage, *e);
      return;
    }
    with_store(a->o, env, [&](schedule_store& store) {
      const auto& r = std::get<schedule_row>(row);
      if (!store.add(r)) {
        env.exit_code = fail(failed, "a schedule named " + r.name
                                       + " exists (taskrt schedules delete " + r.name
                                       + " first)");
        return;
      }
      auto stored = store.get(r.name);
      if (a->o.output == "json")
        std::printf("%s\n", schedule_json(stored ? *stored : r).dump().c_str());
      else
        std::printf("schedule %s added: %s, task %s, next tick %s\n", r.name.c_str(),
                    rule_text(r).c_str(), r.task.c_str(),
                    to_rfc3339(from_micros(r.next_tick_us)).c_str());
      env.exit_code = ok;
    });
  });
}

void add_list(CLI::App* parent, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto* cmd = parent->add_subcommand("list", "Every schedule with its rule and next tick");
  cmd->add_option("-o,--output", o->output, "table, json or yaml")
    ->check(CLI::IsMember({"table", "json", "yaml"}));
  add_db_options(cmd, *o);
  cmd->callback([&env, o] {
    with_store(*o, env, [&](schedule_store& store) {
      auto rows = store.list();
      if (o->output != "table") {
        json out = json::array();
        for (const auto& r : rows)
          out.push_back(schedule_json(r));
        print_doc(out, parse_output(o->output));
      } else {
        table t{{"NAME", "TASK", "RULE", "MISSED", "OVERLAP", "STATE", "NEXT TICK", "LAST FIRED"},
                {}};
        for (const auto& r : rows)
          t.rows.push_back({r.name, r.task, rule_text(r), r.missed, r.overlap,
                            r.paused ? "paused" : "active",
                            r.next_tick_us ? to_rfc3339(from_micros(r.next_tick_us)) : "-",
                            r.last_tick_us ? to_rfc3339(from_micros(r.last_tick_us)) : "-"});
        t.print(terminal_width());
      }
      env.exit_code = ok;
    });
  });
}

void add_describe(CLI::App* parent, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto name = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(50);
  auto* cmd = parent->add_subcommand("describe", "A schedule, its counts and its latest ticks: "
                                                 "fired, caught up, skipped and why");
  cmd->add_option("name", *name, "Schedule name")->required();
  cmd->add_option("--ticks", *limit, "How many of the latest ticks to show (1..100000)")
    ->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("-o,--output", o->output, "table, json or yaml")
    ->check(CLI::IsMember({"table", "json", "yaml"}));
  add_db_options(cmd, *o);
  cmd->callback([&env, o, name, limit] {
    with_store(*o, env, [&](schedule_store& store) {
      auto r = store.get(*name);
      if (!r) {
        env.exit_code = fail(failed, "no schedule named " + *name);
        return;
      }
      auto counts = store.event_counts(*name);
      auto events = store.events(*name, *limit);
      auto j = schedule_json(*r);
      j["counts"] = counts;
      json ticks = json::array();
      for (const auto& e : events)
        ticks.push_back({{"tick", to_rfc3339(from_micros(e.tick_us))},
                         {"kind", e.kind},
                         {"reason", e.reason.empty() ? json(nullptr) : json(e.reason)},
                         {"task_id", e.task_id ? json(e.task_id) : json(nullptr)},
                         {"at", to_rfc3339(from_micros(e.at_us))}});
      j["ticks"] = ticks;
      if (o->output != "table") {
        print_doc(j, parse_output(o->output));
        env.exit_code = ok;
        return;
      }
      std::printf("Schedule %s  %s  %s\n", r->name.c_str(), rule_text(*r).c_str(),
                  r->paused ? "paused" : "active");
      std::printf("  task %s  args %s\n", r->task.c_str(), j["args"].dump().c_str());
      std::printf("  missed %s%s  overlap %s  jitter %s%s\n", r->missed.c_str(),
                  r->catchup_window_s ? (" (window " + sched::duration_text(r->catchup_window_s)
                                         + ")").c_str() : "",
                  r->overlap.c_str(), r->jitter_s ? sched::duration_text(r->jitter_s).c_str() : "-",
                  r->declared ? "  declared in code" : "");
      std::printf("  next tick %s  last fired %s\n",
                  r->next_tick_us ? to_rfc3339(from_micros(r->next_tick_us)).c_str() : "-",
                  r->last_tick_us ? to_rfc3339(from_micros(r->last_tick_us)).c_str() : "-");
      std::string c;
      for (auto k : {"fired", "caught_up", "skipped", "triggered"})
        c += std::string{"  "} + k + " " + std::to_string(counts.count(k) ? counts[k] : 0);
      std::printf(" %s\n\nTicks (latest %zu)\n", c.c_str(), events.size());
      table t{{"TICK", "DECISION", "TASK", "REASON"}, {}};
      for (const auto& e : events)
        t.rows.push_back({to_rfc3339(from_micros(e.tick_us)), e.kind,
                          e.task_id ? std::to_string(e.task_id) : "-",
                          e.reason.empty() ? "-" : e.reason});
      t.print(terminal_width());
      env.exit_code = ok;
    });
  });
}

/// pause, resume, trigger and delete: one name each.
void add_simple(CLI::App* parent, cli_env& env, const std::string& verb, const std::string& help) {
  auto o = std::make_shared<common_opts>();
  auto name = std::make_shared<std::string>();
  auto* cmd = parent->add_subcommand(verb, help);
  cmd->add_option("name", *name, "Schedule name")->required();
  add_db_options(cmd, *o);
  cmd->callback([&env, o, name, verb] {
    with_store(*o, env, [&](schedule_store& store) {
      bool found = false;
      std::string done;
      if (verb == "pause" || verb == "resume") {
        found = store.set_paused(*name, verb == "pause");
        done = verb == "pause" ? "paused" : "resumed (ticks missed while paused follow --missed)";
      } else if (verb == "trigger") {
        auto at = store.request_trigger(*name);
        found = at.has_value();
        if (at)
          done = "triggered: the active head submits its task with the key "
                 + tick_key(*name, *at);
      } else {
        found = store.remove(*name);
        done = "deleted (its tasks stay)";
      }
      if (!found) {
        env.exit_code = fail(failed, "no schedule named " + *name);
        return;
      }
      std::printf("schedule %s %s\n", name->c_str(), done.c_str());
      env.exit_code = ok;
    });
  });
}

} // namespace

void add_schedules_command(CLI::App& app, cli_env& env) {
  auto* cmd = app.add_subcommand("schedules", "Periodic schedules: add, list, describe, pause, "
                                              "resume, trigger, delete");
  cmd->require_subcommand(1);
  add_add(cmd, env);
  add_list(cmd, env);
  add_describe(cmd, env);
  add_simple(cmd, env, "pause", "Stop firing a schedule's ticks");
  add_simple(cmd, env, "resume", "Fire a paused schedule's ticks again");
  add_simple(cmd, env, "trigger", "Fire one tick now (the active head submits it)");
  add_simple(cmd, env, "delete", "Delete a schedule and its tick journal (not its tasks)");
}

} // namespace taskrt::cli

#include "taskrt/cli/tasks_subcommands.hpp"

#include "taskrt/cli/bulk.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/cli/time_arg.hpp"
#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/time.hpp"

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

/// Output formats of the bulk commands (a summary, not a list).
void add_summary_output(CLI::App* cmd, std::string& out) {
  cmd->add_option("-o,--output", out, "table (text), json or yaml")
    ->check(CLI::IsMember({"table", "json", "yaml"}))->capture_default_str();
}

/// True when task `id` ended CANCELLED with upstream_failed (a parent's
/// cancel in the same bulk cancel reached it first), as Postgres says.
/// Quiet: without a known database the head's refusal stands as it is.
bool cancelled_upstream(const common_opts& o, int64_t id) {
  const auto dsn = resolve_dsn(o.db, o.data_dir);
  if (dsn.empty())
    return false;
  try {
    journal_store store{dsn, cli_journal_options()};
    auto t = store.get_task(id);
    if (!t || t->state != task_state::cancelled || t->last_error.empty())
      return false;
    const auto e = json::parse(t->last_error, nullptr, false);
    return e.is_object() && e.value("kind", "") == "upstream_failed";
  } catch (const std::exception&) {
    return false;
  }
}

} // namespace

void add_tasks_retry(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto b = std::make_shared<bulk_opts>();
  auto fo = std::make_shared<filter_opts>();
  auto m = std::make_shared<manual_retry_msg>();
  auto in = std::make_shared<double>(-1);
  auto at = std::make_shared<std::string>();
  auto prio = std::make_shared<std::optional<int32_t>>();
  auto* cmd = tasks->add_subcommand(
    "retry", "Re-queue FAILED, LOST or CANCELLED tasks through the head (history kept)");
  cmd->footer(R"(Attempt numbers go on and the retry budget starts afresh. Select tasks by
id, or by filter (only FAILED, LOST and CANCELLED tasks are selected; the
filter reads Postgres). By id, a QUEUED task waiting for its run time (a
retry delay, --in/--at of its submit) is moved to now, or to --in/--at: its
retry budget stays. RUNNING and SUCCEEDED tasks are refused. On a terminal it
asks first unless --yes.
Here --queue, --lock and --priority set new values; filter by queue with --in-queue.
Examples:
  taskrt tasks retry 42
  taskrt tasks retry 42 43 44 --in 60 --priority 10 --queue slow
  taskrt tasks retry --state FAILED --name payments.charge --yes
  taskrt tasks retry --state FAILED --error-kind std::runtime_error --since 1h -o json)");
  add_bulk_options(cmd, *b);
  add_filter_options(cmd, *fo, f_state | f_name | f_queue | f_node | f_error_kind | f_since | f_until,
                     queue_filter::in_queue);
  auto* in_opt = cmd->add_option("--in", *in, "Run no earlier than SECONDS from now")
                   ->check(CLI::NonNegativeNumber);
  cmd->add_option("--at", *at, "Run no earlier than an RFC 3339 time")->excludes(in_opt);
  cmd->add_option("--priority", *prio, "New priority");
  cmd->add_option("--queue", m->queue, "New queue");
  cmd->add_option("--lock", m->lock, "New lock");
  add_summary_output(cmd, o->output);
  add_head_options(cmd, *o);
  cmd->add_option("--db", o->db, "Postgres DSN for filter selection (default: $TASKRT_DATABASE_URL, else the head's)");
  cmd->callback([&env, o, b, fo, m, in, at, prio] {
    if (*in >= 0) {
      if (auto e = check_seconds(*in, "--in")) {
        env.exit_code = fail(usage, *e);
        return;
      }
      m->run_at_us = to_micros(add_seconds_clamped(now(), *in));
    }
    if (!at->empty()) {
      auto t = parse_run_at(*at, now());
      if (!t) {
        env.exit_code = fail(usage, error_message(t.error()));
        return;
      }
      m->run_at_us = to_micros(*t);
    }
    if (*prio) {
      m->set_priority = true;
      m->priority = **prio;
    }
    m->origin = origin();
    auto ids = select_ids(*b, *fo, {task_state::failed, task_state::lost, task_state::cancelled},
                          *o, env.exit_code);
    if (!ids)
      return;
    std::unique_ptr<client> c;
    if (!ids->empty() && !(c = open_head(*o, env)))
      return;
    if (ids->size() > 1 && !confirm(*b, "Retry", ids->size())) {
      env.exit_code = fail(failed, "aborted");
      return;
    }
    env.exit_code = run_bulk(*ids, "retry", "re-queued", o->output,
                             [&](int64_t id, json& result) -> std::string {
                               auto msg = *m;
                               msg.id = id;
                               auto r = c->retry(msg);
                               if (!r)
                                 return error_message(r.error());
                               result["state"] = "QUEUED";
                               return {};
                             });
  });
}

void add_tasks_cancel(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto b = std::make_shared<bulk_opts>();
  auto fo = std::make_shared<filter_opts>();
  auto* cmd = tasks->add_subcommand(
    "cancel",
    "Cancel tasks through the head: WAITING and QUEUED at once, RUNNING cooperatively");
  cmd->footer(R"(Select tasks by id, or by filter (only WAITING, QUEUED and RUNNING tasks
are selected; the filter reads Postgres). On a terminal it asks first unless
--yes. The children of a cancelled task follow their trigger rules: an
all_success child ends CANCELLED (upstream_failed), an all_done one runs.
Tasks go in id order, parents before children: a selected task that its
parent's cancel already ended with upstream_failed counts as cancelled.
Examples:
  taskrt tasks cancel 42
  taskrt tasks cancel 42 43
  taskrt tasks cancel --state WAITING --name reports.build --yes
  taskrt tasks cancel --state QUEUED --in-queue mail --yes -o json)");
  add_bulk_options(cmd, *b);
  add_filter_options(cmd, *fo, f_state | f_name | f_queue | f_node | f_lock | f_since | f_until,
                     queue_filter::in_queue_or_queue);
  add_summary_output(cmd, o->output);
  add_head_options(cmd, *o);
  cmd->add_option("--db", o->db, "Postgres DSN for filter selection (default: $TASKRT_DATABASE_URL, else the head's)");
  cmd->callback([&env, o, b, fo] {
    auto ids = select_ids(*b, *fo, {task_state::waiting, task_state::queued, task_state::running},
                          *o, env.exit_code);
    if (!ids)
      return;
    std::unique_ptr<client> c;
    if (!ids->empty() && !(c = open_head(*o, env)))
      return;
    if (ids->size() > 1 && !confirm(*b, "Cancel", ids->size())) {
      env.exit_code = fail(failed, "aborted");
      return;
    }
    const auto who = origin();
    env.exit_code = run_bulk(*ids, "cancel", "cancelled", o->output,
                             [&](int64_t id, json& result) -> std::string {
                               auto r = c->cancel(id, who);
                               if (!r) {
                                 if (cancelled_upstream(*o, id)) {
                                   result["state"] = "CANCELLED";
                                   result["note"] = "upstream_failed: its parent's cancel ended it";
                                   return {};
                                 }
                                 return error_message(r.error());
                               }
                               result["state"] = to_string(*r);
                               result["cancel_requested"] = *r == task_state::running;
                               if (*r == task_state::running)
                                 result["note"] = "RUNNING: cancellation requested";
                               return {};
                             });
  });
}

void add_tasks_purge(CLI::App* tasks, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto b = std::make_shared<bulk_opts>();
  auto fo = std::make_shared<filter_opts>();
  auto older = std::make_shared<std::string>();
  auto dry = std::make_shared<bool>(false);
  auto* cmd = tasks->add_subcommand(
    "purge", "Delete final tasks (with their journal and checkpoints) older than an age");
  cmd->footer(R"(Retention: deletes SUCCEEDED, FAILED, CANCELLED and LOST tasks whose last
change (updated_at) is older than --older-than; QUEUED and RUNNING tasks are
never purged. Reads and writes Postgres directly (final tasks are not held by
the head). On a terminal it asks first unless --yes. Deletes in transactions
of 1000 tasks, printing progress on stderr. Without --state/--name/--in-queue/
--error-kind it takes the path of the head's retention (`start --retain`):
the daily partitions of events more than an hour older than the age are
dropped whole (events of tasks that remain are kept), the rest of the
deleted tasks' events by row.
Examples:
  taskrt tasks purge --state SUCCEEDED --older-than 7d
  taskrt tasks purge --older-than 30d --name reports.nightly --yes
  taskrt tasks purge --state FAILED --older-than 90d --dry-run -o json)");
  add_filter_options(cmd, *fo, f_state | f_name | f_queue | f_error_kind,
                     queue_filter::in_queue_or_queue);
  cmd->add_option("--older-than", *older, "Age of the last change: 90s, 15m, 12h, 7d, 2w")->required();
  cmd->add_flag("-y,--yes", b->yes, "Do not ask for confirmation");
  cmd->add_flag("--dry-run", *dry, "Only count what would go");
  add_summary_output(cmd, o->output);
  add_db_options(cmd, *o);
  cmd->callback([&env, o, b, fo, older, dry] {
    auto f = make_filter(*fo, env.exit_code);
    if (!f)
      return;
    auto age = parse_duration(*older);
    if (!age) {
      env.exit_code = fail(usage, "--older-than: not a duration like 7d: " + *older);
      return;
    }
    if (auto e = check_seconds(*age, "--older-than")) {
      env.exit_code = fail(usage, *e);
      return;
    }
    for (auto s : f->states)
      if (!is_terminal(s)) {
        env.exit_code = fail(usage, std::string{"--state: "} + to_string(s)
                                      + " tasks are never purged (only final states)");
        return;
      }
    // All final states, no other filter: the retention path.
    const bool fo_is_age_only = f->states.empty() && f->name.empty() && f->queue.empty()
                                && f->error_kind.empty();
    if (f->states.empty())
      f->states = {task_state::succeeded, task_state::failed, task_state::cancelled,
                   task_state::lost};
    f->updated_until_us = to_micros(add_seconds_clamped(now(), -*age));
    if (f->updated_until_us == 0)
      f->updated_until_us = 1; // "older than" the epoch: nothing
    auto store = open_store(*o, env.exit_code);
    if (!store)
      return;
    try {
      std::vector<std::string> dropped;
      int64_t n = 0;
      for (const auto& c : store->count_by_name_state(*f))
        n += c.tasks;
      int64_t purged = 0;
      if (!*dry && n > 0) {
        if (!confirm(*b, "Purge", static_cast<size_t>(n))) {
          env.exit_code = fail(failed, "aborted");
          return;
        }
        auto progress = [](const std::string& line) {
          std::fprintf(stderr, "purge: %s\n", line.c_str());
        };
        if (fo_is_age_only) {
          retention_options ro;
          ro.delete_events = true;
          ro.progress = progress;
          const auto r = store->apply_retention(f->updated_until_us, ro);
          purged = r.tasks_deleted;
          for (const auto& p : r.dropped)
            dropped.push_back(p.name);
        } else {
          purged = store->purge(*f, progress);
        }
      }
      json out = json::object();
      out["purged"] = purged;
      out["dropped_partitions"] = dropped;
      out["matched"] = n;
      out["dry_run"] = *dry;
      out["older_than_s"] = *age;
      out["updated_before"] = to_rfc3339(from_micros(f->updated_until_us));
      if (o->output == "table")
        std::printf(*dry ? "%lld task(s) would be purged\n" : "%lld task(s) purged\n",
                    static_cast<long long>(*dry ? n : purged));
      else
        print_doc(out, parse_output(o->output));
      env.exit_code = ok;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, e.what());
    }
  });
}

} // namespace taskrt::cli

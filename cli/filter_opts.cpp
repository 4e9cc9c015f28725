#include "taskrt/cli/filter_opts.hpp"

#include "taskrt/cli/arg_checks.hpp"
#include "taskrt/cli/cli_env.hpp"
#include "taskrt/cli/time_arg.hpp"

#include <map>

namespace taskrt::cli {

const char* state_names() {
  return "QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, LOST, WAITING";
}

void add_filter_options(CLI::App* cmd, filter_opts& o, unsigned flags, queue_filter queue) {
  if (flags & f_state)
    cmd->add_option("--state", o.states,
                    std::string{"States, comma-separated or repeated ("} + state_names() + ")")
      ->delimiter(',');
  if (flags & f_name)
    cmd->add_option("--name", o.name, "Task name");
  o.queue_flag = queue == queue_filter::queue ? "--queue" : "--in-queue";
  if ((flags & f_queue) && queue == queue_filter::queue)
    cmd->add_option("--queue", o.queue, "Queue");
  if ((flags & f_queue) && queue != queue_filter::queue)
    cmd->add_option("--in-queue", o.queue, "Select tasks in this queue");
  if ((flags & f_queue) && queue == queue_filter::in_queue_or_queue)
    cmd->add_option("--queue", o.queue, "Old spelling of --in-queue")->group("");
  if (flags & f_node)
    cmd->add_option("--node", o.node, "Node of the current or last attempt");
  if (flags & f_lock)
    cmd->add_option("--lock", o.lock, "Lock");
  if (flags & f_error_kind)
    cmd->add_option("--error-kind", o.error_kind, "Kind of the last error (e.g. std::runtime_error)");
  if (flags & f_since)
    cmd->add_option("--since", o.since, "Created at or after: RFC 3339, or an age like 1h, 7d");
  if (flags & f_until)
    cmd->add_option("--until", o.until, "Created before: RFC 3339, or an age like 30m");
  if (flags & f_sort)
    cmd->add_option("--sort", o.sort,
                    "id, -id, created, -created, updated, -updated, name, -name, "
                    "priority, -priority (- is descending)")
      ->capture_default_str();
}

bool has_filter(const filter_opts& o) {
  return !o.states.empty() || !o.name.empty() || !o.queue.empty() || !o.node.empty()
         || !o.lock.empty() || !o.error_kind.empty() || !o.since.empty() || !o.until.empty();
}

std::optional<task_filter> make_filter(const filter_opts& o, int& exit_code) {
  task_filter f;
  for (const auto& s : o.states) {
    auto st = parse_task_state(s);
    if (!st) {
      exit_code = fail(usage, "--state: unknown state '" + s + "' (" + state_names() + ")");
      return std::nullopt;
    }
    f.states.push_back(*st);
  }
  // Refused here, not by Postgres ("invalid byte sequence for encoding").
  for (const auto& [value, flag] :
       {std::pair{&o.name, std::string{"--name"}}, std::pair{&o.queue, o.queue_flag},
        std::pair{&o.node, std::string{"--node"}}, std::pair{&o.lock, std::string{"--lock"}},
        std::pair{&o.error_kind, std::string{"--error-kind"}}})
    if (auto e = check_filter_text(*value, flag)) {
      exit_code = fail(usage, *e);
      return std::nullopt;
    }
  f.name = o.name;
  f.queue = o.queue;
  f.node = o.node;
  f.lock = o.lock;
  f.error_kind = o.error_kind;
  const auto t_now = now();
  if (!o.since.empty()) {
    auto t = parse_time_arg(o.since, t_now);
    if (!t) {
      exit_code = fail(usage, "--since: not an RFC 3339 time or an age like 1h: " + o.since);
      return std::nullopt;
    }
    f.since_us = to_micros(*t);
  }
  if (!o.until.empty()) {
    auto t = parse_time_arg(o.until, t_now);
    if (!t) {
      exit_code = fail(usage, "--until: not an RFC 3339 time or an age like 1h: " + o.until);
      return std::nullopt;
    }
    f.until_us = to_micros(*t);
  }
  static const std::map<std::string, task_order> orders{
    {"id", task_order::id_asc},          {"-id", task_order::id_desc},
    {"created", task_order::id_asc},     {"-created", task_order::id_desc},
    {"updated", task_order::updated_asc}, {"-updated", task_order::updated_desc},
    {"name", task_order::name_asc},      {"-name", task_order::name_desc},
    {"priority", task_order::priority_asc}, {"-priority", task_order::priority_desc}};
  auto it = orders.find(o.sort);
  if (it == orders.end()) {
    exit_code = fail(usage, "--sort: unknown key '" + o.sort
                              + "' (id, created, updated, name, priority; prefix - to reverse)");
    return std::nullopt;
  }
  f.order = it->second;
  f.limit = o.limit;
  return f;
}

} // namespace taskrt::cli

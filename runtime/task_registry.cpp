#include "taskrt/runtime/task_registry.hpp"

#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/retry_policy.hpp"

#include <stdexcept>

namespace taskrt {

task_context::~task_context() = default;

std::optional<std::string> check_task_definition(const task_definition& def) {
  auto e = check_name(def.name, "name", true);
  if (!e && !def.fn)
    e = "no function";
  if (!e)
    e = check_name(def.queue, "queue", false);
  if (!e)
    e = check_seconds(def.time_limit_s, "time_limit_s");
  if (!e && !def.policy.empty()) {
    auto parsed = parse_retry_policy(def.policy);
    if (auto p = std::get_if<std::string>(&parsed))
      e = "policy: " + *p;
  }
  if (!e)
    return std::nullopt;
  return "task registration '" + def.name + "': " + *e;
}

void task_registry::add(task_definition def) {
  if (auto e = check_task_definition(def))
    throw std::invalid_argument(*e);
  auto name = def.name;
  defs_[name] = std::move(def);
}

void task_registry::add(const std::string& name, task_fn fn) {
  add(task_definition{name, std::move(fn), {}, {}, 0, {}});
}

const task_definition* task_registry::find(const std::string& name) const {
  auto i = defs_.find(name);
  return i == defs_.end() ? nullptr : &i->second;
}

std::vector<std::string> task_registry::names() const {
  std::vector<std::string> out;
  for (const auto& kv : defs_)
    out.push_back(kv.first);
  return out;
}

void task_registry::add_schedule(schedule_definition def) {
  if (def.name.empty())
    throw std::invalid_argument("schedule declaration: no name");
  if (def.task.empty())
    throw std::invalid_argument("schedule '" + def.name + "': no task");
  if (def.cron.empty() == def.every.empty())
    throw std::invalid_argument("schedule '" + def.name
                                + "': give exactly one of cron and every");
  auto name = def.name;
  schedules_[name] = std::move(def);
}

} // namespace taskrt

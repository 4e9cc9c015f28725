#include "runtime/task_registry.hpp"

namespace taskrt {

task_context::~task_context() = default;

void task_registry::add(task_definition def) {
  auto name = def.name;
  defs_[name] = std::move(def);
}

void task_registry::add(const std::string& name, task_fn fn) {
  add(task_definition{name, std::move(fn), {}, {}, 0});
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

} // namespace taskrt

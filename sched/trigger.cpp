#include "taskrt/sched/trigger.hpp"

#include <algorithm>
#include <unordered_set>

namespace taskrt::sched {

parent_counts count_parents(const std::vector<task_state>& states) {
  parent_counts c;
  c.total = static_cast<int64_t>(states.size());
  for (auto s : states) {
    if (s == task_state::succeeded)
      ++c.succeeded;
    else if (s == task_state::failed || s == task_state::cancelled || s == task_state::lost)
      ++c.failed;
  }
  return c;
}

trigger_outcome decide(trigger_rule rule, const parent_counts& c) {
  const auto done = c.succeeded + c.failed;
  switch (rule) {
    case trigger_rule::all_success:
      if (c.failed > 0)
        return trigger_outcome::cancel;
      return c.succeeded >= c.total ? trigger_outcome::release : trigger_outcome::wait;
    case trigger_rule::all_done:
      return done >= c.total ? trigger_outcome::release : trigger_outcome::wait;
    case trigger_rule::any_success:
      if (c.succeeded > 0 || c.total == 0)
        return trigger_outcome::release;
      return done >= c.total ? trigger_outcome::cancel : trigger_outcome::wait;
  }
  return trigger_outcome::wait;
}

std::optional<std::string> check_parents(const std::vector<int64_t>& after, size_t index) {
  if (after.size() > max_parents)
    return "after: " + std::to_string(after.size()) + " parents, at most "
           + std::to_string(max_parents);
  std::unordered_set<int64_t> seen;
  for (auto p : after) {
    if (p == 0)
      return std::string{"after: 0 is not a task id"};
    if (p < 0 && static_cast<uint64_t>(-p) > index)
      return "after: " + std::to_string(p) + " names task " + std::to_string(-p)
             + " of the batch, which is not an earlier one (this is task "
             + std::to_string(index + 1) + ")";
    if (!seen.insert(p).second)
      return "after: parent " + std::to_string(p) + " given twice";
  }
  return std::nullopt;
}

} // namespace taskrt::sched

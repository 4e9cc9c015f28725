#include "taskrt/runtime/fault.hpp"

#include <cstdio>
#include <cstdlib>

namespace taskrt {

bool fault_hooks_built() {
  return TASKRT_FAULT_ACTIVE(fault_point::none, fault_point::none);
}

std::optional<fault_point> parse_fault_point(const std::string& name) {
  if (name.empty())
    return fault_point::none;
#if defined(TASKRT_FAULT_HOOKS) && TASKRT_FAULT_HOOKS
  if (name == "exit_after_dispatch")
    return fault_point::exit_after_dispatch;
  if (name == "exit_before_cancel_delivery")
    return fault_point::exit_before_cancel_delivery;
  if (name == "exit_after_release")
    return fault_point::exit_after_release;
  if (name == "exit_after_dispatch_batch")
    return fault_point::exit_after_dispatch_batch;
  if (name == "exit_mid_node_report")
    return fault_point::exit_mid_node_report;
  if (name == "node_exit_before_report")
    return fault_point::node_exit_before_report;
  if (name == "no_lock_watch")
    return fault_point::no_lock_watch;
  if (name == "stop_in_commit")
    return fault_point::stop_in_commit;
#endif
  return std::nullopt;
}

void fault_exit() {
  std::fflush(nullptr);
  std::_Exit(137);
}

} // namespace taskrt

// A build with fault hooks (-DTASKRT_FAULT_HOOKS=ON, scripts/build): the
// macros of runtime/fault.hpp act, and $TASKRT_FAULT's names parse in one
// place. This file forces the macros on; parse_fault_point is the library's
// and follows the build's configuration.
#undef TASKRT_FAULT_HOOKS
#define TASKRT_FAULT_HOOKS 1
#include "taskrt/runtime/fault.hpp"

#include <catch2/catch.hpp>

using taskrt::fault_point;

static_assert(TASKRT_FAULT_ACTIVE(fault_point::no_lock_watch, fault_point::no_lock_watch));
static_assert(!TASKRT_FAULT_ACTIVE(fault_point::none, fault_point::no_lock_watch));

TEST_CASE("fault hooks on - a hook runs its body when its condition holds", "[unit][fault]") {
  int ran = 0;
  TASKRT_FAULT_HOOK(true, ++ran;);
  TASKRT_FAULT_HOOK(false, ran += 10;);
  CHECK(ran == 1);
}

TEST_CASE("TASKRT_FAULT names - parsed in one place, unknown ones refused", "[unit][fault]") {
  CHECK(taskrt::parse_fault_point("") == fault_point::none);
  CHECK_FALSE(taskrt::parse_fault_point("exit_after_dispatch "));
  CHECK_FALSE(taskrt::parse_fault_point("nonsense"));
  const std::pair<const char*, fault_point> names[] = {
    {"exit_after_dispatch", fault_point::exit_after_dispatch},
    {"exit_before_cancel_delivery", fault_point::exit_before_cancel_delivery},
    {"no_lock_watch", fault_point::no_lock_watch},
    {"exit_after_release", fault_point::exit_after_release},
    {"exit_after_dispatch_batch", fault_point::exit_after_dispatch_batch},
    {"exit_mid_node_report", fault_point::exit_mid_node_report},
    {"node_exit_before_report", fault_point::node_exit_before_report}};
  for (const auto& [name, point] : names) {
    INFO(name);
    if (taskrt::fault_hooks_built())
      CHECK(taskrt::parse_fault_point(name) == point);
    else // a build without hooks knows no fault name
      CHECK_FALSE(taskrt::parse_fault_point(name));
  }
}

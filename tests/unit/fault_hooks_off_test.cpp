// A build without fault hooks (TASKRT_FAULT_HOOKS off: the default, the
// image, the packages): the hook macros of runtime/fault.hpp are a constant
// false and an empty statement. This file forces that configuration whatever
// the test build has, so it checks the macros themselves; which names the
// shipped objects hold is tests/install/fault_hooks_test.sh's part.
#undef TASKRT_FAULT_HOOKS
#define TASKRT_FAULT_HOOKS 0
#include "taskrt/runtime/fault.hpp"

#include <catch2/catch.hpp>

using taskrt::fault_point;

static_assert(!TASKRT_FAULT_ACTIVE(fault_point::no_lock_watch, fault_point::no_lock_watch),
              "without hooks no fault point is ever active");

TEST_CASE("fault hooks off - a hook neither runs its body nor evaluates its condition",
          "[unit][fault]") {
  int evaluated = 0;
  int ran = 0;
  auto cond = [&] {
    ++evaluated;
    return true;
  };
  (void)cond; // named only inside the hook, which compiles to nothing
  TASKRT_FAULT_HOOK(cond(), ++ran;);
  TASKRT_FAULT_HOOK(TASKRT_FAULT_ACTIVE(fault_point::exit_after_dispatch,
                                        fault_point::exit_after_dispatch),
                    ++ran;);
  CHECK(evaluated == 0);
  CHECK(ran == 0);
}

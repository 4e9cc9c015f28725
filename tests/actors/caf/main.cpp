// The runner of the deterministic actor tests: CAF's own unit-test engine,
// whose test_coordinator_fixture (caf/test/dsl.hpp) runs actors on a
// scheduler that does nothing until the test says so, with a clock that
// moves only by sched.advance_time(). No threads, no sleeps, no polling.
// Usage: actor_caf_tests [-s SUITE_REGEX] [-t TEST_REGEX]
#include <caf/test/unit_test_impl.hpp>

#pragma once
/// Demo tasks registered in the taskrt binary, so anyone can try the runtime
/// without writing code:
///   echo        returns its args
///   sleep       {"ms":N} sleeps N ms, reporting progress, honouring cancel
///   fail        {"kind":K,"times":T,"message":M} throws an error of kind K on
///               its first T attempts (T absent: always), then succeeds; a K
///               naming a std exception type throws that real type
///   crash       {"times":T,"signal":"abort"|"segv"} kills its own worker
///               process on its first T attempts (T absent: always)
///   hang        {"ms":N} neither reports progress nor honours cancellation
///   flaky       {"crashes":C,"failures":F} aborts its worker on its first C
///               attempts, throws std::runtime_error on the next F, then succeeds
///   checkpoint  {"steps":N,"crash_at":K} counts to N saving a checkpoint at
///               each step, crashes once at step K, resumes from its checkpoint
///   fanout      {"n":N} submits N echo children and returns their ids
///   bad_output  {"what":"nul|utf8|big|deep|nan","via":"result|progress|checkpoint|child"}
///               sends a value that breaks the default limits (ends FAILED with
///               taskrt.bad_result; a child is refused with taskrt.bad_request)
///   collect     returns {"parents":[...]}: ctx.parents() (id, name, state and
///               result of each parent of a task submitted with --after)

#include "taskrt/runtime/task_registry.hpp"

namespace taskrt {

/// Registers every demo task on `registry`.
void register_demo_tasks(task_registry& registry);

} // namespace taskrt

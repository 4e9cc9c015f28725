#pragma once
/// taskrt: the one header a task author includes.
///
///   #include <taskrt/taskrt.hpp>
///   int main(int argc, char** argv) {
///     taskrt::task_registry tasks;
///     tasks.add("user.hello", [](taskrt::task_context& ctx, const nlohmann::json& args) {
///       return nlohmann::json{{"hello", args.value("name", std::string("nobody"))},
///                             {"attempt", ctx.attempt()}};
///     });
///     return taskrt::run(argc, argv, tasks);
///   }
///
/// What it brings (docs/tasks.md explains how to write tasks):
///   task_registry, task_definition, task_context, task_fn   runtime/task_registry.hpp
///   task_spec, task_record, task_state                     runtime/task.hpp
///   task_error, error_info (dotted kinds with parents)     runtime/task_error.hpp
///   retry_policy, strategy_registry, retry_strategy,
///   failure_input, strategy_decision (custom strategies)   runtime/retry_policy.hpp
///   head_actor and its atoms and messages (actors that
///   submit with request/then)                              runtime/protocol.hpp
///   client (blocking: submit, submit_many, await, cancel)  cluster/client.hpp
///   run (the whole CLI with your tasks)                    cli/run.hpp
///
/// Everything else under the taskrt source tree (persistence, actors, the
/// cluster bootstrap, the CLI commands) is internal and not installed.

#include "taskrt/cli/run.hpp"
#include "taskrt/cluster/client.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/retry_policy.hpp"
#include "taskrt/runtime/task.hpp"
#include "taskrt/runtime/task_error.hpp"
#include "taskrt/runtime/task_registry.hpp"

#include <nlohmann/json.hpp>

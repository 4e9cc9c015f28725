/// The stock `taskrt` binary: taskrt::run with the demo tasks and the example
/// retry strategy (examples/), so anyone can try the runtime without code.

#include "taskrt/examples/demo_tasks.hpp"
#include "taskrt/examples/strategies.hpp"

#include <taskrt/taskrt.hpp>

int main(int argc, char** argv) {
  taskrt::task_registry tasks;
  taskrt::register_demo_tasks(tasks);
  taskrt::strategy_registry strategies;
  taskrt::register_example_strategies(strategies);
  return taskrt::run(argc, argv, tasks, strategies);
}

#include <taskrt/taskrt.hpp>
int main(int argc, char** argv) {
  taskrt::task_registry tasks;
  tasks.add("user.hello", [](taskrt::task_context& ctx, const nlohmann::json& args) {
    return nlohmann::json{{"hello", args.value("name", std::string("nobody"))}, {"attempt", ctx.attempt()}};
  });
  return taskrt::run(argc, argv, tasks);   // the whole taskrt CLI, with your tasks
}

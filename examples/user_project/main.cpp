#include <taskrt/taskrt.hpp>

#include <stdexcept>
#include <string>

// A team's own exception hierarchy: retry_on / no_retry_on match a kind or
// any of its base classes, so "team::TransientError" covers ConnectionReset.
namespace team {
struct TransientError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ConnectionReset : TransientError {
  using TransientError::TransientError;
};
} // namespace team

int main(int argc, char** argv) {
  taskrt::task_registry tasks;
  tasks.add("user.hello", [](taskrt::task_context& ctx, const nlohmann::json& args) {
    return nlohmann::json{{"hello", args.value("name", std::string("nobody"))}, {"attempt", ctx.attempt()}};
  });
  // Resets the connection on its first `resets` attempts (retried: a
  // TransientError), fails for good with a plain runtime_error when asked.
  tasks.add({"user.fetch",
             [](taskrt::task_context& ctx, const nlohmann::json& args) {
               if (args.value("plain", false))
                 throw std::runtime_error("not transient");
               if (ctx.attempt() <= args.value("resets", 0))
                 throw team::ConnectionReset("peer reset on attempt " + std::to_string(ctx.attempt()));
               return nlohmann::json{{"fetched_on_attempt", ctx.attempt()}};
             },
             R"({"retries":3,"retry_on":["team::TransientError"]})"});
  return taskrt::run(argc, argv, tasks);   // the whole taskrt CLI, with your tasks
}

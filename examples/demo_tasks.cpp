#include "examples/demo_tasks.hpp"

#include "runtime/task_error.hpp"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace taskrt {

namespace {

using json = nlohmann::json;

/// Reads an optional non-negative integer argument, naming it when wrong.
int64_t int_arg(const json& args, const char* key, int64_t fallback) {
  if (!args.is_object() || !args.contains(key))
    return fallback;
  const auto& v = args.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < 0)
    throw std::invalid_argument(std::string{"argument \""} + key
                                + "\" must be a non-negative integer");
  return v.get<int64_t>();
}

json echo(task_context&, const json& args) {
  return args;
}

/// Does nothing but report when it began (µs since the epoch), so a
/// benchmark can measure enqueue→start against the "t0" it put in args.
json noop(task_context&, const json&) {
  using namespace std::chrono;
  return {{"started_us",
           duration_cast<microseconds>(system_clock::now().time_since_epoch()).count()}};
}

json sleep_task(task_context& ctx, const json& args) {
  const auto ms = int_arg(args, "ms", 1000);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  auto last_progress = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < until) {
    if (ctx.cancelled())
      return {{"cancelled", true}};
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(ms, 10)));
    if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(1)) {
      ctx.progress({{"remaining_ms",
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                       until - std::chrono::steady_clock::now())
                       .count()}});
      last_progress = std::chrono::steady_clock::now();
    }
  }
  return {{"slept_ms", ms}, {"attempt", ctx.attempt()}};
}

json fail(task_context& ctx, const json& args) {
  const auto kind = args.is_object() ? args.value("kind", "error") : "error";
  const auto message = args.is_object() ? args.value("message", "demo failure")
                                        : "demo failure";
  const auto times = int_arg(args, "times", -1);
  if (times < 0 || ctx.attempt() <= times)
    throw_error_of_kind(kind, message + " (attempt " + std::to_string(ctx.attempt()) + ")");
  return {{"succeeded_on_attempt", ctx.attempt()}};
}

[[noreturn]] void die(const std::string& signal) {
  if (signal == "segv") {
    std::raise(SIGSEGV);
  }
  std::abort();
}

json crash(task_context& ctx, const json& args) {
  const auto times = int_arg(args, "times", -1);
  const auto signal = args.is_object() ? args.value("signal", "abort") : "abort";
  if (signal != "abort" && signal != "segv")
    throw std::invalid_argument("argument \"signal\" must be \"abort\" or \"segv\"");
  if (times < 0 || ctx.attempt() <= times)
    die(signal);
  return {{"survived_on_attempt", ctx.attempt()}};
}

json flaky(task_context& ctx, const json& args) {
  const auto crashes = int_arg(args, "crashes", 1);
  const auto failures = int_arg(args, "failures", 1);
  if (ctx.attempt() <= crashes)
    std::abort();
  if (ctx.attempt() <= crashes + failures)
    throw std::runtime_error("flaky failure on attempt " + std::to_string(ctx.attempt()));
  return {{"succeeded_on_attempt", ctx.attempt()}};
}

json hang(task_context&, const json& args) {
  const auto ms = int_arg(args, "ms", 3'600'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return {{"hung_ms", ms}};
}

json checkpoint(task_context& ctx, const json& args) {
  const auto steps = int_arg(args, "steps", 10);
  const auto crash_at = int_arg(args, "crash_at", -1);
  int64_t step = 0;
  bool resumed = false;
  if (auto cp = ctx.load_checkpoint()) {
    step = cp->value("step", int64_t{0});
    resumed = true;
  }
  const int64_t resumed_from = step;
  while (step < steps) {
    ++step;
    ctx.save_checkpoint({{"step", step}});
    // Crash once: only an attempt that did not resume reaches the crash.
    if (step == crash_at && !resumed)
      std::abort();
  }
  return {{"steps", steps}, {"resumed_from", resumed_from}, {"attempt", ctx.attempt()}};
}

json fanout(task_context& ctx, const json& args) {
  const auto n = int_arg(args, "n", 3);
  json ids = json::array();
  for (int64_t i = 0; i < n; ++i) {
    task_spec child;
    child.name = "echo";
    child.args = json{{"child", i}}.dump();
    ids.push_back(ctx.submit(child));
  }
  return {{"children", ids}};
}

/// A value that breaks the default limits (runtime/limits.hpp).
json bad_value(const std::string& what) {
  if (what == "nul")
    return {{"text", std::string("a\0b", 3)}};
  if (what == "utf8")
    return {{"text", std::string("\xff\xfe")}};
  if (what == "big")
    return {{"text", std::string((size_t{1} << 20) + 1, 'x')}};
  if (what == "deep") {
    json v = 1;
    for (int i = 0; i < 100; ++i)
      v = json::array({v});
    return v;
  }
  if (what == "nan")
    return {{"x", std::nan("")}};
  throw std::invalid_argument("argument \"what\" must be nul, utf8, big, deep or nan");
}

json bad_output(task_context& ctx, const json& args) {
  const auto what = args.is_object() ? args.value("what", "nul") : "nul";
  const auto via = args.is_object() ? args.value("via", "result") : "result";
  auto v = bad_value(what);
  if (via == "progress")
    ctx.progress(v);
  else if (via == "checkpoint")
    ctx.save_checkpoint(v);
  else if (via == "child") {
    task_spec child;
    child.name = "echo";
    child.args = v.dump(-1, ' ', false, json::error_handler_t::replace);
    if (what == "nul" || what == "utf8")
      child.args = std::string("{\"text\":\"\xff\"}");
    ctx.submit(child);
  } else if (via != "result")
    throw std::invalid_argument("argument \"via\" must be result, progress, checkpoint or child");
  else
    return v;
  return {{"survived", via}}; // a task that catches nothing never gets here
}

} // namespace

void register_demo_tasks(task_registry& registry) {
  registry.add("echo", echo);
  registry.add("noop", noop);
  registry.add("sleep", sleep_task);
  registry.add("fail", fail);
  registry.add("crash", crash);
  registry.add("hang", hang);
  registry.add("flaky", flaky);
  registry.add("checkpoint", checkpoint);
  registry.add("fanout", fanout);
  registry.add("bad_output", bad_output);
}

} // namespace taskrt

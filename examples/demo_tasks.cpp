#include "taskrt/examples/demo_tasks.hpp"

#include "taskrt/runtime/task_error.hpp"

#include <chrono>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

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

/// Sleeps `ms` and stamps what ran into the file `file` (appended, one
/// write(2) a line): "start", then "tick" every `tick_ms`, then "stop", each
/// as `EVENT PID MONOTONIC_NS REALTIME_NS TASK ATTEMPT`. The monotonic
/// stamps of one host compare across processes, so the file shows whether
/// two processes ever ran at once (the lock tests read it); the last stamp
/// of a process that was killed is its last "tick".
json stamp(task_context& ctx, const json& args) {
  if (!args.is_object() || !args.contains("file") || !args.at("file").is_string())
    throw std::invalid_argument("argument \"file\" must be a path");
  const auto path = args.at("file").get<std::string>();
  const auto ms = int_arg(args, "ms", 1000);
  const auto tick_ms = std::max<int64_t>(1, int_arg(args, "tick_ms", 10));
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  auto put = [&](const char* event) {
    timespec mono{}, real{};
    ::clock_gettime(CLOCK_MONOTONIC, &mono);
    ::clock_gettime(CLOCK_REALTIME, &real);
    char line[160];
    const int n = std::snprintf(line, sizeof(line), "%s %d %lld %lld %lld %d\n", event,
                                static_cast<int>(::getpid()),
                                mono.tv_sec * 1'000'000'000LL + mono.tv_nsec,
                                real.tv_sec * 1'000'000'000LL + real.tv_nsec,
                                static_cast<long long>(ctx.task_id()), ctx.attempt());
    if (::write(fd, line, static_cast<size_t>(n)) != n) {
      ::close(fd);
      throw std::runtime_error("cannot write " + path);
    }
  };
  put("start");
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until && !ctx.cancelled()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(tick_ms));
    put("tick");
  }
  put("stop");
  ::close(fd);
  return {{"pid", static_cast<int>(::getpid())}, {"attempt", ctx.attempt()}};
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

/// Returns its parents as ctx.parents() gives them (id, name, state and
/// result of each): a task submitted with --after sees its parents' results.
json collect(task_context& ctx, const json&) {
  return {{"parents", ctx.parents()}};
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

/// Spawns `n` echo children; with "after" (task ids) they wait for those
/// tasks (all_success).
json fanout(task_context& ctx, const json& args) {
  const auto n = int_arg(args, "n", 3);
  std::vector<int64_t> after;
  if (args.is_object() && args.contains("after"))
    after = args.at("after").get<std::vector<int64_t>>();
  json ids = json::array();
  for (int64_t i = 0; i < n; ++i) {
    task_spec child;
    child.name = "echo";
    child.args = json{{"child", i}}.dump();
    child.after = after;
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
  registry.add("stamp", stamp);
  registry.add("fail", fail);
  registry.add("crash", crash);
  registry.add("hang", hang);
  registry.add("flaky", flaky);
  registry.add("checkpoint", checkpoint);
  registry.add("fanout", fanout);
  registry.add("bad_output", bad_output);
  registry.add("collect", collect);
}

} // namespace taskrt

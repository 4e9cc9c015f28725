#pragma once
/// Tasks are C++ functions registered by name. A task receives its context and
/// its JSON arguments and returns a JSON result; it fails by throwing.

#include "runtime/task.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// What a running task can ask of the runtime.
class task_context {
public:
  virtual ~task_context();

  /// The id of the task.
  virtual int64_t task_id() const = 0;

  /// The attempt number (1 for the first; numbers only grow, also across a
  /// manual retry; an attempt handed back before it began is not counted).
  virtual int32_t attempt() const = 0;

  /// True when a failure of this attempt would not be retried (retry count
  /// exhausted), so the task can act on its last attempt.
  virtual bool is_last_attempt() const = 0;

  /// True once the task was cancelled; a cooperative task returns soon.
  virtual bool cancelled() const = 0;

  /// Reports progress; doubles as a heartbeat that resets the stuck timeout.
  virtual void progress(const nlohmann::json& info = nullptr) = 0;

  /// Saves a checkpoint (journaled; kept across retries and LOST attempts).
  virtual void save_checkpoint(const nlohmann::json& data) = 0;

  /// The latest checkpoint saved by any earlier attempt (or this one).
  virtual std::optional<nlohmann::json> load_checkpoint() const = 0;

  /// Submits a child task; returns its id once its QUEUED state is committed.
  virtual int64_t submit(const task_spec& child) = 0;

  /// The task's parents (a task submitted with `after`): an array of
  /// {"id", "name", "state", "result"} as they were when it was released;
  /// empty for a task without parents.
  virtual nlohmann::json parents() const { return nlohmann::json::array(); }
};

/// A task function.
using task_fn = std::function<nlohmann::json(task_context&, const nlohmann::json&)>;

/// A registered task: its function and defaults.
struct task_definition {
  std::string name;
  task_fn fn;
  std::string policy;      ///< default retry policy JSON; empty: cluster default
  std::string queue;       ///< default queue; empty: "default"
  double time_limit_s = 0; ///< default per-attempt limit; 0: none
};

/// Why `def` cannot be registered (empty or bad name, no function, bad
/// queue or time limit, a default policy that does not parse: an unknown key
/// such as "retry_onn", a wrong type), naming the task; nullopt when it can.
std::optional<std::string> check_task_definition(const task_definition& def);

/// The tasks one binary knows, by name.
class task_registry {
public:
  /// Registers `def`, replacing any earlier one of the same name. Throws
  /// std::invalid_argument with check_task_definition's message when `def`
  /// is bad, so a typo in a default policy stops the program at start
  /// instead of failing every submit of the task later.
  void add(task_definition def);

  /// Registers a function with no defaults (throws as above for a bad name).
  void add(const std::string& name, task_fn fn);

  /// The definition named `name`, or nullptr.
  const task_definition* find(const std::string& name) const;

  /// Every registered name, sorted.
  std::vector<std::string> names() const;

private:
  std::map<std::string, task_definition> defs_;
};

} // namespace taskrt

#pragma once
/// Tasks are C++ functions registered by name. A task receives its context and
/// its JSON arguments and returns a JSON result; it fails by throwing.

#include "taskrt/runtime/task.hpp"

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
  /// Limit keys every task of this name carries, besides the submit's own
  /// (templates allowed: "tenant:{args.tenant}").
  std::vector<std::string> limits;
};

/// Why `def` cannot be registered (empty or bad name, no function, bad
/// queue or time limit, a default policy that does not parse: an unknown key
/// such as "retry_onn", a wrong type), naming the task; nullopt when it can.
std::optional<std::string> check_task_definition(const task_definition& def);

/// A periodic schedule declared in code, so it ships with the task it runs:
/// the head upserts every declared schedule at start (its rule and task
/// settings; its state, paused or not and the next tick, stay unless the
/// rule changed). The fields mean what the options of `taskrt schedules add`
/// mean (docs/tasks.md, "Schedules"); exactly one of `cron` and `every`.
/// The head refuses to start when one is bad, naming it.
struct schedule_definition {
  std::string name;           ///< letters, digits, '.', '_', '-'
  std::string task;           ///< the registered task each tick submits
  std::string args = "{}";    ///< JSON text of its arguments
  std::string cron;           ///< 5 fields, or 6 with seconds first
  std::string every;          ///< "1s", "90s", "5m", "1h30m"
  std::string tz;             ///< IANA zone of the cron fields; empty: UTC
  std::string missed = "skip";    ///< skip | latest | all
  std::string catchup_window;     ///< duration; empty: no limit (missed = all)
  std::string overlap = "allow";  ///< allow | skip | buffer-one
  std::string jitter;             ///< duration; empty: none
  std::string queue;
  int32_t priority = 0;
  std::string policy;
  double time_limit_s = 0;
  std::string lock;
};

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

  /// Declares a schedule (replacing one of the same name); throws
  /// std::invalid_argument when it has no name or task, or not exactly one
  /// of cron and every. The rule itself is checked when the head starts.
  void add_schedule(schedule_definition def);

  /// The declared schedules, by name.
  const std::map<std::string, schedule_definition>& schedules() const { return schedules_; }

private:
  std::map<std::string, task_definition> defs_;
  std::map<std::string, schedule_definition> schedules_;
};

} // namespace taskrt

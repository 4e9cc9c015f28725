#pragma once
/// The retry policy engine: one JSON form, parsed once, evaluated on every
/// failed or lost attempt by the retry actor and by `taskrt retry-plan`.
///
/// JSON keys (all optional; unknown keys, wrong types and negative numbers are
/// errors naming the key, and nothing is half-applied):
///   retries          N | true | false   retry N times (N+1 attempts); true: forever
///   max_attempts     N                  attempts in all (not with "retries")
///   wait, linear_wait, exponential_wait, backoff, backoff_factor (default 2)
///   max_delay        cap in seconds
///   jitter           0..1, fraction the delay is reduced by at most
///   retry_on         [kinds]  allow-list (absent or empty: any error)
///   no_retry_on      [kinds]  deny-list
///   strategy         name of a strategy registered in C++
/// A policy that gives neither "retries" nor "max_attempts" allows 3 attempts.
/// A null value means "not given", except "max_attempts": null, which means
/// unbounded; so parse_retry_policy(p.to_json()) gives back p.
///
/// Delay before the retry that follows failed attempt n of the current budget,
/// with a = n − 1:
///   wait + linear_wait·(a+1) + exponential_wait^(a+1) + backoff·backoff_factor^a
/// (exponential term 0 when exponential_wait is 0), then capped by max_delay,
/// then reduced by jitter·u with u ∈ [0,1) drawn from a seed of (task id,
/// attempt). retry_at clamps at 9999-12-31T23:59:59Z.

#include "taskrt/runtime/task_error.hpp"
#include "taskrt/runtime/time.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace taskrt {

/// A parsed, validated retry policy.
struct retry_policy {
  /// Attempts in all within one budget; nullopt means unbounded.
  std::optional<int64_t> max_attempts = 3;
  double wait = 0;
  double linear_wait = 0;
  double exponential_wait = 0;
  double backoff = 0;
  double backoff_factor = 2;
  std::optional<double> max_delay;
  double jitter = 0;
  std::vector<std::string> retry_on;
  std::vector<std::string> no_retry_on;
  std::string strategy; ///< empty: the built-in computation
  nlohmann::json source; ///< the JSON it was parsed from

  /// The cluster default (django-ray's): max_attempts 3, backoff 60.
  static retry_policy cluster_default();

  /// The policy as normalised JSON (every key, defaults filled in).
  nlohmann::json to_json() const;
};

/// Parses and validates a policy. Returns the error message on failure,
/// naming the offending key.
std::variant<retry_policy, std::string> parse_retry_policy(const nlohmann::json& j);

/// Parses a policy from JSON text (parse errors are reported the same way).
std::variant<retry_policy, std::string> parse_retry_policy(const std::string& text);

/// Parses a policy from JSON text; keeps `parse_retry_policy("{...}")`
/// unambiguous between the two overloads above.
std::variant<retry_policy, std::string> parse_retry_policy(const char* text);

/// One earlier attempt, as a custom strategy sees it.
struct attempt_record {
  int32_t attempt = 0;
  std::string outcome; ///< "failed", "lost", "succeeded", "cancelled"
  std::string error_kind;
};

/// Everything a retry decision depends on. The journal stores it beside the
/// decision.
struct failure_input {
  int64_t task_id = 0;
  int32_t attempt = 1;    ///< the attempt that failed (grows forever)
  int32_t retry_base = 0; ///< attempts before the current budget (manual retry)
  error_info error;
  timestamp failed_at;
  int32_t priority = 0;
  std::string queue;
  std::string lock;
  std::vector<attempt_record> history;

  /// Attempt number within the current budget (1-based).
  int32_t budget_attempt() const { return attempt - retry_base; }
};

/// What a custom strategy returns when it wants a retry. Set exactly one of
/// retry_in (seconds) and retry_at.
struct strategy_decision {
  std::optional<double> retry_in;
  std::optional<timestamp> retry_at;
  std::optional<int32_t> priority;
  std::optional<std::string> queue;
  std::optional<std::string> lock;
};

/// A custom strategy: nullopt means do not retry.
using retry_strategy = std::function<std::optional<strategy_decision>(
  const failure_input&, const retry_policy&)>;

/// Named custom strategies, registered in C++ at start-up.
class strategy_registry {
public:
  /// Registers (or replaces) a strategy under `name`.
  void add(const std::string& name, retry_strategy fn);

  /// The strategy named `name`, or nullptr.
  const retry_strategy* find(const std::string& name) const;

  /// Every registered name, sorted.
  std::vector<std::string> names() const;

private:
  std::map<std::string, retry_strategy> strategies_;
};

/// The outcome of evaluating a policy for one failure.
struct retry_decision {
  bool retry = false;
  double delay_s = 0;     ///< only when retry
  timestamp retry_at;     ///< only when retry
  std::optional<int32_t> priority;
  std::optional<std::string> queue;
  std::optional<std::string> lock;
  std::string reason;     ///< why: "retry 2 of 3", "error kind X is in no_retry_on", ...

  /// {"decision":"retry"|"give_up","delay_s":..,"retry_at":..,"reason":..,...}
  nlohmann::json to_json() const;
};

/// Evaluates `policy` for `in`. Never throws: a failing strategy (unknown
/// name, exception, both retry_in and retry_at) gives up with the reason.
retry_decision decide_retry(const retry_policy& policy, const failure_input& in,
                            const strategy_registry& strategies);

/// The built-in delay in seconds after failed budget attempt `n` (1-based),
/// before jitter: max_delay applies.
double base_delay(const retry_policy& policy, int32_t n);

/// Seconds as people read them in reasons and tables: "5s", "0.25s",
/// "31536000000s" (fixed notation, at most 3 decimals).
std::string seconds_text(double s);

/// True when a failure of budget attempt `budget_attempt` would not be retried
/// because the count is exhausted.
bool is_last_attempt(const retry_policy& policy, int32_t budget_attempt);

} // namespace taskrt

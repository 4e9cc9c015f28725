#include "taskrt/runtime/retry_policy.hpp"

#include "taskrt/runtime/limits.hpp"

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

namespace taskrt {

namespace {

using json = nlohmann::json;

const char* const known_keys[] = {
  "retries", "max_attempts", "wait", "linear_wait", "exponential_wait",
  "backoff", "backoff_factor", "max_delay", "jitter", "retry_on",
  "no_retry_on", "strategy",
};

std::string quoted(const std::string& key) {
  return "retry policy: \"" + key + "\"";
}

/// Largest backoff factor accepted.
constexpr double max_backoff_factor = 1000;

/// Reads a finite non-negative number; returns an error message or nothing.
std::optional<std::string> read_seconds(const json& j, const char* key, double& out) {
  if (!j.contains(key))
    return std::nullopt;
  const auto& v = j.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
    return quoted(key) + " must be a non-negative number, got " + v.dump();
  // A bigger number is a mistake, not a plan (and overflows timestamps).
  const bool factor = std::string{key} == "backoff_factor";
  if (v.get<double>() > (factor ? max_backoff_factor : max_seconds))
    return quoted(key) + (factor ? " must be at most 1000, got "
                                 : " must be at most 3153600000 (100 years), got ")
           + v.dump();
  out = v.get<double>();
  return std::nullopt;
}

std::optional<std::string> read_kinds(const json& j, const char* key,
                                      std::vector<std::string>& out) {
  if (!j.contains(key))
    return std::nullopt;
  const auto& v = j.at(key);
  if (!v.is_array())
    return quoted(key) + " must be an array of error kinds, got " + v.dump();
  for (const auto& k : v) {
    if (!k.is_string() || k.get<std::string>().empty())
      return quoted(key) + " must contain non-empty strings, got " + k.dump();
    out.push_back(k.get<std::string>());
  }
  return std::nullopt;
}

/// Attempt numbers are int32 on the wire and in the journal.
constexpr int64_t max_count = std::numeric_limits<int32_t>::max();

/// A JSON integer (or a float with no fractional part) as int64, if in range.
std::optional<int64_t> read_count(const json& v) {
  if (v.is_number_unsigned())
    return v.get<uint64_t>() <= static_cast<uint64_t>(max_count)
             ? std::optional<int64_t>{static_cast<int64_t>(v.get<uint64_t>())}
             : std::nullopt;
  if (v.is_number_integer())
    return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= static_cast<double>(max_count))
      return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

/// A deterministic u in [0, 1) from (task id, attempt): splitmix64.
double unit_hash(int64_t task_id, int32_t attempt) {
  uint64_t z = static_cast<uint64_t>(task_id) * 0x9E3779B97F4A7C15ull
               + static_cast<uint64_t>(static_cast<uint32_t>(attempt));
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}


/// "attempt 2 of 3 failed" or, unbounded, "attempt 2 failed (no attempt limit)".
std::string failed_text(const retry_policy& p, int32_t n) {
  if (p.max_attempts)
    return "attempt " + std::to_string(n) + " of " + std::to_string(*p.max_attempts)
           + " failed";
  return "attempt " + std::to_string(n) + " failed (no attempt limit)";
}

retry_decision give_up(std::string reason) {
  retry_decision d;
  d.retry = false;
  d.reason = std::move(reason);
  return d;
}

/// Caps `delay` with max_delay and turns it into a decision at failed_at + delay.
retry_decision retry_in(const retry_policy& p, const failure_input& in, double delay,
                        std::string reason) {
  if (std::isnan(delay) || delay == std::numeric_limits<double>::infinity())
    delay = std::numeric_limits<double>::max(); // overflowed: as late as it gets
  if (delay < 0)
    delay = 0; // a strategy asked for a time in the past: now
  if (p.max_delay && delay > *p.max_delay)
    delay = *p.max_delay;
  // Past 9999-12-31T23:59:59Z the retry time clamps; so does the delay shown.
  const double room
    = std::chrono::duration<double>(max_timestamp() - in.failed_at).count();
  if (delay > room)
    delay = std::max(0.0, room);
  retry_decision d;
  d.retry = true;
  d.delay_s = delay;
  d.retry_at = add_seconds_clamped(in.failed_at, delay);
  d.reason = std::move(reason) + "; retry in " + seconds_text(delay);
  return d;
}

} // namespace

std::string seconds_text(double s) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(3) << s;
  auto text = os.str();
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.')
    text.pop_back();
  return text + "s";
}

retry_policy retry_policy::cluster_default() {
  retry_policy p;
  p.max_attempts = 3;
  p.backoff = 60;
  p.source = {{"max_attempts", 3}, {"backoff", 60}};
  return p;
}

json retry_policy::to_json() const {
  json j = {{"max_attempts", max_attempts ? json(*max_attempts) : json(nullptr)},
            {"wait", wait},
            {"linear_wait", linear_wait},
            {"exponential_wait", exponential_wait},
            {"backoff", backoff},
            {"backoff_factor", backoff_factor},
            {"max_delay", max_delay ? json(*max_delay) : json(nullptr)},
            {"jitter", jitter},
            {"retry_on", retry_on},
            {"no_retry_on", no_retry_on},
            {"strategy", strategy.empty() ? json(nullptr) : json(strategy)}};
  return j;
}

std::variant<retry_policy, std::string> parse_retry_policy(const json& source) {
  if (!source.is_object())
    return std::string{"retry policy: must be a JSON object, got "} + source.dump();
  // null stands for "not given" (to_json writes null for absent values), except
  // that "max_attempts": null means unbounded.
  json j = json::object();
  bool unbounded = false;
  for (auto it = source.begin(); it != source.end(); ++it) {
    bool known = false;
    for (const char* k : known_keys)
      known = known || it.key() == k;
    if (!known) {
      std::string names;
      for (const char* k : known_keys)
        names += std::string{names.empty() ? "" : ", "} + k;
      return "retry policy: unknown key \"" + it.key() + "\" (known keys: " + names + ")";
    }
    if (!it.value().is_null())
      j[it.key()] = it.value();
    else if (it.key() == "max_attempts")
      unbounded = true;
  }
  retry_policy p;
  p.source = source;
  if (source.contains("retries") && source.contains("max_attempts"))
    return std::string{"retry policy: give \"retries\" or \"max_attempts\", not both"};
  if (unbounded)
    p.max_attempts = std::nullopt;
  if (j.contains("retries")) {
    const auto& v = j.at("retries");
    if (v.is_boolean())
      p.max_attempts = v.get<bool>() ? std::nullopt : std::optional<int64_t>{1};
    else if (auto n = read_count(v); n && *n >= 0 && *n < max_count)
      p.max_attempts = *n + 1;
    else
      return quoted("retries") + " must be true, false or an integer from 0 to "
             + std::to_string(max_count - 1) + ", got " + v.dump();
  }
  if (j.contains("max_attempts")) {
    const auto& v = j.at("max_attempts");
    auto n = read_count(v);
    if (!n || *n < 1 || *n > max_count)
      return quoted("max_attempts") + " must be an integer from 1 to "
             + std::to_string(max_count) + " (or null: unbounded), got " + v.dump();
    p.max_attempts = *n;
  }
  if (j.contains("jitter") && j.at("jitter").is_number() && j.at("jitter").get<double>() < 0)
    return quoted("jitter") + " must be a number from 0 to 1, got " + j.at("jitter").dump();
  for (auto [key, field] : {std::pair{"wait", &p.wait},
                            std::pair{"linear_wait", &p.linear_wait},
                            std::pair{"exponential_wait", &p.exponential_wait},
                            std::pair{"backoff", &p.backoff},
                            std::pair{"backoff_factor", &p.backoff_factor},
                            std::pair{"jitter", &p.jitter}})
    if (auto err = read_seconds(j, key, *field))
      return *err;
  if (p.backoff_factor < 1)
    return quoted("backoff_factor") + " must be >= 1 (a factor below 1 would shrink "
                                      "the delay on every retry), got "
           + j.at("backoff_factor").dump();
  if (p.jitter > 1)
    return quoted("jitter") + " must be a number from 0 to 1 (the largest fraction "
                              "the delay is reduced by), got "
           + j.at("jitter").dump();
  if (j.contains("max_delay")) {
    double cap = 0;
    if (auto err = read_seconds(j, "max_delay", cap))
      return *err;
    p.max_delay = cap;
  }
  if (auto err = read_kinds(j, "retry_on", p.retry_on))
    return *err;
  if (auto err = read_kinds(j, "no_retry_on", p.no_retry_on))
    return *err;
  if (j.contains("strategy")) {
    const auto& v = j.at("strategy");
    if (!v.is_string() || v.get<std::string>().empty())
      return quoted("strategy") + " must be the name of a registered strategy, got "
             + v.dump();
    p.strategy = v.get<std::string>();
  }
  return p;
}

std::variant<retry_policy, std::string> parse_retry_policy(const char* text) {
  return parse_retry_policy(std::string{text ? text : ""});
}

std::variant<retry_policy, std::string> parse_retry_policy(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at ..." (or
    // out_of_range.406 "number overflow parsing '1e400'").
    std::string detail = e.what();
    if (auto pos = detail.find("] "); pos != std::string::npos)
      detail.erase(0, pos + 2);
    return "retry policy: invalid JSON (" + detail + ")";
  }
  return parse_retry_policy(j);
}

void strategy_registry::add(const std::string& name, retry_strategy fn) {
  strategies_[name] = std::move(fn);
}

const retry_strategy* strategy_registry::find(const std::string& name) const {
  auto i = strategies_.find(name);
  return i == strategies_.end() ? nullptr : &i->second;
}

std::vector<std::string> strategy_registry::names() const {
  std::vector<std::string> out;
  for (const auto& kv : strategies_)
    out.push_back(kv.first);
  return out;
}

json retry_decision::to_json() const {
  json j = {{"decision", retry ? "retry" : "give_up"}, {"reason", reason}};
  if (retry) {
    j["delay_s"] = delay_s;
    j["retry_at"] = to_rfc3339(retry_at);
  }
  if (priority)
    j["priority"] = *priority;
  if (queue)
    j["queue"] = *queue;
  if (lock)
    j["lock"] = *lock;
  return j;
}

double base_delay(const retry_policy& p, int32_t n) {
  const double a = std::max(0, n - 1);
  double d = p.wait + p.linear_wait * (a + 1);
  if (p.exponential_wait > 0)
    d += std::pow(p.exponential_wait, a + 1);
  if (p.backoff > 0)
    d += p.backoff * std::pow(p.backoff_factor, a);
  if (!std::isfinite(d))
    d = std::numeric_limits<double>::max();
  if (p.max_delay && d > *p.max_delay)
    d = *p.max_delay;
  return d;
}

bool is_last_attempt(const retry_policy& p, int32_t budget_attempt) {
  return p.max_attempts && budget_attempt >= *p.max_attempts;
}

retry_decision decide_retry(const retry_policy& p, const failure_input& in,
                            const strategy_registry& strategies) {
  const int32_t n = in.budget_attempt();
  if (is_last_attempt(p, n))
    return give_up("no attempts left (" + std::to_string(n) + " of "
                   + std::to_string(*p.max_attempts) + " used)");
  for (const auto& k : p.no_retry_on)
    if (in.error.is_a(k))
      return give_up("error kind " + in.error.kind + " matches no_retry_on entry " + k);
  if (!p.retry_on.empty()) {
    bool allowed = false;
    for (const auto& k : p.retry_on)
      allowed = allowed || in.error.is_a(k);
    if (!allowed)
      return give_up("error kind " + in.error.kind + " is not in retry_on");
  }
  const std::string count = failed_text(p, n);
  if (!p.strategy.empty()) {
    const auto* fn = strategies.find(p.strategy);
    if (!fn)
      return give_up("unknown retry strategy '" + p.strategy + "'");
    std::optional<strategy_decision> sd;
    try {
      sd = (*fn)(in, p);
    } catch (const std::exception& e) {
      return give_up("retry strategy '" + p.strategy + "' threw: " + e.what());
    } catch (...) {
      return give_up("retry strategy '" + p.strategy + "' threw a non-std exception");
    }
    if (!sd)
      return give_up("strategy declined: '" + p.strategy + "' returned no retry");
    if (sd->retry_in && sd->retry_at)
      return give_up("retry strategy '" + p.strategy
                     + "': set retry_in or retry_at, not both");
    if (!sd->retry_in && !sd->retry_at)
      return give_up("retry strategy '" + p.strategy
                     + "' returned a decision with neither retry_in nor retry_at");
    double delay = sd->retry_in
                     ? *sd->retry_in
                     : std::chrono::duration<double>(*sd->retry_at - in.failed_at).count();
    auto d = retry_in(p, in, std::max(0.0, delay), count + "; strategy " + p.strategy);
    d.priority = sd->priority;
    d.queue = sd->queue;
    d.lock = sd->lock;
    if (d.queue)
      d.reason += " on queue " + *d.queue;
    if (d.priority)
      d.reason += " with priority " + std::to_string(*d.priority);
    if (d.lock)
      d.reason += " under lock " + *d.lock;
    return d;
  }
  double delay = base_delay(p, n);
  if (p.jitter > 0)
    delay *= 1.0 - p.jitter * unit_hash(in.task_id, in.attempt);
  return retry_in(p, in, delay, count);
}

} // namespace taskrt

/// The retry policy engine: parsing and every error case, attempt counts,
/// delay series, caps and clamps, allow/deny lists, custom strategies,
/// jitter replay and the manual retry budget.

#include "taskrt/runtime/retry_policy.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <set>

using namespace taskrt;
using json = nlohmann::json;

namespace {

const timestamp t0 = from_micros(1'767'225'600'000'000); // 2026-01-01T00:00:00Z

retry_policy policy(const std::string& text) {
  auto parsed = parse_retry_policy(text);
  if (auto err = std::get_if<std::string>(&parsed))
    FAIL("unexpected parse error: " << *err);
  return std::get<retry_policy>(parsed);
}

std::string parse_error_of(const json& j) {
  auto parsed = parse_retry_policy(j);
  REQUIRE(std::holds_alternative<std::string>(parsed));
  return std::get<std::string>(parsed);
}

std::string parse_error(const std::string& text) {
  auto parsed = parse_retry_policy(text);
  REQUIRE(std::holds_alternative<std::string>(parsed));
  return std::get<std::string>(parsed);
}

failure_input failure(int32_t attempt, const std::string& kind = "error",
                      int64_t task_id = 1) {
  failure_input in;
  in.task_id = task_id;
  in.attempt = attempt;
  in.error = error_info_for_kind(kind);
  in.failed_at = t0;
  in.queue = "default";
  return in;
}

const strategy_registry no_strategies;

retry_decision decide(const retry_policy& p, int32_t attempt,
                      const std::string& kind = "error") {
  return decide_retry(p, failure(attempt, kind), no_strategies);
}

/// Delays of attempts 1..n, which must all be retried.
std::vector<double> delays(const retry_policy& p, int32_t n) {
  std::vector<double> out;
  for (int32_t a = 1; a <= n; ++a) {
    auto d = decide(p, a);
    REQUIRE(d.retry);
    out.push_back(d.delay_s);
  }
  return out;
}

using doubles = std::vector<double>;

} // namespace

// -- parsing -----------------------------------------------------------------

TEST_CASE("an empty policy has the documented defaults", "[retry_policy]") {
  auto p = policy("{}");
  CHECK(p.max_attempts == 3);
  CHECK(p.wait == 0);
  CHECK(p.linear_wait == 0);
  CHECK(p.exponential_wait == 0);
  CHECK(p.backoff == 0);
  CHECK(p.backoff_factor == 2);
  CHECK_FALSE(p.max_delay);
  CHECK(p.jitter == 0);
  CHECK(p.retry_on.empty());
  CHECK(p.no_retry_on.empty());
  CHECK(p.strategy.empty());
}

TEST_CASE("every key parses", "[retry_policy]") {
  auto p = policy(R"({"max_attempts":4,"wait":1,"linear_wait":2,"exponential_wait":3,
    "backoff":4,"backoff_factor":1.5,"max_delay":100,"jitter":0.5,
    "retry_on":["a","b"],"no_retry_on":["c"],"strategy":"s"})");
  CHECK(p.max_attempts == 4);
  CHECK(p.wait == 1);
  CHECK(p.linear_wait == 2);
  CHECK(p.exponential_wait == 3);
  CHECK(p.backoff == 4);
  CHECK(p.backoff_factor == 1.5);
  CHECK(p.max_delay == 100.0);
  CHECK(p.jitter == 0.5);
  CHECK(p.retry_on == std::vector<std::string>{"a", "b"});
  CHECK(p.no_retry_on == std::vector<std::string>{"c"});
  CHECK(p.strategy == "s");
  CHECK(p.source.at("max_attempts") == 4);
}

TEST_CASE("retries counts retries, max_attempts counts attempts", "[retry_policy]") {
  CHECK(policy(R"({"retries":5})").max_attempts == 6);
  CHECK(policy(R"({"retries":0})").max_attempts == 1);
  CHECK(policy(R"({"retries":false})").max_attempts == 1);
  CHECK_FALSE(policy(R"({"retries":true})").max_attempts);
  CHECK(policy(R"({"max_attempts":1})").max_attempts == 1);
  CHECK(policy(R"({"max_attempts":7})").max_attempts == 7);
  CHECK(policy(R"({"retries":2.0})").max_attempts == 3);
}

TEST_CASE("policy errors name the key and apply nothing", "[retry_policy]") {
  using Catch::Contains;
  using Catch::StartsWith;
  CHECK(parse_error(R"({"wait":"5"})")
        == R"(retry policy: "wait" must be a non-negative number, got "5")");
  CHECK(parse_error(R"({"wait":-1})")
        == R"(retry policy: "wait" must be a non-negative number, got -1)");
  for (const char* key : {"linear_wait", "exponential_wait", "backoff", "max_delay"}) {
    INFO(key);
    CHECK_THAT(parse_error_of(json{{key, -0.5}}), Contains(std::string{"\""} + key + "\""));
    CHECK_THAT(parse_error_of(json{{key, true}}), Contains(std::string{"\""} + key + "\""));
    CHECK_THAT(parse_error_of(json{{key, json::array()}}),
               Contains(std::string{"\""} + key + "\""));
  }
  CHECK_THAT(parse_error(R"({"retries":3,"max_attempts":4})"),
             Contains("\"retries\"") && Contains("\"max_attempts\"") && Contains("not both"));
  CHECK_THAT(parse_error(R"({"retries":-1})"), Contains("\"retries\""));
  CHECK_THAT(parse_error(R"({"retries":"3"})"), Contains("\"retries\"") && Contains("\"3\""));
  CHECK_THAT(parse_error(R"({"retries":1.5})"), Contains("\"retries\""));
  CHECK_THAT(parse_error(R"({"retries":1e12})"), Contains("\"retries\""));
  CHECK_THAT(parse_error(R"({"max_attempts":0})"), Contains("\"max_attempts\""));
  CHECK_THAT(parse_error(R"({"max_attempts":true})"), Contains("\"max_attempts\""));
  CHECK_THAT(parse_error(R"({"max_attempts":99999999999})"), Contains("\"max_attempts\""));
  CHECK_THAT(parse_error(R"({"jitter":1.5})"), Contains("\"jitter\"") && Contains("0 to 1"));
  CHECK_THAT(parse_error(R"({"jitter":-0.1})"), Contains("\"jitter\"") && Contains("0 to 1"));
  CHECK_THAT(parse_error(R"({"backoff_factor":0.5})"),
             Contains("\"backoff_factor\"") && Contains(">= 1") && Contains("shrink"));
  CHECK_THAT(parse_error(R"({"retry_on":"ValueError"})"), Contains("\"retry_on\""));
  CHECK_THAT(parse_error(R"({"retry_on":[1]})"), Contains("\"retry_on\""));
  CHECK_THAT(parse_error(R"({"no_retry_on":[""]})"), Contains("\"no_retry_on\""));
  CHECK_THAT(parse_error(R"({"strategy":5})"), Contains("\"strategy\""));
  CHECK_THAT(parse_error(R"({"strategy":""})"), Contains("\"strategy\""));
  CHECK_THAT(parse_error(R"({"retires":3})"), Contains("unknown key") && Contains("\"retires\""));
  // NaN and infinity cannot be written in JSON text but can be built in C++.
  CHECK_THAT(parse_error_of(json{{"wait", std::numeric_limits<double>::quiet_NaN()}}),
             Contains("\"wait\""));
  CHECK_THAT(parse_error_of(json{{"backoff", std::numeric_limits<double>::infinity()}}),
             Contains("\"backoff\""));
  CHECK_THAT(parse_error_of(json{{"jitter", std::numeric_limits<double>::quiet_NaN()}}),
             Contains("\"jitter\""));
  // Every message says where it comes from.
  CHECK_THAT(parse_error(R"({"wait":"x"})"), StartsWith("retry policy: "));
}

TEST_CASE("non-objects and broken JSON are rejected", "[retry_policy]") {
  using Catch::StartsWith;
  for (const char* text : {"[]", "3", "\"retries\"", "null", "true"}) {
    INFO(text);
    CHECK_THAT(parse_error(std::string{text}), StartsWith("retry policy: must be a JSON object"));
  }
  for (const char* text : {"", "{", "{\"wait\":}", "{wait:5}", "{\"wait\":5,}"}) {
    INFO(text);
    CHECK_THAT(parse_error(std::string{text}), StartsWith("retry policy: invalid JSON"));
  }
}

TEST_CASE("to_json is normalised and parses back to the same policy", "[retry_policy]") {
  for (const char* text :
       {"{}", R"({"retries":true,"wait":5})", R"({"retries":0})",
        R"({"max_attempts":5,"backoff":60,"backoff_factor":3,"max_delay":600,"jitter":0.25})",
        R"({"retries":3,"retry_on":["a"],"no_retry_on":["b"],"strategy":"escalate"})"}) {
    INFO(text);
    auto p = policy(text);
    auto j = p.to_json();
    for (const char* key : {"max_attempts", "wait", "linear_wait", "exponential_wait",
                            "backoff", "backoff_factor", "max_delay", "jitter", "retry_on",
                            "no_retry_on", "strategy"})
      CHECK(j.contains(key));
    CHECK_FALSE(j.contains("retries"));
    auto back = parse_retry_policy(j);
    REQUIRE(std::holds_alternative<retry_policy>(back));
    CHECK(std::get<retry_policy>(back).to_json() == j);
    CHECK(std::get<retry_policy>(back).max_attempts == p.max_attempts);
  }
  CHECK(policy(R"({"retries":true})").to_json().at("max_attempts").is_null());
  CHECK(policy(R"({"retries":5})").to_json().at("max_attempts") == 6);
  CHECK(policy("{}").to_json().at("max_delay").is_null());
  CHECK(policy("{}").to_json().at("strategy").is_null());
}

// -- attempt counts --------------------------------------------------------------

TEST_CASE("retries=5 allows 6 attempts", "[retry_policy]") {
  auto p = policy(R"({"retries":5,"wait":1})");
  for (int32_t a = 1; a <= 5; ++a) {
    INFO("attempt " << a);
    CHECK(decide(p, a).retry);
    CHECK_FALSE(is_last_attempt(p, a));
  }
  auto last = decide(p, 6);
  CHECK_FALSE(last.retry);
  CHECK(last.reason == "no attempts left (6 of 6 used)");
  CHECK(is_last_attempt(p, 6));
  CHECK(is_last_attempt(p, 7));
}

TEST_CASE("retries=true retries forever", "[retry_policy]") {
  auto p = policy(R"({"retries":true,"wait":5})");
  for (int32_t a : {1, 2, 10, 1000, 1'000'000}) {
    auto d = decide(p, a);
    CHECK(d.retry);
    CHECK(d.delay_s == 5);
    CHECK_FALSE(is_last_attempt(p, a));
  }
  CHECK_THAT(decide(p, 1000).reason, Catch::Contains("attempt 1000"));
}

TEST_CASE("retries=false and retries=0 never retry", "[retry_policy]") {
  for (const char* text : {R"({"retries":false})", R"({"retries":0})", R"({"max_attempts":1})"}) {
    auto p = policy(text);
    auto d = decide(p, 1);
    CHECK_FALSE(d.retry);
    CHECK(d.reason == "no attempts left (1 of 1 used)");
    CHECK(is_last_attempt(p, 1));
  }
}

// -- delays ------------------------------------------------------------------------

TEST_CASE("the documented delay series", "[retry_policy]") {
  CHECK(delays(policy(R"({"retries":5,"wait":5})"), 3) == doubles{5, 5, 5});
  CHECK(delays(policy(R"({"retries":5,"linear_wait":5})"), 3) == doubles{5, 10, 15});
  CHECK(delays(policy(R"({"retries":5,"exponential_wait":5})"), 3) == doubles{5, 25, 125});
  CHECK(delays(policy(R"({"retries":5,"backoff":60})"), 3) == doubles{60, 120, 240});
  CHECK(delays(policy(R"({"retries":5,"backoff":10,"backoff_factor":3})"), 3)
        == doubles{10, 30, 90});
  CHECK(delays(policy(R"({"retries":5,"backoff":10,"backoff_factor":1})"), 3)
        == doubles{10, 10, 10});
  // The terms add up.
  CHECK(delays(policy(R"({"retries":5,"wait":1,"linear_wait":2,"exponential_wait":3,
                         "backoff":4})"), 3)
        == doubles{1 + 2 + 3 + 4, 1 + 4 + 9 + 8, 1 + 6 + 27 + 16});
  // No terms: retry at once.
  CHECK(delays(policy(R"({"retries":2})"), 2) == doubles{0, 0});
  CHECK(base_delay(policy(R"({"linear_wait":5})"), 3) == 15);
}

TEST_CASE("retry_at is failed_at plus the delay, and the reason says so", "[retry_policy]") {
  auto d = decide(policy(R"({"retries":3,"wait":5})"), 1);
  REQUIRE(d.retry);
  CHECK(to_rfc3339(d.retry_at) == "2026-01-01T00:00:05Z");
  CHECK(d.reason == "attempt 1 of 4 failed; retry in 5s");
  auto frac = decide(policy(R"({"wait":0.25})"), 1);
  CHECK(to_rfc3339(frac.retry_at) == "2026-01-01T00:00:00.250000Z");
  CHECK(frac.reason == "attempt 1 of 3 failed; retry in 0.25s");
}

TEST_CASE("max_delay caps the delay", "[retry_policy]") {
  CHECK(delays(policy(R"({"retries":5,"backoff":60,"max_delay":100})"), 4)
        == doubles{60, 100, 100, 100});
  CHECK(base_delay(policy(R"({"exponential_wait":10,"max_delay":500})"), 5) == 500);
  CHECK(delays(policy(R"({"retries":2,"wait":30,"max_delay":0})"), 2) == doubles{0, 0});
}

TEST_CASE("the cluster default: 60 s, 120 s, then give up", "[retry_policy]") {
  auto p = retry_policy::cluster_default();
  CHECK(p.max_attempts == 3);
  CHECK(p.backoff == 60);
  auto first = decide(p, 1);
  REQUIRE(first.retry);
  CHECK(first.delay_s == 60);
  CHECK(to_rfc3339(first.retry_at) == "2026-01-01T00:01:00Z");
  auto second = decide(p, 2);
  REQUIRE(second.retry);
  CHECK(second.delay_s == 120);
  CHECK(second.reason == "attempt 2 of 3 failed; retry in 120s");
  auto third = decide(p, 3);
  CHECK_FALSE(third.retry);
  CHECK(third.reason == "no attempts left (3 of 3 used)");
  // The same as parsing it.
  CHECK(policy(R"({"max_attempts":3,"backoff":60})").to_json() == p.to_json());
}

TEST_CASE("huge delays clamp at 9999-12-31T23:59:59Z without overflow", "[retry_policy]") {
  auto p = policy(R"({"retries":true,"exponential_wait":1e6})");
  for (int32_t a : {1, 10, 60, 100, 1000, 100000}) {
    INFO("attempt " << a);
    auto d = decide(p, a);
    REQUIRE(d.retry);
    CHECK(std::isfinite(d.delay_s));
    CHECK(d.delay_s >= 0);
    if (a >= 60)
      CHECK(to_rfc3339(d.retry_at) == "9999-12-31T23:59:59Z");
    CHECK(d.retry_at <= max_timestamp());
  }
  auto huge_backoff = policy(R"({"retries":true,"backoff":3153600000,"backoff_factor":1000})");
  auto d = decide(huge_backoff, 50);
  CHECK(d.retry_at == max_timestamp());
  CHECK(std::isfinite(d.delay_s));
  // With max_delay the cap wins over the clamp.
  auto capped = policy(R"({"retries":true,"exponential_wait":1e6,"max_delay":3600})");
  auto c = decide(capped, 1000);
  CHECK(c.delay_s == 3600);
  CHECK(to_rfc3339(c.retry_at) == "2026-01-01T01:00:00Z");
  // Failing right at the end of time still gives a valid decision.
  auto late = failure(1);
  late.failed_at = max_timestamp();
  auto e = decide_retry(policy(R"({"wait":5})"), late, no_strategies);
  CHECK(e.retry_at == max_timestamp());
  CHECK(e.delay_s == 0);
}

TEST_CASE("jitter is replayable and within bounds", "[retry_policy]") {
  auto p = policy(R"({"retries":true,"wait":100,"jitter":0.5})");
  std::set<double> seen;
  for (int64_t task : {1, 2, 3, 42, 1'000'000'007}) {
    for (int32_t a = 1; a <= 20; ++a) {
      auto in = failure(a, "error", task);
      auto d1 = decide_retry(p, in, no_strategies);
      auto d2 = decide_retry(p, in, no_strategies);
      REQUIRE(d1.retry);
      CHECK(d1.delay_s == d2.delay_s); // same inputs, same delay
      CHECK(d1.retry_at == d2.retry_at);
      CHECK(d1.delay_s <= 100);
      CHECK(d1.delay_s >= 50);
      seen.insert(d1.delay_s);
    }
  }
  CHECK(seen.size() > 90); // 100 draws: different attempts/tasks, different delays
  auto a = decide_retry(p, failure(1, "error", 7), no_strategies);
  auto b = decide_retry(p, failure(2, "error", 7), no_strategies);
  auto c = decide_retry(p, failure(1, "error", 8), no_strategies);
  CHECK(a.delay_s != b.delay_s);
  CHECK(a.delay_s != c.delay_s);
  // jitter applies after max_delay.
  auto capped = policy(R"({"retries":true,"backoff":60,"max_delay":100,"jitter":1})");
  for (int32_t n = 1; n <= 10; ++n) {
    auto d = decide_retry(capped, failure(n), no_strategies);
    CHECK(d.delay_s <= 100);
    CHECK(d.delay_s > 0);
  }
  // No jitter: exact.
  CHECK(decide(policy(R"({"wait":100})"), 1).delay_s == 100);
}

// -- allow and deny lists -------------------------------------------------------------

TEST_CASE("retry_on is an allow-list with ancestry", "[retry_policy]") {
  auto p = policy(R"({"retries":5,"wait":1,"retry_on":["std::runtime_error","TimeoutError"]})");
  CHECK(decide(p, 1, "std::runtime_error").retry);
  CHECK(decide(p, 1, "std::overflow_error").retry); // child of runtime_error
  CHECK(decide(p, 1, "TimeoutError").retry);
  auto no = decide(p, 1, "ValueError");
  CHECK_FALSE(no.retry);
  CHECK(no.reason == "error kind ValueError is not in retry_on");
  CHECK_FALSE(decide(p, 1, "std::invalid_argument").retry);
  // Absent or empty: any error.
  CHECK(decide(policy(R"({"retry_on":[]})"), 1, "Anything").retry);
  CHECK(decide(policy("{}"), 1, "Anything").retry);
}

namespace ops {
struct TransientError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ConnectionReset : TransientError {
  using TransientError::TransientError;
};
struct BadInput : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
} // namespace ops

/// The failure of attempt `attempt` as the worker records it from `throw_it`.
template <class F>
failure_input thrown(int32_t attempt, F&& throw_it) {
  auto in = failure(attempt);
  try {
    throw_it();
  } catch (...) {
    in.error = classify_exception(std::current_exception());
  }
  return in;
}

TEST_CASE("retry_on / no_retry_on match a team's own subclasses (ops::)", "[retry_policy]") {
  auto p = policy(R"({"retries":5,"wait":1,"retry_on":["ops::TransientError"],
                      "no_retry_on":["ops::BadInput"]})");
  auto reset = decide_retry(p, thrown(1, [] { throw ops::ConnectionReset{"reset"}; }),
                            no_strategies);
  CHECK(reset.retry);
  auto bad = decide_retry(p, thrown(1, [] { throw ops::BadInput{"x"}; }), no_strategies);
  CHECK_FALSE(bad.retry);
  CHECK(bad.reason == "error kind ops::BadInput matches no_retry_on entry ops::BadInput");
  auto other = decide_retry(p, thrown(1, [] { throw std::runtime_error{"r"}; }),
                            no_strategies);
  CHECK_FALSE(other.retry);
  auto deny = policy(R"({"retries":5,"no_retry_on":["ops::TransientError"]})");
  CHECK_FALSE(decide_retry(deny, thrown(1, [] { throw ops::ConnectionReset{"reset"}; }),
                           no_strategies)
                .retry);
}

TEST_CASE("no_retry_on is a deny-list with ancestry, and deny wins", "[retry_policy]") {
  auto p = policy(R"({"retries":5,"no_retry_on":["std::logic_error"]})");
  auto d = decide(p, 1, "std::invalid_argument");
  CHECK_FALSE(d.retry);
  CHECK(d.reason
        == "error kind std::invalid_argument matches no_retry_on entry std::logic_error");
  CHECK(decide(p, 1, "std::runtime_error").retry);
  CHECK(decide(p, 1, "KeyError").retry);

  auto both = policy(R"({"retries":5,"retry_on":["std::exception"],
                         "no_retry_on":["std::out_of_range"]})");
  CHECK(decide(both, 1, "std::length_error").retry);
  CHECK_FALSE(decide(both, 1, "std::out_of_range").retry);

  // A task_error's declared parents count too.
  failure_input in = failure(1);
  in.error = error_info{"payments.PermanentError", {"payments.Error"}, "", ""};
  auto deny = policy(R"({"no_retry_on":["payments.Error"]})");
  CHECK_FALSE(decide_retry(deny, in, no_strategies).retry);
}

TEST_CASE("the count is checked before the lists", "[retry_policy]") {
  auto p = policy(R"({"max_attempts":2,"no_retry_on":["ValueError"]})");
  CHECK(decide(p, 2, "ValueError").reason == "no attempts left (2 of 2 used)");
  CHECK_THAT(decide(p, 1, "ValueError").reason, Catch::Contains("no_retry_on"));
}

// -- custom strategies -------------------------------------------------------------------

TEST_CASE("a custom strategy can change queue, priority and lock", "[retry_policy]") {
  strategy_registry reg;
  reg.add("slow_lane", [](const failure_input& in, const retry_policy&) {
    strategy_decision d;
    d.retry_in = 10.0 * in.budget_attempt();
    d.queue = "slow";
    d.priority = in.priority - 1;
    d.lock = "db";
    return std::optional<strategy_decision>{d};
  });
  CHECK(reg.names() == std::vector<std::string>{"slow_lane"});
  CHECK(reg.find("slow_lane"));
  CHECK_FALSE(reg.find("fast_lane"));
  auto p = policy(R"({"retries":3,"strategy":"slow_lane"})");
  auto in = failure(2);
  in.priority = 5;
  auto d = decide_retry(p, in, reg);
  REQUIRE(d.retry);
  CHECK(d.delay_s == 20);
  CHECK(to_rfc3339(d.retry_at) == "2026-01-01T00:00:20Z");
  CHECK(d.queue == std::string{"slow"});
  CHECK(d.priority == 4);
  CHECK(d.lock == std::string{"db"});
  CHECK(d.reason
        == "attempt 2 of 4 failed; strategy slow_lane; retry in 20s on queue slow with "
           "priority 4 under lock db");
  auto j = d.to_json();
  CHECK(j.at("decision") == "retry");
  CHECK(j.at("queue") == "slow");
  CHECK(j.at("priority") == 4);
  CHECK(j.at("lock") == "db");
  CHECK(j.at("delay_s") == 20.0);
  CHECK(j.at("retry_at") == "2026-01-01T00:00:20Z");
  // The count still comes first.
  CHECK_FALSE(decide_retry(p, failure(4), reg).retry);
}

TEST_CASE("strategy failures give up with a reason", "[retry_policy]") {
  strategy_registry reg;
  reg.add("both", [](const failure_input& in, const retry_policy&) {
    strategy_decision d;
    d.retry_in = 5;
    d.retry_at = in.failed_at;
    return std::optional<strategy_decision>{d};
  });
  reg.add("neither", [](const failure_input&, const retry_policy&) {
    return std::optional<strategy_decision>{strategy_decision{}};
  });
  reg.add("declines", [](const failure_input&, const retry_policy&) {
    return std::optional<strategy_decision>{};
  });
  reg.add("throws", [](const failure_input&, const retry_policy&)
                      -> std::optional<strategy_decision> {
    throw std::runtime_error{"database is down"};
  });
  reg.add("throws_int", [](const failure_input&, const retry_policy&)
                          -> std::optional<strategy_decision> { throw 7; });
  auto run = [&](const std::string& name) {
    auto p = policy(R"({"retries":3,"strategy":")" + name + "\"}");
    return decide_retry(p, failure(1), reg);
  };
  auto both = run("both");
  CHECK_FALSE(both.retry);
  CHECK_THAT(both.reason, Catch::Contains("set retry_in or retry_at, not both"));
  auto neither = run("neither");
  CHECK_FALSE(neither.retry);
  CHECK_THAT(neither.reason, Catch::Contains("neither retry_in nor retry_at"));
  auto declines = run("declines");
  CHECK_FALSE(declines.retry);
  CHECK_THAT(declines.reason, Catch::Contains("strategy declined"));
  auto throws = run("throws");
  CHECK_FALSE(throws.retry);
  CHECK_THAT(throws.reason, Catch::Contains("database is down"));
  CHECK_FALSE(run("throws_int").retry);
  auto unknown = run("nope");
  CHECK_FALSE(unknown.retry);
  CHECK(unknown.reason == "unknown retry strategy 'nope'");
  CHECK(unknown.to_json() == json{{"decision", "give_up"}, {"reason", unknown.reason}});
}

TEST_CASE("strategy retry_at and retry_in go through max_delay", "[retry_policy]") {
  strategy_registry reg;
  reg.add("at", [](const failure_input& in, const retry_policy&) {
    strategy_decision d;
    d.retry_at = in.failed_at + std::chrono::seconds{30};
    return std::optional<strategy_decision>{d};
  });
  reg.add("forever", [](const failure_input&, const retry_policy&) {
    strategy_decision d;
    d.retry_in = std::numeric_limits<double>::infinity();
    return std::optional<strategy_decision>{d};
  });
  reg.add("past", [](const failure_input& in, const retry_policy&) {
    strategy_decision d;
    d.retry_at = in.failed_at - std::chrono::hours{1};
    return std::optional<strategy_decision>{d};
  });
  auto at = decide_retry(policy(R"({"strategy":"at"})"), failure(1), reg);
  REQUIRE(at.retry);
  CHECK(at.delay_s == 30);
  CHECK(to_rfc3339(at.retry_at) == "2026-01-01T00:00:30Z");
  auto capped = decide_retry(policy(R"({"strategy":"at","max_delay":10})"), failure(1), reg);
  CHECK(capped.delay_s == 10);
  auto forever = decide_retry(policy(R"({"strategy":"forever"})"), failure(1), reg);
  REQUIRE(forever.retry);
  CHECK(forever.retry_at == max_timestamp());
  auto past = decide_retry(policy(R"({"strategy":"past"})"), failure(1), reg);
  REQUIRE(past.retry);
  CHECK(past.delay_s == 0);
  CHECK(past.retry_at == t0);
}

// -- budgets ------------------------------------------------------------------------------

TEST_CASE("is_last_attempt", "[retry_policy]") {
  auto p = policy(R"({"max_attempts":3})");
  CHECK_FALSE(is_last_attempt(p, 1));
  CHECK_FALSE(is_last_attempt(p, 2));
  CHECK(is_last_attempt(p, 3));
  CHECK(is_last_attempt(p, 4));
  CHECK_FALSE(is_last_attempt(policy(R"({"retries":true})"), 1'000'000));
  CHECK(is_last_attempt(policy(R"({"retries":false})"), 1));
}

TEST_CASE("a manual retry restarts the budget", "[retry_policy]") {
  auto p = retry_policy::cluster_default();
  failure_input in = failure(7);
  in.retry_base = 6;
  CHECK(in.budget_attempt() == 1);
  auto first = decide_retry(p, in, no_strategies);
  REQUIRE(first.retry);
  CHECK(first.delay_s == 60); // the first delay again
  CHECK(first.reason == "attempt 1 of 3 failed; retry in 60s");
  in.attempt = 8;
  CHECK(decide_retry(p, in, no_strategies).delay_s == 120);
  in.attempt = 9;
  auto last = decide_retry(p, in, no_strategies);
  CHECK_FALSE(last.retry);
  CHECK(last.reason == "no attempts left (3 of 3 used)");
  CHECK(is_last_attempt(p, in.budget_attempt()));
}

TEST_CASE("retry_decision::to_json", "[retry_policy]") {
  auto d = decide(policy(R"({"wait":5})"), 1);
  auto j = d.to_json();
  CHECK(j.at("decision") == "retry");
  CHECK(j.at("delay_s").is_number());
  CHECK(j.at("delay_s") == 5.0);
  CHECK(j.at("retry_at") == "2026-01-01T00:00:05Z");
  CHECK(j.at("reason") == d.reason);
  CHECK_FALSE(j.contains("queue"));
  CHECK_FALSE(j.contains("priority"));
  auto g = decide(policy(R"({"retries":0})"), 1).to_json();
  CHECK(g.at("decision") == "give_up");
  CHECK_FALSE(g.contains("delay_s"));
  CHECK_FALSE(g.contains("retry_at"));
}

TEST_CASE("absurd numbers in a policy are refused, naming the key", "[retry_policy]") {
  using Catch::Contains;
  CHECK_THAT(parse_error(R"({"wait":1e300})"),
             Contains("\"wait\" must be at most 3153600000 (100 years), got"));
  CHECK_THAT(parse_error(R"({"max_delay":1e12})"), Contains("\"max_delay\" must be at most"));
  CHECK_THAT(parse_error(R"({"backoff":1,"backoff_factor":1e6})"),
             Contains("\"backoff_factor\" must be at most 1000"));
  CHECK_THAT(parse_error(R"({"wait":1e400})"), Contains("number overflow parsing '1e400'"));
  CHECK_THAT(parse_error(R"({"wait":"nan"})"), Contains("must be a non-negative number"));
}

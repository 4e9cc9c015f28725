/// The edge checks of runtime/limits: sizes, depth, UTF-8, NUL, names,
/// seconds, whole task specs, and the configurable limits.

#include "taskrt/runtime/limits.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace taskrt;
using json = nlohmann::json;

namespace {

std::string nested(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

std::string message(const std::optional<std::string>& e) {
  REQUIRE(e);
  return *e;
}

} // namespace

TEST_CASE("limits: json text within the limits passes", "[limits]") {
  CHECK_FALSE(check_json_text(R"({"a":[1,2,{"b":"é"}],"c":1.5})", "args"));
  CHECK_FALSE(check_json_text(nested(64), "args"));
  CHECK_FALSE(check_json_text(R"("[[[[ not brackets")", "args"));
}

TEST_CASE("limits: json text over the size limit is refused with its size", "[limits]") {
  limits l;
  l.max_json_bytes = 100;
  std::string big = "\"" + std::string(200, 'x') + "\"";
  auto e = message(check_json_text(big, "args", l));
  CHECK(e == "args: 202 bytes, more than the limit of 100 (--max-json-bytes)");
  CHECK_FALSE(check_json_text(std::string(50, ' ') + "1", "args", l));
}

TEST_CASE("limits: nesting deeper than the limit is refused", "[limits]") {
  CHECK(message(check_json_text(nested(65), "args"))
        == "args: nested deeper than 64 levels (--max-json-depth)");
  // Deep enough to overflow a recursive parser's stack: refused before parsing.
  CHECK(message(check_json_text(nested(200000), "result")).rfind("result: nested", 0) == 0);
  limits l;
  l.max_json_depth = 2;
  CHECK(check_json_value(json::parse("[[[1]]]"), "result", l));
  CHECK_FALSE(check_json_value(json::parse("[[1]]"), "result", l));
}

TEST_CASE("limits: NUL characters are refused in values and keys", "[limits]") {
  CHECK(message(check_json_text(R"({"a":"x\u0000y"})", "args")).find("\\u0000") != std::string::npos);
  CHECK(check_json_text(R"({"a\u0000":1})", "args"));
  json v = {{"s", std::string("a\0b", 3)}};
  CHECK(message(check_json_value(v, "result")).rfind("result: contains \\u0000", 0) == 0);
}

TEST_CASE("limits: invalid UTF-8 is refused with its offset", "[limits]") {
  CHECK(message(check_json_text("{\"a\":\"\xff\"}", "args")) == "args: invalid UTF-8 at byte 6");
  CHECK(check_json_text("\"\xc0\xaf\"", "args"));        // overlong '/'
  CHECK(check_json_text("\"\xed\xa0\x80\"", "args"));    // a surrogate
  CHECK(check_json_text("\"\xe2\x82\"", "args"));        // cut short
  CHECK(valid_utf8("Grüße, 世界, 🎉"));
  json v = {{"s", std::string("\xff")}};
  CHECK(message(check_json_value(v, "result")) == "result: a string with invalid UTF-8");
}

TEST_CASE("limits: not JSON and non-finite numbers are refused", "[limits]") {
  CHECK(message(check_json_text("{nope", "args")).rfind("args: not valid JSON (", 0) == 0);
  CHECK(message(check_json_text("[1e400]", "args"))
        == "args: not valid JSON (number overflow parsing '1e400')");
  json v = {{"x", std::nan("")}};
  CHECK(message(check_json_value(v, "progress")).find("not finite") != std::string::npos);
}

TEST_CASE("limits: names are bounded, UTF-8 and free of control characters", "[limits]") {
  CHECK_FALSE(check_name(std::string(255, 'a'), "queue", true));
  CHECK(message(check_name(std::string(256, 'a'), "queue", true))
        == "queue: 256 bytes, longer than the limit of 255 (--max-name-bytes)");
  CHECK(message(check_name("", "lock", true)) == "lock: empty");
  CHECK_FALSE(check_name("", "lock", false));
  CHECK(message(check_name(std::string("a\0b", 3), "lock", false))
        == "lock: control character 0x00 at byte 1");
  CHECK(message(check_name("a\nb", "task name", true)) == "task name: control character 0x0A at byte 1");
  CHECK(message(check_name("q\xff", "queue", false)) == "queue: invalid UTF-8 at byte 1");
  CHECK_FALSE(check_name("Warteschlange-Ü", "queue", true));
}

TEST_CASE("limits: seconds say not a number, infinite, negative or absurd", "[limits]") {
  CHECK(message(check_seconds(std::nan(""), "--in")) == "--in: not a number");
  CHECK(message(check_seconds(std::numeric_limits<double>::infinity(), "--in"))
        == "--in: must be finite, got infinity");
  CHECK(message(check_seconds(-1, "--time-limit")) == "--time-limit: must not be negative");
  CHECK(message(check_seconds(1e12, "--in")).rfind("--in: more than 100 years", 0) == 0);
  CHECK_FALSE(check_seconds(0, "--in"));
  CHECK_FALSE(check_seconds(86400 * 365.0, "--in"));
}

TEST_CASE("limits: a task spec is checked field by field", "[limits]") {
  task_spec s;
  s.name = "echo";
  s.args = R"({"x":1})";
  CHECK_FALSE(check_task_spec(s));
  auto with = [&](auto change) {
    task_spec t = s;
    change(t);
    return check_task_spec(t);
  };
  CHECK(message(with([](task_spec& t) { t.name = ""; })) == "task name: empty");
  CHECK(message(with([](task_spec& t) { t.name = std::string(300, 'n'); }))
          .rfind("task name: 300 bytes", 0) == 0);
  CHECK(message(with([](task_spec& t) { t.args = R"({"x":"\u0000"})"; })).rfind("args:", 0) == 0);
  CHECK(message(with([](task_spec& t) { t.lock = std::string(256, 'l'); })).rfind("lock:", 0) == 0);
  CHECK(message(with([](task_spec& t) { t.key = "k\x01"; })).rfind("key:", 0) == 0);
  CHECK(message(with([](task_spec& t) { t.policy = "{"; })).rfind("policy: not valid JSON", 0) == 0);
  CHECK(message(with([](task_spec& t) { t.time_limit_s = std::nan(""); }))
        == "time limit: not a number");
  CHECK(message(with([](task_spec& t) { t.queue = "\xc3"; })) == "queue: invalid UTF-8 at byte 0");
}

TEST_CASE("limits: process limits are checked against their caps", "[limits]") {
  limits l;
  l.max_json_depth = 0;
  CHECK(message(set_process_limits(l)) == "--max-json-depth must be from 1 to 10000, got 0");
  l = limits{};
  l.max_name_bytes = 5000;
  CHECK(set_process_limits(l));
  CHECK(process_limits().max_name_bytes == 255); // unchanged after a refusal
  l = limits{};
  l.max_json_bytes = 10;
  CHECK_FALSE(set_process_limits(l));
  CHECK(check_json_text("\"0123456789\"", "args"));
  CHECK_FALSE(set_process_limits(limits{}));
  CHECK_FALSE(check_json_text("\"0123456789\"", "args"));
}

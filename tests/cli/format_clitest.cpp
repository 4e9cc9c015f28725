// The pieces of the output layer that need no process: the YAML emitter and
// the time/duration arguments (compiled in from cli/).

#include "taskrt/cli/time_arg.hpp"
#include "taskrt/cli/yaml.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace taskrt;
using namespace taskrt::cli;
using json = nlohmann::json;

TEST_CASE("yaml: block style, scalars quoted when a plain one would be misread", "[cli]") {
  // YAML 1.1 readers take n/y/yes/no/on/off as booleans: those are quoted too.
  CHECK(to_yaml(json::array()) == "[]\n");
  CHECK(to_yaml(json::object()) == "{}\n");
  CHECK(to_yaml(json{{"a", 1}}) == "a: 1\n");
  CHECK(to_yaml(json{{"s", "plain"}, {"t", "true"}, {"n", "42"}, {"e", ""}, {"c", "a: b"},
                     {"q", "say \"hi\"\n"}, {"z", nullptr}, {"b", false}, {"x", 1.5}})
        == "b: false\nc: \"a: b\"\ne: \"\"\n\"n\": \"42\"\nq: \"say \\\"hi\\\"\\n\"\n"
           "s: plain\nt: \"true\"\nx: 1.5\nz: null\n");
  CHECK(to_yaml(json::parse(R"([{"id":1,"tags":["x","y"],"d":{"k":[]}},[1,2]])"))
        == "- d:\n    k: []\n  id: 1\n  tags:\n    - x\n    - \"y\"\n-\n  - 1\n  - 2\n");
  CHECK(to_yaml(json{{"std::runtime_error", 2}}) == "\"std::runtime_error\": 2\n");
  CHECK(to_yaml(json{{"kind", "std::runtime_error"}}) == "kind: \"std::runtime_error\"\n");
  CHECK(to_yaml(json{{"at", "2026-01-01T00:00:05Z"}}) == "at: \"2026-01-01T00:00:05Z\"\n");
}

TEST_CASE("durations and time arguments", "[cli]") {
  CHECK(parse_duration("90s") == 90.0);
  CHECK(parse_duration("15m") == 900.0);
  CHECK(parse_duration("1h") == 3600.0);
  CHECK(parse_duration("7d") == 7 * 86400.0);
  CHECK(parse_duration("2w") == 14 * 86400.0);
  CHECK(parse_duration("30") == 30.0);
  CHECK(parse_duration("1.5h") == 5400.0);
  for (const char* bad : {"", "h", "7x", "-1h", "+1h", "1hh", "nan", "inf"})
    CHECK_FALSE(parse_duration(bad));
  const auto t0 = from_micros(1'700'000'000'000'000);
  CHECK(parse_time_arg("1h", t0) == from_micros(1'700'000'000'000'000 - 3'600'000'000));
  CHECK(parse_time_arg("2023-11-14T22:13:20Z", t0) == t0);
  CHECK(parse_time_arg("2023-11-14T23:13:20+01:00", t0) == t0);
  CHECK_FALSE(parse_time_arg("yesterday", t0));
  CHECK(human_duration(42) == "42s");
  CHECK(human_duration(600) == "10m");
  CHECK(human_duration(3 * 3600) == "3h");
  CHECK(human_duration(5 * 86400) == "5d");
}

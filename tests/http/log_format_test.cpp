// --log-format json: one JSON object per line with time, level, message,
// node, task, attempt.

#include "taskrt/logging/log_setup.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>

using namespace taskrt::logging;

namespace {

std::string format(const std::string& message, const std::string& node = "n1") {
  json_formatter f{node};
  spdlog::details::log_msg msg{"taskrt", spdlog::level::warn,
                               spdlog::string_view_t{message.data(), message.size()}};
  spdlog::memory_buf_t buf;
  f.format(msg, buf);
  return std::string(buf.data(), buf.size());
}

} // namespace

TEST_CASE("a JSON log line carries time - level - message - the node of the process", "[log]") {
  auto line = format("scheduler drained; journal flushed");
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  auto j = nlohmann::json::parse(line);
  CHECK(j["level"] == "warning");
  CHECK(j["message"] == "scheduler drained; journal flushed");
  CHECK(j["node"] == "n1");
  CHECK_FALSE(j.contains("task"));
  const std::string t = j["time"];
  CHECK(t.size() == 27); // 2026-11-30T22:16:10.840118Z
  CHECK(t[10] == 'T');
  CHECK(t.back() == 'Z');
}

TEST_CASE("task - attempt - node come from the key=value fields of the message", "[log]") {
  auto j = nlohmann::json::parse(
    format("worker exited node=gpu-1 worker=0 task=42 attempt=3 status={} restart_in_ms=50"));
  CHECK(j["node"] == "gpu-1");
  CHECK(j["task"] == 42);
  CHECK(j["attempt"] == 3);
  // A key inside another word is not the field.
  auto k = nlohmann::json::parse(format("subtask=7 ok"));
  CHECK_FALSE(k.contains("task"));
}

TEST_CASE("a message with invalid UTF-8 still makes one valid JSON line", "[log]") {
  auto line = format(std::string("output \xff\xfe end"));
  auto j = nlohmann::json::parse(line);
  CHECK(j["message"].get<std::string>().find("end") != std::string::npos);
}

TEST_CASE("only text and json are log formats", "[log]") {
  CHECK(parse_log_format("json") == log_format::json);
  CHECK(parse_log_format("text") == log_format::text);
  CHECK_FALSE(parse_log_format("xml"));
}

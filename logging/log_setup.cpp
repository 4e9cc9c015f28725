#include "taskrt/logging/log_setup.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>

namespace taskrt::logging {

std::optional<log_format> parse_log_format(const std::string& s) {
  if (s == "text")
    return log_format::text;
  if (s == "json")
    return log_format::json;
  return std::nullopt;
}

std::string field_of(const std::string& message, const std::string& key) {
  const auto needle = key + "=";
  for (size_t pos = message.find(needle); pos != std::string::npos;
       pos = message.find(needle, pos + 1)) {
    // Only at the start of a word: "node=" must not match "subnode=".
    if (pos > 0 && message[pos - 1] != ' ' && message[pos - 1] != '(' && message[pos - 1] != ',')
      continue;
    auto begin = pos + needle.size();
    auto end = message.find_first_of(" ,;)", begin);
    return message.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  }
  return {};
}

void json_formatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(msg.time.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char time_buf[40];
  const auto n = std::strftime(time_buf, sizeof(time_buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(time_buf + n, sizeof(time_buf) - n, ".%06lldZ",
                static_cast<long long>(us % 1'000'000));
  const std::string message(msg.payload.data(), msg.payload.size());
  nlohmann::json j;
  j["time"] = time_buf;
  const auto level = spdlog::level::to_string_view(msg.level);
  j["level"] = std::string(level.data(), level.size());
  j["message"] = message;
  auto node = field_of(message, "node");
  j["node"] = node.empty() ? node_ : node;
  // Ids and attempt numbers as JSON numbers (for jq and log queries).
  auto number_or_text = [](const std::string& v) -> nlohmann::json {
    if (!v.empty() && v.size() < 19 && v.find_first_not_of("0123456789") == std::string::npos)
      return std::stoll(v);
    return v;
  };
  auto task = field_of(message, "task");
  if (!task.empty())
    j["task"] = number_or_text(task);
  auto attempt = field_of(message, "attempt");
  if (!attempt.empty())
    j["attempt"] = number_or_text(attempt);
  // Invalid UTF-8 in a message (task output, say) must not end the process.
  const auto line
    = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> json_formatter::clone() const {
  return std::make_unique<json_formatter>(node_);
}

void setup_logging(log_format format, const std::string& node) {
  if (format == log_format::text)
    return; // spdlog's default: [time] [level] message, on stdout
  auto logger = std::make_shared<spdlog::logger>(
    "taskrt", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  logger->set_formatter(std::make_unique<json_formatter>(node));
  logger->set_level(spdlog::default_logger()->level());
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

} // namespace taskrt::logging

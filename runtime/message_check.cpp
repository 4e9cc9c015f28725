#include "taskrt/runtime/message_check.hpp"

#include "taskrt/runtime/limits.hpp"

#include <nlohmann/json.hpp>

namespace taskrt {

namespace {

using json = nlohmann::json;

/// An error_info object: string kind and message, ancestors strings.
bool error_shaped(const json& e) {
  if (!e.is_object() || !e.contains("kind") || !e.at("kind").is_string()
      || (e.contains("message") && !e.at("message").is_string()))
    return false;
  if (!e.contains("ancestors"))
    return true;
  const auto& a = e.at("ancestors");
  if (!a.is_array())
    return false;
  for (const auto& x : a)
    if (!x.is_string())
      return false;
  return true;
}

} // namespace

std::optional<std::string> sanitize_attempt_done(attempt_done_msg& msg) {
  std::optional<std::string> problem;
  if (msg.outcome == task_state::succeeded && !msg.result.empty())
    problem = check_json_text(msg.result, "result");
  if (!problem && !msg.error.empty()) {
    problem = check_json_text(msg.error, "error");
    if (!problem && !error_shaped(json::parse(msg.error)))
      problem = "error: not an object with string \"kind\", \"message\" and \"ancestors\"";
  }
  json detail = json::object();
  if (!msg.detail.empty() && !check_json_text(msg.detail, "detail")) {
    auto d = json::parse(msg.detail);
    if (d.is_object())
      detail = std::move(d);
  }
  // Fields the scheduler reads with json::value(): strings or gone.
  for (const char* key : {"handback", "reason", "node", "signal"})
    if (detail.contains(key) && !detail.at(key).is_string())
      detail.erase(key);
  msg.detail = detail.dump();
  if (problem) {
    msg.outcome = task_state::failed;
    msg.result.clear();
    msg.error = json{{"kind", bad_result_kind},
                     {"ancestors", json::array()},
                     {"message", *problem}}
                  .dump();
  }
  return problem;
}

std::optional<std::string> check_attempt_event(const attempt_event_msg& ev) {
  switch (ev.kind) {
    case attempt_event_kind::began:
      return std::nullopt;
    case attempt_event_kind::progress:
    case attempt_event_kind::checkpoint:
      return check_json_text(ev.data, to_string(ev.kind));
  }
  return "unknown event kind " + std::to_string(static_cast<int>(ev.kind));
}

} // namespace taskrt

#include "taskrt/runtime/protocol.hpp"

namespace taskrt {

namespace {

const caf::atom_value category = caf::atom("taskrt");

} // namespace

const char* to_string(errc x) {
  switch (x) {
    case errc::not_found: return "not_found";
    case errc::illegal_state: return "illegal_state";
    case errc::bad_request: return "bad_request";
    case errc::unavailable: return "unavailable";
    case errc::shutting_down: return "shutting_down";
    case errc::stepped_down: return "stepped_down";
  }
  return "unknown";
}

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), category,
                    caf::make_message(std::move(message))};
}

std::string error_message(const caf::error& err) {
  if (!err)
    return "no error";
  const auto& ctx = err.context();
  if (err.category() == category && ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  auto text = caf::to_string(err);
  return text;
}

uint8_t taskrt_code(const caf::error& err) {
  return err && err.category() == category ? err.code() : 0;
}

const char* to_string(attempt_event_kind k) {
  switch (k) {
    case attempt_event_kind::progress: return "progress";
    case attempt_event_kind::checkpoint: return "checkpoint";
    case attempt_event_kind::began: return "began";
  }
  return "unknown";
}

const char* to_string(node_status s) {
  switch (s) {
    case node_status::alive: return "ALIVE";
    case node_status::suspect: return "SUSPECT";
    case node_status::dead: return "DEAD";
    case node_status::draining: return "DRAINING";
    case node_status::left: return "LEFT";
  }
  return "UNKNOWN";
}

void register_protocol(caf::actor_system_config& cfg) {
  cfg.add_message_type<task_state>("taskrt::task_state");
  cfg.add_message_type<task_spec>("taskrt::task_spec");
  cfg.add_message_type<std::vector<task_spec>>("std::vector<taskrt::task_spec>");
  cfg.add_message_type<std::vector<int64_t>>("std::vector<int64_t>");
  cfg.add_message_type<task_outcome>("taskrt::task_outcome");
  cfg.add_message_type<std::vector<task_outcome>>("std::vector<taskrt::task_outcome>");
  cfg.add_message_type<submit_refusal>("taskrt::submit_refusal");
  cfg.add_message_type<submit_each_reply>("taskrt::submit_each_reply");
  cfg.add_message_type<manual_retry_msg>("taskrt::manual_retry_msg");
  cfg.add_message_type<head_status>("taskrt::head_status");
  cfg.add_message_type<dispatch_msg>("taskrt::dispatch_msg");
  cfg.add_message_type<attempt_ref>("taskrt::attempt_ref");
  cfg.add_message_type<attempt_done_msg>("taskrt::attempt_done_msg");
  cfg.add_message_type<attempt_event_kind>("taskrt::attempt_event_kind");
  cfg.add_message_type<attempt_event_msg>("taskrt::attempt_event_msg");
  cfg.add_message_type<node_dispatch>("taskrt::node_dispatch");
  cfg.add_message_type<std::vector<node_dispatch>>("std::vector<taskrt::node_dispatch>");
  cfg.add_message_type<dispatch_batch_msg>("taskrt::dispatch_batch_msg");
  cfg.add_message_type<std::vector<attempt_event_msg>>("std::vector<taskrt::attempt_event_msg>");
  cfg.add_message_type<std::vector<attempt_done_msg>>("std::vector<taskrt::attempt_done_msg>");
  cfg.add_message_type<node_report_msg>("taskrt::node_report_msg");
  cfg.add_message_type<worker_info>("taskrt::worker_info");
  cfg.add_message_type<node_info>("taskrt::node_info");
  cfg.add_message_type<running_attempt>("taskrt::running_attempt");
  cfg.add_message_type<std::vector<running_attempt>>("std::vector<taskrt::running_attempt>");
  cfg.add_message_type<register_reply>("taskrt::register_reply");
  cfg.add_message_type<node_status>("taskrt::node_status");
  cfg.add_message_type<node_view>("taskrt::node_view");
  cfg.add_message_type<std::vector<node_view>>("std::vector<taskrt::node_view>");
  cfg.add_error_category(category,
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           std::string text = "taskrt.";
                           text += to_string(static_cast<errc>(code));
                           if (ctx.match_elements<std::string>())
                             text += ": " + ctx.get_as<std::string>(0);
                           return text;
                         });
}

} // namespace taskrt

#include "taskrt/runtime/worker_wire.hpp"

namespace taskrt::wire {

namespace {

using json = nlohmann::json;

template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overload(Fs...) -> overload<Fs...>;

std::string line_of(const json& j) {
  auto s = j.dump();
  s += '\n';
  return s;
}

/// The parsed object of a line, or null with `error` set.
json object_of(std::string_view line, std::string& error) {
  auto j = json::parse(line.begin(), line.end(), nullptr, false);
  if (!j.is_object()) {
    error = "not a JSON object";
    return json{};
  }
  if (!j.contains("op") || !j.at("op").is_string()) {
    error = "no \"op\"";
    return json{};
  }
  return j;
}

} // namespace

std::string encode(const to_process& msg) {
  return std::visit(
    overload{
      [](const run_cmd& r) {
        return line_of({{"op", "run"},
                        {"task_id", r.task_id},
                        {"attempt", r.attempt},
                        {"task_attempt", r.task_attempt},
                        {"lease_epoch", r.lease_epoch},
                        {"name", r.name},
                        {"args", r.args},
                        {"checkpoint", r.checkpoint},
                        {"last_attempt", r.last_attempt},
                        {"parents", r.parents}});
      },
      [](const cancel_cmd& c) { return line_of({{"op", "cancel"}, {"task_id", c.task_id}}); },
      [](const submit_reply& s) {
        return s.ok ? line_of({{"op", "submitted"}, {"req", s.req}, {"id", s.id}})
                    : line_of({{"op", "submit_failed"}, {"req", s.req}, {"error", s.error}});
      },
      [](const lease_cmd& l) {
        return line_of({{"op", "lease"}, {"end_ns", l.end_ns}, {"margin_ns", l.margin_ns}});
      },
    },
    msg);
}

std::string encode(const from_process& msg) {
  return std::visit(
    overload{
      [](const ready_evt& r) { return line_of({{"op", "ready"}, {"pid", r.pid}}); },
      [](const attempt_note& n) {
        return line_of({{"op", n.checkpoint ? "checkpoint" : "progress"},
                        {"task_id", n.task_id},
                        {"attempt", n.attempt},
                        {"lease_epoch", n.lease_epoch},
                        {"data", n.data}});
      },
      [](const submit_req& s) {
        const auto& c = s.spec;
        return line_of({{"op", "submit"},
                        {"req", s.req},
                        {"spec",
                         {{"name", c.name},
                          {"args", c.args},
                          {"queue", c.queue},
                          {"priority", c.priority},
                          {"lock", c.lock},
                          {"run_at_us", c.run_at_us},
                          {"policy", c.policy},
                          {"time_limit_s", c.time_limit_s},
                          {"parent_id", c.parent_id},
                          {"limits", c.limits},
                          {"after", c.after},
                          {"trigger", to_string(c.trigger)}}}});
      },
      [](const done_evt& d) {
        json j = {{"op", "done"},
                  {"task_id", d.task_id},
                  {"attempt", d.attempt},
                  {"lease_epoch", d.lease_epoch},
                  {"outcome", d.outcome}};
        if (!d.result.is_null())
          j["result"] = d.result;
        if (!d.error.is_null())
          j["error"] = d.error;
        return line_of(j);
      },
    },
    msg);
}

namespace {

std::optional<to_process> to_process_of(std::string_view line, std::string& error) {
  auto j = object_of(line, error);
  if (j.is_null())
    return std::nullopt;
  try {
    const auto op = j.at("op").get<std::string>();
    if (op == "run") {
      run_cmd r;
      r.task_id = j.at("task_id").get<int64_t>();
      r.attempt = j.at("attempt").get<int32_t>();
      r.task_attempt = j.value("task_attempt", r.attempt);
      r.lease_epoch = j.value("lease_epoch", int64_t{0});
      r.name = j.value("name", "");
      r.args = j.value("args", "{}");
      r.checkpoint = j.value("checkpoint", "");
      r.last_attempt = j.value("last_attempt", false);
      r.parents = j.value("parents", "");
      return r;
    }
    if (op == "cancel")
      return cancel_cmd{j.value("task_id", int64_t{0})};
    if (op == "submitted")
      return submit_reply{j.value("req", int64_t{0}), true, j.at("id").get<int64_t>(), {}};
    if (op == "lease")
      return lease_cmd{j.at("end_ns").get<int64_t>(), j.at("margin_ns").get<int64_t>()};
    if (op == "submit_failed")
      return submit_reply{j.value("req", int64_t{0}), false, 0,
                          j.value("error", "submit failed")};
    error = "unknown op \"" + op + "\"";
  } catch (const json::exception& e) {
    error = e.what();
  }
  return std::nullopt;
}

std::optional<from_process> from_process_of(std::string_view line, std::string& error) {
  auto j = object_of(line, error);
  if (j.is_null())
    return std::nullopt;
  try {
    const auto op = j.at("op").get<std::string>();
    if (op == "ready")
      return ready_evt{j.value("pid", int64_t{0})};
    if (op == "progress" || op == "checkpoint") {
      attempt_note n;
      n.checkpoint = op == "checkpoint";
      n.task_id = j.value("task_id", int64_t{0});
      n.attempt = j.value("attempt", 0);
      n.lease_epoch = j.value("lease_epoch", int64_t{0});
      n.data = j.value("data", json{});
      return n;
    }
    if (op == "done") {
      done_evt d;
      d.task_id = j.value("task_id", int64_t{0});
      d.attempt = j.value("attempt", 0);
      d.lease_epoch = j.value("lease_epoch", int64_t{0});
      d.outcome = j.value("outcome", "failed");
      d.result = j.value("result", json{});
      d.error = j.value("error", json{});
      return d;
    }
    if (op == "submit") {
      submit_req s;
      s.req = j.value("req", int64_t{0});
      const auto& c = j.at("spec");
      s.spec.name = c.value("name", "");
      s.spec.args = c.value("args", "{}");
      s.spec.queue = c.value("queue", "");
      s.spec.priority = c.value("priority", 0);
      s.spec.lock = c.value("lock", "");
      s.spec.run_at_us = c.value("run_at_us", int64_t{0});
      s.spec.policy = c.value("policy", "");
      s.spec.time_limit_s = c.value("time_limit_s", 0.0);
      s.spec.parent_id = c.value("parent_id", int64_t{0});
      s.spec.limits = c.value("limits", std::vector<std::string>{});
      s.spec.after = c.value("after", std::vector<int64_t>{});
      s.spec.trigger = parse_trigger_rule(c.value("trigger", "all_success"))
                         .value_or(trigger_rule::all_success);
      return s;
    }
    error = "unknown op \"" + op + "\"";
  } catch (const json::exception& e) {
    error = e.what();
  }
  return std::nullopt;
}

} // namespace

caf::expected<to_process> decode_to_process(std::string_view line) {
  std::string error;
  if (auto m = to_process_of(line, error))
    return std::move(*m);
  return make_error(errc::bad_request, std::move(error));
}

caf::expected<from_process> decode_from_process(std::string_view line) {
  std::string error;
  if (auto m = from_process_of(line, error))
    return std::move(*m);
  return make_error(errc::bad_request, std::move(error));
}

bool line_splitter::next(std::string& line) {
  auto nl = buf_.find('\n', pos_);
  if (nl == std::string::npos) {
    if (pos_ > 0) { // keep only the incomplete tail
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    return false;
  }
  line.assign(buf_, pos_, nl - pos_);
  pos_ = nl + 1;
  return true;
}

} // namespace taskrt::wire

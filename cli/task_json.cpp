#include "taskrt/cli/task_json.hpp"

#include "taskrt/runtime/time.hpp"

#include <map>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

json parse_or_null(const std::string& text) {
  if (text.empty())
    return nullptr;
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(text) : j;
}

json time_or_null(int64_t us) {
  return us == 0 ? json(nullptr) : json(to_rfc3339(from_micros(us)));
}

} // namespace

json task_summary_json(const task_record& t) {
  auto err = parse_or_null(t.last_error);
  return {{"id", t.id},
          {"name", t.name},
          {"state", to_string(t.state)},
          {"attempt", t.attempt},
          {"queue", t.queue},
          {"priority", t.priority},
          {"lock", t.lock.empty() ? json(nullptr) : json(t.lock)},
          {"node", t.node.empty() ? json(nullptr) : json(t.node)},
          {"run_at", time_or_null(t.run_at_us)},
          {"created_at", time_or_null(t.created_us)},
          {"updated_at", time_or_null(t.updated_us)},
          // The kind of the error that ended the task; a task that succeeded
          // after failures keeps them in its attempts, not here.
          {"error_kind", err.is_object() && (t.state == task_state::failed
                                             || t.state == task_state::lost)
                           ? err.value("kind", json(nullptr))
                           : json(nullptr)}};
}

json event_json(const event_row& e) {
  json j = json::object();
  j["id"] = e.id;
  j["task_id"] = e.task_id;
  j["at"] = time_or_null(e.at_us);
  j["attempt"] = e.attempt;
  j["kind"] = to_string(e.kind);
  j["from"] = e.from_state ? json(to_string(*e.from_state)) : json(nullptr);
  j["to"] = e.to_state ? json(to_string(*e.to_state)) : json(nullptr);
  j["node"] = e.node.empty() ? json(nullptr) : json(e.node);
  j["detail"] = parse_or_null(e.detail);
  return j;
}

json attempts_json(const std::vector<event_row>& events) {
  std::map<int32_t, json> by_attempt;
  for (const auto& e : events) {
    if (e.attempt <= 0)
      continue;
    auto detail = parse_or_null(e.detail);
    auto& a = by_attempt[e.attempt];
    if (a.is_null())
      a = {{"attempt", e.attempt}, {"node", nullptr}, {"worker_pid", nullptr},
           {"started", nullptr}, {"ended", nullptr}, {"outcome", nullptr},
           {"error_kind", nullptr}, {"message", nullptr}, {"signal", nullptr},
           {"backtrace", nullptr},
           {"retry_decision", nullptr}, {"handbacks", json::array()}};
    if (e.kind == transition_kind::start) {
      a["started"] = time_or_null(e.at_us);
      a["node"] = e.node.empty() ? detail.value("node", json(nullptr)) : json(e.node);
      if (detail.is_object() && detail.contains("pid"))
        a["worker_pid"] = detail["pid"];
    } else if (e.kind == transition_kind::requeue) {
      // A lease handed back before its attempt began (or at drain): not a
      // try; the attempt starts again under a new lease.
      a["handbacks"].push_back({{"at", time_or_null(e.at_us)},
                                {"node", e.node.empty() ? json(nullptr) : json(e.node)},
                                {"reason", detail.is_object()
                                             ? detail.value("handback", detail.value("reason", json(nullptr)))
                                             : json(nullptr)}});
      a["started"] = nullptr;
    } else if (e.kind == transition_kind::succeed || e.kind == transition_kind::fail
               || e.kind == transition_kind::lose || e.kind == transition_kind::cancel) {
      if (e.kind == transition_kind::cancel && e.from_state == task_state::queued)
        continue;
      a["ended"] = time_or_null(e.at_us);
      a["outcome"] = e.to_state ? json(to_string(*e.to_state)) : json(nullptr);
      if (detail.is_object()) {
        if (detail.contains("error") && detail["error"].is_object()) {
          a["error_kind"] = detail["error"].value("kind", json(nullptr));
          a["message"] = detail["error"].value("message", json(nullptr));
          a["backtrace"] = detail["error"].value("backtrace", json(nullptr));
        }
        if (detail.contains("signal"))
          a["signal"] = detail["signal"];
        if (detail.contains("pid"))
          a["worker_pid"] = detail["pid"];
        if (detail.contains("decision"))
          a["retry_decision"] = detail["decision"];
      }
    } else if (e.kind == note_kind::retry_decision) {
      a["retry_decision"] = detail;
    }
  }
  json out = json::array();
  for (auto& kv : by_attempt) {
    auto& a = kv.second;
    // Only hand-backs so far: the attempt has not begun (its task waits).
    if (a["started"].is_null() && a["outcome"].is_null() && !a["handbacks"].empty())
      continue;
    out.push_back(std::move(a));
  }
  return out;
}

json task_detail_json(const task_record& t, const std::vector<event_row>& events,
                      const std::vector<checkpoint_row>& checkpoints,
                      const std::optional<progress_row>& progress) {
  auto j = task_summary_json(t);
  j["args"] = parse_or_null(t.args);
  j["policy"] = parse_or_null(t.policy);
  j["result"] = parse_or_null(t.result);
  j["last_error"] = parse_or_null(t.last_error);
  j["retry_base"] = t.retry_base;
  j["unstarted"] = t.unstarted;
  j["time_limit_s"] = t.time_limit_s;
  j["parent_id"] = t.parent_id == 0 ? json(nullptr) : json(t.parent_id);
  j["key"] = t.key.empty() ? json(nullptr) : json(t.key);
  // A schedule's tick: key schedule:NAME:TICK_INSTANT (actors/schedule_actor.hpp).
  j["schedule"] = nullptr;
  if (t.key.rfind("schedule:", 0) == 0) {
    const auto rest = t.key.substr(9);
    // NAME may not hold ':' (schedule names are checked); the instant does.
    const auto colon = rest.find(':');
    if (colon != std::string::npos)
      j["schedule"] = {{"name", rest.substr(0, colon)}, {"tick", rest.substr(colon + 1)}};
  }
  json evs = json::array();
  for (const auto& e : events)
    evs.push_back(event_json(e));
  j["events"] = std::move(evs);
  j["attempts"] = attempts_json(events);
  json cps = json::array();
  for (const auto& c : checkpoints)
    cps.push_back({{"attempt", c.attempt}, {"at", time_or_null(c.at_us)},
                   {"data", parse_or_null(c.data)}});
  j["checkpoints"] = std::move(cps);
  j["progress"] = progress ? json{{"attempt", progress->attempt},
                                  {"at", time_or_null(progress->at_us)},
                                  {"value", parse_or_null(progress->value)}}
                           : json(nullptr);
  return j;
}

} // namespace taskrt::cli

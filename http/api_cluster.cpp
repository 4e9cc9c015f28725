// The cluster routes of the API: status, nodes, queues, summary, and the
// event feed (http/api_server.hpp).

#include "taskrt/http/api_state.hpp"

#include "taskrt/cli/time_arg.hpp"
#include "taskrt/runtime/time.hpp"

#include <cerrno>
#include <cstdlib>

namespace taskrt::http {

namespace {

json time_or_null(int64_t us) {
  return us == 0 ? json(nullptr) : json(to_rfc3339(from_micros(us)));
}

json states_json(const state_counts& c) {
  return {{"QUEUED", c.queued},       {"RUNNING", c.running}, {"SUCCEEDED", c.succeeded},
          {"FAILED", c.failed},       {"CANCELLED", c.cancelled}, {"LOST", c.lost}};
}

/// The head's own view, or {"reachable": false, "error"}.
json head_json(api_state& st) {
  auto s = ask_head<head_status>(st, status_atom::value);
  if (!s)
    return {{"reachable", false}, {"error", error_message(s.error())}};
  const auto now_us = to_micros(now());
  return {{"reachable", true},
          {"node_id", s->node_id},
          {"version", s->version},
          {"started_at", time_or_null(s->started_us)},
          {"uptime_s", static_cast<double>(now_us - s->started_us) / 1e6},
          {"workers", s->workers},
          {"busy", s->busy},
          {"queued", s->queued},
          {"running", s->running},
          {"draining", s->draining},
          {"recovered", s->recovered},
          {"journal_up", s->journal_up},
          {"journal_error", s->journal_up ? json(nullptr) : json(s->journal_error)},
          {"journal_down_since", time_or_null(s->journal_down_since_us)}};
}

} // namespace

response get_status(api_state& st, const api_call&) {
  json out = {{"head", head_json(st)}};
  const auto now_t = now();
  const auto now_us = to_micros(now_t);
  st.journal.with([&](journal_store& j) {
    const auto counts = j.count_by_state();
    out["tasks"] = states_json(counts);
    out["tasks_estimated"] = counts.estimated;
    int64_t succeeded_1m = 0, failed_1m = 0;
    for (const auto& c :
         j.event_counts_since(to_micros(add_seconds_clamped(now_t, -60)),
                              {transition_kind::succeed, transition_kind::fail}))
      (c.kind == transition_kind::succeed ? succeeded_1m : failed_1m) = c.events;
    out["succeeded_last_minute"] = succeeded_1m;
    out["failed_last_minute"] = failed_1m;
    out["throughput_per_s"] = static_cast<double>(succeeded_1m) / 60.0;
    const auto q = j.queued_age(now_us);
    out["queued_ready"] = q.ready;
    out["queued_scheduled"] = q.scheduled;
    out["oldest_queued_age_s"]
      = q.oldest_ready_since_us
          ? json(static_cast<double>(now_us - *q.oldest_ready_since_us) / 1e6)
          : json(nullptr);
    return 0;
  });
  return json_answer(200, out);
}

response get_nodes(api_state& st, const api_call&) {
  // The journal's rows (address, start), with the head's live view on top.
  auto rows = st.journal.with([&](journal_store& j) { return j.nodes(); });
  std::map<std::string, json> by_id;
  for (const auto& n : rows)
    by_id[n.id] = {{"id", n.id},
                   {"address", n.address},
                   {"state", n.state},
                   {"slots", n.slots},
                   {"running", n.running},
                   {"last_heartbeat", time_or_null(n.last_heartbeat_us)},
                   {"started_at", time_or_null(n.started_us)},
                   {"source", "journal"}};
  auto live = ask_head<std::vector<node_view>>(st, nodes_atom::value);
  if (live)
    for (const auto& n : *live) {
      auto& j = by_id[n.id];
      if (j.is_null())
        j = {{"id", n.id}, {"address", nullptr}, {"started_at", nullptr}};
      j["state"] = n.state;
      j["slots"] = n.slots;
      j["running"] = n.running;
      j["last_heartbeat"] = time_or_null(n.last_heartbeat_us);
      j["source"] = "head";
    }
  json nodes = json::array();
  for (auto& kv : by_id)
    nodes.push_back(std::move(kv.second));
  return json_answer(200, {{"nodes", nodes}, {"live", static_cast<bool>(live)}});
}

response get_queues(api_state& st, const api_call&) {
  constexpr double window_s = 60;
  auto stats = st.access.with([&](access_store& a) { return a.queue_stats(window_s); });
  const auto now_us = to_micros(now());
  json queues = json::array();
  for (const auto& q : stats)
    queues.push_back(
      {{"queue", q.queue},
       {"depth", q.ready + q.scheduled},
       {"ready", q.ready},
       {"scheduled", q.scheduled},
       {"running", q.running},
       {"oldest_ready_since", time_or_null(q.oldest_ready_us)},
       {"oldest_ready_age_s", q.oldest_ready_us == 0
                                ? json(nullptr)
                                : json(static_cast<double>(now_us - q.oldest_ready_us) / 1e6)},
       {"finished_last_minute", q.finished},
       {"rate_per_s", static_cast<double>(q.finished) / window_s}});
  return json_answer(200, {{"queues", queues}, {"rate_window_s", window_s}});
}

response get_summary(api_state& st, const api_call& c) {
  task_filter f;
  for (const auto& [k, v] : query_params(c.req.target)) {
    if (k == "since") {
      auto t = cli::parse_time_arg(v, now());
      if (!t)
        return json_error(422, "invalid", "since: not an RFC 3339 time or an age like 1h: " + v);
      f.since_us = to_micros(*t);
    } else if (k == "name") {
      f.name = v;
    } else if (k == "queue") {
      f.queue = v;
    } else {
      return json_error(400, "bad_request", "unknown parameter '" + k + "' (since, name, queue)");
    }
  }
  static const task_state all[] = {task_state::queued, task_state::running,
                                   task_state::succeeded, task_state::failed,
                                   task_state::cancelled, task_state::lost};
  auto zero = [] {
    json j = json::object();
    for (auto s : all)
      j[to_string(s)] = 0;
    return j;
  };
  return st.journal.with([&](journal_store& j) {
    json totals = zero();
    int64_t total = 0;
    std::map<std::string, json> names;
    for (const auto& r : j.count_by_name_state(f)) {
      auto& n = names[r.name];
      if (n.is_null())
        n = {{"name", r.name}, {"states", zero()}, {"total", 0}};
      n["states"][to_string(r.state)] = r.tasks;
      n["total"] = n["total"].get<int64_t>() + r.tasks;
      totals[to_string(r.state)] = totals[to_string(r.state)].get<int64_t>() + r.tasks;
      total += r.tasks;
    }
    json by_name = json::array();
    for (auto& kv : names)
      by_name.push_back(std::move(kv.second));
    json failures = json::array();
    for (const auto& r : j.failures_by_kind(f))
      failures.push_back({{"error_kind", r.kind.empty() ? json(nullptr) : json(r.kind)},
                          {"attempts", r.attempts},
                          {"tasks", r.tasks}});
    json lost = json::array();
    for (const auto& r : j.lost_by_cause(f))
      lost.push_back({{"reason", r.reason.empty() ? json(nullptr) : json(r.reason)},
                      {"signal", r.signal.empty() ? json(nullptr) : json(r.signal)},
                      {"attempts", r.attempts},
                      {"tasks", r.tasks}});
    return json_answer(200, {{"since", time_or_null(f.since_us)},
                             {"total", total},
                             {"states", totals},
                             {"by_name", by_name},
                             {"failures_by_kind", failures},
                             {"lost_by_cause", lost}});
  });
}

response get_events(api_state& st, const api_call& c) {
  if (!st.feed)
    return unavailable("this head is not active (standby or starting)");
  feed_filter f;
  int64_t after = -1;
  for (const auto& [k, v] : query_params(c.req.target)) {
    if (k == "task_id" || k == "after") {
      char* end = nullptr;
      errno = 0;
      const auto n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno != 0 || n < (k == "after" ? 0 : 1))
        return json_error(422, "invalid", k + ": a whole number is expected, not '" + v + "'");
      (k == "task_id" ? f.task_id : after) = n;
    } else if (k == "state") {
      size_t pos = 0;
      while (pos <= v.size()) {
        auto end = v.find(',', pos);
        if (end == std::string::npos)
          end = v.size();
        const auto one = v.substr(pos, end - pos);
        auto s = parse_task_state(one);
        if (!s)
          return json_error(422, "invalid", "state: unknown state '" + one
                                              + "' (QUEUED, RUNNING, SUCCEEDED, FAILED, "
                                                "CANCELLED, LOST)");
        f.states.insert(to_string(*s));
        pos = end + 1;
      }
    } else if (k == "name") {
      f.name = v;
    } else if (k == "notes") {
      f.notes = v == "1" || v == "true";
    } else {
      return json_error(400, "bad_request",
                        "unknown parameter '" + k + "' (task_id, state, name, notes, after)");
    }
  }
  // Last-Event-ID (a reconnecting EventSource) wins over ?after=.
  if (const auto last = c.req.header("last-event-id"); !last.empty()) {
    char* end = nullptr;
    errno = 0;
    const auto n = std::strtoll(last.c_str(), &end, 10);
    if (*end != '\0' || errno != 0 || n < 0)
      return json_error(422, "invalid", "Last-Event-ID: an event id is expected, not '" + last + "'");
    after = n;
  }
  auto channel = std::make_shared<stream_channel>();
  st.feed->subscribe(channel, f, after);
  response r;
  r.content_type = "text/event-stream";
  r.headers = {{"Cache-Control", "no-store"}, {"X-Accel-Buffering", "no"}};
  r.body = "retry: 2000\n: taskrt event feed\n\n";
  r.stream = channel;
  return r;
}

} // namespace taskrt::http

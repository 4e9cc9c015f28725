// The task routes of the API: submit, list, describe, cancel, retry and
// their bulk forms (http/api_server.hpp).

#include "taskrt/http/api_state.hpp"

#include "taskrt/cli/task_json.hpp"
#include "taskrt/cli/time_arg.hpp"
#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/retry_policy.hpp"
#include "taskrt/runtime/time.hpp"

#include <cmath>
#include <variant>

namespace taskrt::http {

namespace {

/// A refused request: its answer.
struct refusal {
  response r;
};

[[noreturn]] void refuse(int status, const std::string& kind, const std::string& detail) {
  throw refusal{json_error(status, kind, detail)};
}

/// The request body as a JSON object ({} when empty and `empty_ok`).
json body_object(const request& req, bool empty_ok) {
  if (req.body.empty() && empty_ok)
    return json::object();
  if (auto e = check_json_text(req.body, "body"))
    refuse(400, "bad_request", *e);
  auto j = json::parse(req.body, nullptr, false);
  if (!j.is_object())
    refuse(400, "bad_request", "body: a JSON object is expected");
  return j;
}

std::string string_field(const json& body, const char* field) {
  auto i = body.find(field);
  if (i == body.end() || i->is_null())
    return {};
  if (!i->is_string())
    refuse(400, "bad_request", std::string{field} + ": a string is expected");
  return i->get<std::string>();
}

std::optional<double> number_field(const json& body, const char* field) {
  auto i = body.find(field);
  if (i == body.end() || i->is_null())
    return std::nullopt;
  if (!i->is_number())
    refuse(400, "bad_request", std::string{field} + ": a number is expected");
  return i->get<double>();
}

std::optional<int32_t> priority_field(const json& body) {
  auto i = body.find("priority");
  if (i == body.end() || i->is_null())
    return std::nullopt;
  if (!i->is_number_integer())
    refuse(400, "bad_request", "priority: a whole number is expected");
  const auto v = i->get<int64_t>();
  if (v < -1'000'000 || v > 1'000'000)
    refuse(422, "invalid", "priority: must be from -1000000 to 1000000");
  return static_cast<int32_t>(v);
}

/// run_at (RFC 3339) or in (seconds) of `body`: µs since the epoch, 0: none.
int64_t run_at_field(const json& body) {
  const auto at = string_field(body, "run_at");
  const auto in = number_field(body, "in");
  if (!at.empty() && in)
    refuse(400, "bad_request", "run_at and in: give one of them");
  if (in) {
    if (auto e = check_seconds(*in, "in"))
      refuse(422, "invalid", *e);
    return to_micros(add_seconds_clamped(now(), *in));
  }
  if (!at.empty()) {
    auto t = cli::parse_run_at(at, now(), "run_at");
    if (!t)
      refuse(422, "invalid", error_message(t.error()));
    return to_micros(*t);
  }
  return 0;
}

void only_fields(const json& body, std::initializer_list<const char*> allowed) {
  for (auto it = body.begin(); it != body.end(); ++it)
    if (std::find_if(allowed.begin(), allowed.end(),
                     [&](const char* a) { return it.key() == a; })
        == allowed.end()) {
      std::string names;
      for (auto* a : allowed)
        names += (names.empty() ? "" : ", ") + std::string{a};
      refuse(400, "bad_request", "unknown field '" + it.key() + "' (fields: " + names + ")");
    }
}

/// The values of filter `name`: repeated or comma-separated.
std::vector<std::string> split_values(const std::vector<std::string>& raw) {
  std::vector<std::string> out;
  for (const auto& v : raw) {
    size_t pos = 0;
    while (pos <= v.size()) {
      auto end = v.find(',', pos);
      if (end == std::string::npos)
        end = v.size();
      if (end > pos)
        out.push_back(v.substr(pos, end - pos));
      pos = end + 1;
    }
  }
  return out;
}

/// A task_filter from named values (query parameters or a body's "filter"),
/// with the CLI's checks and messages (cli/filter_opts.cpp).
task_filter make_filter(const std::map<std::string, std::vector<std::string>>& v) {
  static const std::set<std::string> known{"state", "name",  "queue", "node", "lock",
                                           "error_kind", "since", "until", "sort"};
  for (const auto& [k, _] : v)
    if (!known.count(k))
      refuse(400, "bad_request", "unknown filter '" + k
                                   + "' (state, name, queue, node, lock, error_kind, since, "
                                     "until, sort)");
  auto one = [&](const char* k) -> std::string {
    auto i = v.find(k);
    if (i == v.end() || i->second.empty())
      return {};
    if (i->second.size() > 1)
      refuse(400, "bad_request", std::string{k} + ": given more than once");
    return i->second.front();
  };
  task_filter f;
  if (auto i = v.find("state"); i != v.end())
    for (const auto& s : split_values(i->second)) {
      auto st = parse_task_state(s);
      if (!st)
        refuse(422, "invalid", "state: unknown state '" + s
                                 + "' (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, LOST)");
      f.states.push_back(*st);
    }
  for (auto [field, dest] : {std::pair{"name", &f.name}, std::pair{"queue", &f.queue},
                             std::pair{"node", &f.node}, std::pair{"lock", &f.lock},
                             std::pair{"error_kind", &f.error_kind}}) {
    *dest = one(field);
    if (auto e = check_name(*dest, field, false))
      refuse(422, "invalid", *e);
  }
  const auto t_now = now();
  for (auto [field, dest] : {std::pair{"since", &f.since_us}, std::pair{"until", &f.until_us}}) {
    const auto text = one(field);
    if (text.empty())
      continue;
    auto t = cli::parse_time_arg(text, t_now);
    if (!t)
      refuse(422, "invalid",
             std::string{field} + ": not an RFC 3339 time or an age like 1h: " + text);
    *dest = to_micros(*t);
  }
  static const std::map<std::string, task_order> orders{
    {"id", task_order::id_asc},          {"-id", task_order::id_desc},
    {"created", task_order::id_asc},     {"-created", task_order::id_desc},
    {"updated", task_order::updated_asc}, {"-updated", task_order::updated_desc},
    {"name", task_order::name_asc},      {"-name", task_order::name_desc},
    {"priority", task_order::priority_asc}, {"-priority", task_order::priority_desc}};
  if (auto sort = one("sort"); !sort.empty()) {
    auto it = orders.find(sort);
    if (it == orders.end())
      refuse(422, "invalid", "sort: unknown key '" + sort
                               + "' (id, created, updated, name, priority; prefix - to reverse)");
    f.order = it->second;
  }
  return f;
}

/// A whole number parameter from 1 to `max`.
int64_t positive(const std::string& text, const char* what, int64_t max) {
  char* end = nullptr;
  errno = 0;
  const auto v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < 1 || v > max)
    refuse(422, "invalid", std::string{what} + ": a whole number from 1 to " + std::to_string(max)
                             + " is expected, not '" + text + "'");
  return v;
}

/// The filter of a bulk body: {"filter": {...}} (values: strings or arrays).
task_filter body_filter(const json& body, bool& given) {
  std::map<std::string, std::vector<std::string>> v;
  auto i = body.find("filter");
  given = i != body.end() && !i->is_null();
  if (!given)
    return {};
  if (!i->is_object())
    refuse(400, "bad_request", "filter: an object is expected");
  for (auto it = i->begin(); it != i->end(); ++it) {
    if (it->is_string())
      v[it.key()].push_back(it->get<std::string>());
    else if (it->is_array()) {
      for (const auto& x : *it) {
        if (!x.is_string())
          refuse(400, "bad_request", "filter." + it.key() + ": strings are expected");
        v[it.key()].push_back(x.get<std::string>());
      }
    } else {
      refuse(400, "bad_request", "filter." + it.key() + ": a string or an array is expected");
    }
  }
  if (v.count("sort"))
    refuse(400, "bad_request", "filter.sort: a bulk action goes by id");
  return make_filter(v);
}

template <class F>
response guarded(F&& f) {
  try {
    return f();
  } catch (const refusal& r) {
    return r.r;
  }
}

/// The ids a bulk action applies to: "ids" or "filter" (restricted to the
/// states in `allowed`), as `tasks retry/cancel` select them.
std::vector<int64_t> select_ids(api_state& st, const json& body,
                                const std::vector<task_state>& allowed) {
  bool filtered = false;
  auto f = body_filter(body, filtered);
  auto ids_it = body.find("ids");
  const bool by_id = ids_it != body.end() && !ids_it->is_null();
  if (by_id == filtered)
    refuse(400, "bad_request", filtered ? "give ids or filter, not both"
                                        : "give ids or filter (e.g. {\"filter\": {\"state\": \"FAILED\"}})");
  int64_t limit = 10'000;
  if (auto l = number_field(body, "limit"))
    limit = positive(std::to_string(static_cast<int64_t>(*l)), "limit", 10'000);
  std::vector<int64_t> ids;
  if (by_id) {
    if (!ids_it->is_array())
      refuse(400, "bad_request", "ids: an array of task ids is expected");
    for (const auto& x : *ids_it) {
      if (!x.is_number_integer() || x.get<int64_t>() < 1)
        refuse(400, "bad_request", "ids: task ids are whole numbers from 1");
      ids.push_back(x.get<int64_t>());
    }
    if (static_cast<int64_t>(ids.size()) > limit)
      refuse(422, "invalid", "ids: more than " + std::to_string(limit));
    return ids;
  }
  std::vector<task_state> states;
  for (auto s : allowed)
    if (f.states.empty() || std::find(f.states.begin(), f.states.end(), s) != f.states.end())
      states.push_back(s);
  if (states.empty())
    return ids;
  f.states = states;
  f.order = task_order::id_asc;
  f.limit = limit;
  for (const auto& t : st.journal.with([&](journal_store& j) { return j.list_tasks(f); }))
    ids.push_back(t.id);
  return ids;
}

/// The retry message of a body: priority, queue, lock, run_at | in.
manual_retry_msg retry_msg(const json& body, const api_principal& who) {
  manual_retry_msg m;
  m.run_at_us = run_at_field(body);
  if (auto p = priority_field(body)) {
    m.set_priority = true;
    m.priority = *p;
  }
  m.queue = string_field(body, "queue");
  m.lock = string_field(body, "lock");
  for (auto [v, f] : {std::pair{&m.queue, "queue"}, std::pair{&m.lock, "lock"}})
    if (auto e = check_name(*v, f, false))
      refuse(422, "invalid", *e);
  m.origin = origin_of(who);
  return m;
}

/// Runs `op` on every id, as `run_bulk` reports it: {"action", "requested",
/// "ok": [{"id", ...}], "failed": [{"id", "error"}], "dry_run"}.
json run_bulk(const std::vector<int64_t>& ids, const std::string& action, bool dry_run,
              const std::function<std::string(int64_t, json&)>& op) {
  json out = {{"action", action},          {"requested", ids.size()}, {"dry_run", dry_run},
              {"ok", json::array()},        {"failed", json::array()}};
  if (dry_run) {
    out["ids"] = ids;
    return out;
  }
  for (auto id : ids) {
    json r = {{"id", id}};
    auto err = op(id, r);
    if (err.empty())
      out["ok"].push_back(std::move(r));
    else
      out["failed"].push_back({{"id", id}, {"error", err}});
  }
  return out;
}

bool dry_run_field(const json& body) {
  auto i = body.find("dry_run");
  if (i == body.end() || i->is_null())
    return false;
  if (!i->is_boolean())
    refuse(400, "bad_request", "dry_run: true or false is expected");
  return i->get<bool>();
}

} // namespace

response submit_task(api_state& st, const api_call& c) {
  return guarded([&]() -> response {
    auto body = body_object(c.req, false);
    only_fields(body, {"name", "args", "queue", "priority", "lock", "policy", "run_at", "in",
                       "time_limit", "key"});
    task_spec spec;
    spec.name = string_field(body, "name");
    if (spec.name.empty())
      refuse(422, "invalid", "name: the registered name of the task is required");
    if (auto a = body.find("args"); a != body.end() && !a->is_null()) {
      spec.args = a->dump();
      if (auto e = check_json_text(spec.args, "args"))
        refuse(422, "invalid", *e);
    }
    auto given_empty = [&](const char* f) {
      return body.contains(f) && !body[f].is_null() && string_field(body, f).empty();
    };
    if (given_empty("queue"))
      refuse(422, "invalid", "queue: empty (leave out queue for the task's queue)");
    if (given_empty("lock"))
      refuse(422, "invalid", "lock: empty (an empty lock would silently drop mutual "
                             "exclusion; leave out lock for none)");
    spec.queue = string_field(body, "queue");
    spec.lock = string_field(body, "lock");
    spec.priority = priority_field(body).value_or(0);
    if (auto p = body.find("policy"); p != body.end() && !p->is_null()) {
      spec.policy = p->is_string() ? p->get<std::string>() : p->dump();
      if (auto r = parse_retry_policy(spec.policy); std::holds_alternative<std::string>(r))
        refuse(422, "invalid", "policy: " + std::get<std::string>(r));
    }
    if (auto t = number_field(body, "time_limit")) {
      if (auto e = check_seconds(*t, "time_limit"))
        refuse(422, "invalid", *e);
      spec.time_limit_s = *t;
    }
    spec.run_at_us = run_at_field(body);
    // The key: the Idempotency-Key header or "key" (the same when both).
    const auto header_key = c.req.header("idempotency-key");
    const auto body_key = string_field(body, "key");
    if (!header_key.empty() && !body_key.empty() && header_key != body_key)
      refuse(400, "bad_request", "Idempotency-Key and key differ: give one of them");
    spec.key = header_key.empty() ? body_key : header_key;
    spec.origin = origin_of(c.who);
    if (auto e = check_task_spec(spec))
      refuse(422, "invalid", *e);
    // What "the same body" means: the body without the key, its fields in
    // order (nlohmann's objects are sorted), so spacing and order do not count.
    body.erase("key");
    const auto body_hash = access_store::sha256_hex(body.dump());
    auto conflict = [&](int64_t first) {
      return json_error(409, "conflict",
                        "the idempotency key '" + spec.key + "' was used by task "
                          + std::to_string(first) + " with a different body",
                        {{"id", first}});
    };
    if (!spec.key.empty()) {
      auto used = st.access.with([&](access_store& a) { return a.find_key(spec.key); });
      if (used)
        return used->body_hash == body_hash
                 ? json_answer(200, {{"id", used->task_id}, {"existing", true}})
                 : conflict(used->task_id);
    }
    bool existed = false;
    if (!spec.key.empty()) // submitted with this key elsewhere (CLI --key)?
      existed = st.access.with([&](access_store& a) { return a.task_for_key(spec.key); })
                  .has_value();
    auto id = ask_head<int64_t>(st, submit_atom::value, spec);
    if (!id) {
      caf::actor_system* sys = nullptr;
      head_actor h;
      if (!st.active(sys, h))
        return unavailable(error_message(id.error()));
      return head_error(id.error(), *sys);
    }
    if (!spec.key.empty()) {
      auto rec = st.access.with(
        [&](access_store& a) { return a.record_key(spec.key, body_hash, *id); });
      if (rec.body_hash != body_hash)
        return conflict(rec.task_id);
      if (existed || rec.task_id != *id)
        return json_answer(200, {{"id", rec.task_id}, {"existing", true}});
    }
    auto r = json_answer(201, {{"id", *id}});
    r.headers.emplace_back("Location", "/api/v1/tasks/" + std::to_string(*id));
    return r;
  });
}

response list_tasks(api_state& st, const api_call& c) {
  return guarded([&]() -> response {
    std::map<std::string, std::vector<std::string>> v;
    std::string cursor, limit_text;
    for (const auto& [k, val] : query_params(c.req.target)) {
      if (k == "cursor")
        cursor = val;
      else if (k == "limit")
        limit_text = val;
      else
        v[k].push_back(val);
    }
    auto f = make_filter(v);
    const int64_t limit = limit_text.empty() ? 50 : positive(limit_text, "limit", 1000);
    if (!cursor.empty()) {
      const auto after = positive(cursor, "cursor", INT64_MAX);
      if (f.order == task_order::id_desc)
        f.id_before = after;
      else if (f.order == task_order::id_asc)
        f.id_after = after;
      else
        refuse(422, "invalid", "cursor: paging goes by id (sort id or -id)");
    }
    f.limit = limit + 1; // one more: is there a next page?
    auto rows = st.journal.with([&](journal_store& j) { return j.list_tasks(f); });
    json tasks = json::array();
    for (size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < limit; ++i)
      tasks.push_back(cli::task_summary_json(rows[i]));
    json next = nullptr;
    const bool by_id = f.order == task_order::id_desc || f.order == task_order::id_asc;
    if (static_cast<int64_t>(rows.size()) > limit && by_id)
      next = std::to_string(rows[static_cast<size_t>(limit - 1)].id);
    return json_answer(200, {{"tasks", tasks}, {"next_cursor", next},
                             {"more", static_cast<int64_t>(rows.size()) > limit}});
  });
}

response describe_task(api_state& st, const api_call& c) {
  return st.journal.with([&](journal_store& j) -> response {
    auto t = j.get_task(c.id);
    if (!t)
      return json_error(404, "not_found", "no task with id " + std::to_string(c.id));
    return json_answer(200, cli::task_detail_json(*t, j.events(c.id), j.checkpoints(c.id),
                                                  j.progress(c.id)));
  });
}

response cancel_task(api_state& st, const api_call& c) {
  return guarded([&]() -> response {
    auto body = body_object(c.req, true);
    only_fields(body, {});
    auto r = ask_head<task_state>(st, cancel_atom::value, c.id, origin_of(c.who));
    if (!r) {
      caf::actor_system* sys = nullptr;
      head_actor h;
      if (!st.active(sys, h))
        return unavailable(error_message(r.error()));
      return head_error(r.error(), *sys);
    }
    return json_answer(200, {{"id", c.id},
                             {"state", to_string(*r)},
                             {"cancel_requested", *r == task_state::running}});
  });
}

response retry_task(api_state& st, const api_call& c) {
  return guarded([&]() -> response {
    auto body = body_object(c.req, true);
    only_fields(body, {"priority", "queue", "lock", "run_at", "in"});
    auto m = retry_msg(body, c.who);
    m.id = c.id;
    auto r = ask_head<int64_t>(st, mretry_atom::value, m);
    if (!r) {
      caf::actor_system* sys = nullptr;
      head_actor h;
      if (!st.active(sys, h))
        return unavailable(error_message(r.error()));
      return head_error(r.error(), *sys);
    }
    return json_answer(200, {{"id", *r}, {"state", "QUEUED"}});
  });
}

response bulk_cancel(api_state& st, const api_call& c) {
  return guarded([&]() -> response {
    auto body = body_object(c.req, false);
    only_fields(body, {"ids", "filter", "dry_run", "limit"});
    const bool dry = dry_run_field(body);
    auto ids = select_ids(st, body, {task_state::queued, task_state::running});
    const auto who = origin_of(c.who);
    return json_answer(200, run_bulk(ids, "cancel", dry, [&](int64_t id, json& out) {
                         auto r = ask_head<task_state>(st, cancel_atom::value, id, who);
                         if (!r)
                           return error_message(r.error());
                         out["state"] = to_string(*r);
                         out["cancel_requested"] = *r == task_state::running;
                         return std::string{};
                       }));
  });
}

response bulk_retry(api_state& st, const api_call& c) {
  return guarded([&]() -> response {
    auto body = body_object(c.req, false);
    only_fields(body, {"ids", "filter", "dry_run", "limit", "priority", "queue", "lock",
                       "run_at", "in"});
    const bool dry = dry_run_field(body);
    auto m = retry_msg(body, c.who);
    auto ids = select_ids(st, body, {task_state::failed, task_state::lost, task_state::cancelled});
    return json_answer(200, run_bulk(ids, "retry", dry, [&](int64_t id, json& out) {
                         auto msg = m;
                         msg.id = id;
                         auto r = ask_head<int64_t>(st, mretry_atom::value, msg);
                         if (!r)
                           return error_message(r.error());
                         out["state"] = "QUEUED";
                         return std::string{};
                       }));
  });
}

} // namespace taskrt::http

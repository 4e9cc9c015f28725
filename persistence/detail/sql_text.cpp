#include "taskrt/persistence/detail/sql_text.hpp"
#include "taskrt/runtime/limit_keys.hpp"

#include "taskrt/persistence/store_error.hpp"
#include "taskrt/runtime/time.hpp"

#include <algorithm>
#include <vector>

namespace taskrt::detail {

namespace {

std::string text_at(const pqxx::row& r, const char* col) {
  return r[col].is_null() ? std::string{} : r[col].as<std::string>();
}

std::optional<task_state> opt_state_at(const pqxx::row& r, const char* col) {
  if (r[col].is_null())
    return std::nullopt;
  return state_of(r[col].as<std::string>(), col);
}

task_state state_at(const pqxx::row& r, const char* col) {
  return state_of(r[col].as<std::string>(), col);
}

} // namespace

task_state state_of(const std::string& text, const char* column) {
  if (auto s = parse_task_state(text))
    return *s;
  // Never a silent default: a journal written by a newer taskrt (or by hand)
  // holds a state this one does not know.
  throw store_error{std::string{"the journal holds an unknown task state '"} + text + "' in "
                      + column + " (written by a newer taskrt?)",
                    false, false, "22P02"};
}

event_kind event_kind_of(const std::string& text) {
  if (auto k = parse_event_kind(text))
    return *k;
  throw store_error{"the journal holds an unknown event kind '" + text
                      + "' in task_events.kind (written by a newer taskrt?)",
                    false, false, "22P02"};
}

std::string ts_text(int64_t us) {
  return to_rfc3339(from_micros(us));
}

std::string ts_lit(int64_t us) {
  return "'" + ts_text(us) + "'::timestamptz";
}

std::string us_of(const std::string& column) {
  return "(extract(epoch from " + column + ") * 1000000)::bigint";
}

std::string text_lit(pqxx::transaction_base& tx, const std::string& s) {
  return tx.quote(s) + "::text";
}

std::string text_or_null(pqxx::transaction_base& tx, const std::string& s) {
  return s.empty() ? std::string{"NULL::text"} : text_lit(tx, s);
}

std::string json_or_null(pqxx::transaction_base& tx, const std::string& json) {
  return json.empty() ? std::string{"NULL::jsonb"} : tx.quote(json) + "::jsonb";
}

std::string int_or_null(const std::optional<int32_t>& v) {
  return v ? std::to_string(*v) + "::integer" : std::string{"NULL::integer"};
}

const std::string& task_columns(bool with_parents) {
  static const std::string common
    = "id, name, args::text AS args, queue, priority, lock, state, attempt,"
      " retry_base, unstarted, lease_epoch, policy::text AS policy, "
      + us_of("run_at") + " AS run_at_us, time_limit_s, node,"
      " result::text AS result, last_error::text AS last_error, parent_id, "
      + us_of("created_at") + " AS created_us, " + us_of("updated_at")
      + " AS updated_us, key, cancel_requested, limit_keys::text AS limit_keys,";
  static const std::string with = common + " parents::text AS parents";
  static const std::string without = common + " NULL::text AS parents";
  return with_parents ? with : without;
}

task_record task_from_row(const pqxx::row& r) {
  task_record t;
  t.id = r["id"].as<int64_t>();
  t.name = r["name"].as<std::string>();
  t.args = r["args"].as<std::string>();
  t.queue = r["queue"].as<std::string>();
  t.priority = r["priority"].as<int32_t>();
  t.lock = text_at(r, "lock");
  t.state = state_at(r, "state");
  t.parents = text_at(r, "parents");
  t.attempt = r["attempt"].as<int32_t>();
  t.retry_base = r["retry_base"].as<int32_t>();
  t.unstarted = r["unstarted"].as<int32_t>();
  t.lease_epoch = r["lease_epoch"].as<int64_t>();
  t.policy = text_at(r, "policy");
  t.run_at_us = r["run_at_us"].as<int64_t>();
  t.time_limit_s = r["time_limit_s"].as<double>();
  t.node = text_at(r, "node");
  t.result = text_at(r, "result");
  t.last_error = text_at(r, "last_error");
  t.parent_id = r["parent_id"].is_null() ? 0 : r["parent_id"].as<int64_t>();
  t.created_us = r["created_us"].as<int64_t>();
  t.updated_us = r["updated_us"].as<int64_t>();
  t.key = text_at(r, "key");
  t.cancel_requested = r["cancel_requested"].as<bool>();
  t.limit_keys = limit_keys_of(text_at(r, "limit_keys"));
  return t;
}

const std::string& event_columns() {
  static const std::string cols
    = "id, task_id, attempt, kind, from_state, to_state, " + us_of("at")
      + " AS at_us, node, detail::text AS detail";
  return cols;
}

event_row event_from_row(const pqxx::row& r) {
  event_row e;
  e.id = r["id"].as<int64_t>();
  e.task_id = r["task_id"].as<int64_t>();
  e.attempt = r["attempt"].as<int32_t>();
  e.kind = event_kind_of(r["kind"].as<std::string>());
  e.from_state = opt_state_at(r, "from_state");
  e.to_state = opt_state_at(r, "to_state");
  e.at_us = r["at_us"].as<int64_t>();
  e.node = text_at(r, "node");
  e.detail = r["detail"].as<std::string>();
  return e;
}

const std::string& checkpoint_columns() {
  static const std::string cols
    = "id, task_id, attempt, data, " + us_of("at") + " AS at_us";
  return cols;
}

checkpoint_row checkpoint_from_row(const pqxx::row& r) {
  checkpoint_row c;
  c.id = r["id"].as<int64_t>();
  c.task_id = r["task_id"].as<int64_t>();
  c.attempt = r["attempt"].as<int32_t>();
  c.data = r["data"].as<std::string>();
  c.at_us = r["at_us"].as<int64_t>();
  return c;
}

const std::string& node_columns() {
  static const std::string cols
    = "id, address, slots, running, state, " + us_of("last_heartbeat")
      + " AS last_heartbeat_us, " + us_of("started") + " AS started_us";
  return cols;
}

node_row node_from_row(const pqxx::row& r) {
  node_row n;
  n.id = r["id"].as<std::string>();
  n.address = r["address"].as<std::string>();
  n.slots = r["slots"].as<int32_t>();
  n.running = r["running"].as<int32_t>();
  n.state = r["state"].as<std::string>();
  n.last_heartbeat_us = r["last_heartbeat_us"].as<int64_t>();
  n.started_us = r["started_us"].as<int64_t>();
  return n;
}

std::string where_clause(pqxx::transaction_base& tx, const task_filter& f) {
  std::vector<std::string> conds;
  if (!f.states.empty()) {
    // QUEUED/RUNNING only: through the index of live tasks.
    if (std::all_of(f.states.begin(), f.states.end(), [](task_state s) {
          return s == task_state::queued || s == task_state::running;
        }))
      conds.push_back("live");
    std::string in = "state IN (";
    for (size_t i = 0; i < f.states.size(); ++i)
      in += (i ? ", '" : "'") + std::string{to_string(f.states[i])} + "'";
    conds.push_back(in + ")");
  }
  if (!f.name.empty())
    conds.push_back("name = " + tx.quote(f.name));
  if (!f.queue.empty())
    conds.push_back("queue = " + tx.quote(f.queue));
  if (!f.lock.empty())
    conds.push_back("lock = " + tx.quote(f.lock));
  if (!f.node.empty())
    conds.push_back("node = " + tx.quote(f.node));
  if (!f.error_kind.empty()) // the error that ended the task: not one a success followed
    conds.push_back("state IN ('FAILED', 'LOST') AND last_error->>'kind' = "
                    + tx.quote(f.error_kind));
  if (f.since_us != 0)
    conds.push_back("created_at >= " + ts_lit(f.since_us));
  if (f.until_us != 0)
    conds.push_back("created_at < " + ts_lit(f.until_us));
  if (f.updated_until_us != 0)
    conds.push_back("updated_at < " + ts_lit(f.updated_until_us));
  if (f.id_after != 0)
    conds.push_back("id > " + std::to_string(f.id_after));
  if (f.id_before != 0)
    conds.push_back("id < " + std::to_string(f.id_before));
  std::string out;
  for (size_t i = 0; i < conds.size(); ++i)
    out += (i ? " AND " : " WHERE ") + conds[i];
  return out;
}

std::string order_clause(task_order o) {
  switch (o) {
    case task_order::id_asc: return " ORDER BY id ASC";
    case task_order::updated_desc: return " ORDER BY updated_at DESC, id DESC";
    case task_order::updated_asc: return " ORDER BY updated_at ASC, id ASC";
    case task_order::name_asc: return " ORDER BY name ASC, id ASC";
    case task_order::name_desc: return " ORDER BY name DESC, id DESC";
    case task_order::priority_desc: return " ORDER BY priority DESC, id ASC";
    case task_order::priority_asc: return " ORDER BY priority ASC, id ASC";
    case task_order::id_desc: break;
  }
  return " ORDER BY id DESC";
}

std::string half_done(const std::string& table) {
  return "EXISTS (SELECT 1 FROM (SELECT e.id, e.detail FROM task_events e"
         " WHERE e.task_id = " + table + ".id AND e.kind IN ('fail', 'lose')"
         " ORDER BY e.id DESC LIMIT 1) f"
         " WHERE NOT (f.detail ? 'decision') AND NOT EXISTS ("
         " SELECT 1 FROM task_events d WHERE d.task_id = " + table + ".id AND d.id > f.id"
         " AND d.kind = 'retry_decision'"
         " AND d.detail->>'decision' IS DISTINCT FROM 'retry'))";
}

} // namespace taskrt::detail

#include "persistence/detail/batch_writer.hpp"

#include "persistence/detail/sql_text.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

namespace taskrt::detail {

namespace {

using batch = journal_store::batch;
using batch_result = journal_store::batch_result;
using transition_item = journal_store::transition_item;
using note_item = journal_store::note_item;

std::string state_lit(task_state s) {
  return "'" + std::string{to_string(s)} + "'::text";
}

std::string json_text(const nlohmann::json& j) {
  return j.is_null() ? std::string{"{}"} : j.dump();
}

std::vector<int64_t> write_submits(pqxx::work& tx, const batch& b) {
  const auto& items = b.submits;
  std::string sql;
  sql.reserve(items.size() * 256 + 1024);
  sql += "WITH v(ord, name, args, queue, priority, lock, policy, run_at,"
         " time_limit_s, parent_id, origin, at, detail) AS (VALUES ";
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    const auto& s = it.spec;
    const auto& queue = !it.queue.empty()   ? it.queue
                        : !s.queue.empty() ? s.queue
                                           : std::string{default_queue};
    const auto& policy = it.resolved_policy.empty() ? s.policy : it.resolved_policy;
    const double limit = it.time_limit_s != 0 ? it.time_limit_s : s.time_limit_s;
    nlohmann::json detail = nlohmann::json::object();
    if (!s.origin.empty())
      detail["origin"] = s.origin;
    if (s.parent_id != 0)
      detail["parent_id"] = s.parent_id;
    if (i)
      sql += ", ";
    sql += "(" + std::to_string(i) + "::integer, " + text_lit(tx, s.name) + ", "
           + tx.quote(s.args.empty() ? std::string{"{}"} : s.args) + "::jsonb, "
           + text_lit(tx, queue) + ", " + std::to_string(s.priority) + "::integer, "
           + text_or_null(tx, s.lock) + ", " + json_or_null(tx, policy) + ", "
           + ts_lit(s.run_at_us != 0 ? s.run_at_us : it.now_us) + ", "
           + tx.quote(limit) + "::float8, "
           + (s.parent_id != 0 ? std::to_string(s.parent_id) + "::bigint"
                               : std::string{"NULL::bigint"})
           + ", " + text_or_null(tx, s.origin) + ", " + ts_lit(it.now_us) + ", "
           + tx.quote(detail.dump()) + "::jsonb)";
  }
  sql += "), ids AS (SELECT ord, nextval('tasks_id_seq') AS id FROM v ORDER BY ord),"
         " ins AS (INSERT INTO tasks (id, name, args, queue, priority, lock, state,"
         " attempt, retry_base, lease_epoch, policy, run_at, time_limit_s,"
         " parent_id, origin, created_at, updated_at)"
         " SELECT ids.id, v.name, v.args, v.queue, v.priority, v.lock, 'QUEUED',"
         " 0, 0, 0, v.policy, v.run_at, v.time_limit_s, v.parent_id, v.origin,"
         " v.at, v.at FROM v JOIN ids USING (ord)),"
         " ev AS (INSERT INTO task_events (task_id, attempt, kind, from_state,"
         " to_state, at, node, detail)"
         " SELECT ids.id, 0, 'submit', NULL, 'QUEUED', v.at, NULL, v.detail"
         " FROM v JOIN ids USING (ord) ORDER BY ord)"
         " SELECT ord, id FROM ids";
  const auto res = tx.exec(sql);
  std::vector<int64_t> ids(items.size(), 0);
  for (const auto& row : res)
    ids.at(row[0].as<size_t>()) = row[1].as<int64_t>();
  return ids;
}

/// One multi-row guarded UPDATE + event INSERT for `round` (indexes into
/// `items`, each task at most once). Marks applied ones in `applied`.
void write_round(pqxx::work& tx, const std::vector<transition_item>& items,
                 const std::vector<size_t>& round, std::vector<bool>& applied) {
  std::string sql;
  sql.reserve(round.size() * 320 + 1024);
  sql += "WITH v(idx, task_id, kind, exp_state, exp_attempt, new_state,"
         " new_attempt, lease_epoch, run_at, priority, queue, lock_set, lock,"
         " retry_base, node, result, error, detail, at) AS (VALUES ";
  bool first = true;
  for (auto i : round) {
    const auto& t = items[i];
    if (!first)
      sql += ", ";
    first = false;
    sql += "(" + std::to_string(i) + "::integer, " + std::to_string(t.task_id)
           + "::bigint, '" + to_string(t.kind) + "'::text, "
           + state_lit(t.expected_state) + ", "
           + std::to_string(t.expected_attempt) + "::integer, "
           + state_lit(target_state(t.kind)) + ", "
           + std::to_string(t.new_attempt) + "::integer, "
           + std::to_string(t.lease_epoch) + "::bigint, "
           + (t.run_at_us != 0 ? ts_lit(t.run_at_us) : std::string{"NULL::timestamptz"})
           + ", " + int_or_null(t.priority) + ", "
           + (t.queue && !t.queue->empty() ? text_lit(tx, *t.queue) : std::string{"NULL::text"})
           + ", " + (t.lock ? "true" : "false") + ", "
           + (t.lock ? text_lit(tx, *t.lock) : std::string{"NULL::text"}) + ", "
           + int_or_null(t.retry_base) + ", " + text_or_null(tx, t.node) + ", "
           + json_or_null(tx, t.result) + ", " + json_or_null(tx, t.error) + ", "
           + tx.quote(json_text(t.detail)) + "::jsonb, " + ts_lit(t.at_us) + ")";
  }
  sql += "), upd AS (UPDATE tasks t SET state = v.new_state,"
         " attempt = v.new_attempt, lease_epoch = v.lease_epoch,"
         " run_at = coalesce(v.run_at, t.run_at),"
         " priority = coalesce(v.priority, t.priority),"
         " queue = coalesce(v.queue, t.queue),"
         " lock = CASE WHEN v.lock_set THEN nullif(v.lock, '') ELSE t.lock END,"
         " retry_base = coalesce(v.retry_base, t.retry_base),"
         " node = coalesce(v.node, t.node),"
         " result = coalesce(v.result, t.result),"
         " last_error = coalesce(v.error, t.last_error),"
         " updated_at = v.at"
         " FROM v WHERE t.id = v.task_id AND t.state = v.exp_state"
         " AND t.attempt = v.exp_attempt"
         " RETURNING v.idx, v.task_id, v.kind, v.exp_state, v.new_state,"
         " v.new_attempt, v.at, t.node AS node, v.detail),"
         " ev AS (INSERT INTO task_events (task_id, attempt, kind, from_state,"
         " to_state, at, node, detail)"
         " SELECT task_id, new_attempt, kind, exp_state, new_state, at, node,"
         " detail FROM upd ORDER BY idx)"
         " SELECT idx FROM upd";
  for (const auto& row : tx.exec(sql))
    applied.at(row[0].as<size_t>()) = true;
}

void write_notes(pqxx::work& tx, const std::vector<note_item>& notes,
                 const std::vector<journal_store::checkpoint_item>& cps) {
  std::string sql;
  if (!notes.empty()) {
    sql += "INSERT INTO task_events (task_id, attempt, kind, at, node, detail) VALUES ";
    for (size_t i = 0; i < notes.size(); ++i) {
      const auto& n = notes[i];
      sql += (i ? ", (" : "(") + std::to_string(n.task_id) + ", "
             + std::to_string(n.attempt) + ", " + tx.quote(n.kind) + ", "
             + ts_lit(n.at_us) + ", " + text_or_null(tx, n.node) + ", "
             + tx.quote(json_text(n.detail)) + ")";
    }
    sql += ";";
  }
  if (!cps.empty()) {
    sql += "INSERT INTO checkpoints (task_id, attempt, data, at) VALUES ";
    for (size_t i = 0; i < cps.size(); ++i) {
      const auto& c = cps[i];
      sql += (i ? ", (" : "(") + std::to_string(c.task_id) + ", "
             + std::to_string(c.attempt) + ", " + tx.quote(c.data) + ", "
             + ts_lit(c.at_us) + ")";
    }
    sql += ";";
  }
  if (!sql.empty())
    tx.exec(sql);
}

} // namespace

batch_result write_batch(pqxx::work& tx, const batch& b) {
  batch_result out;
  if (!b.submits.empty())
    out.submitted_ids = write_submits(tx, b);
  // Illegal transitions become "rejected" notes; legal ones are split into
  // rounds so that each task appears at most once per statement and a later
  // transition's guard sees the earlier one's effect.
  out.applied.assign(b.transitions.size(), false);
  std::vector<note_item> rejected;
  std::vector<std::vector<size_t>> rounds;
  std::unordered_map<int64_t, size_t> seen;
  for (size_t i = 0; i < b.transitions.size(); ++i) {
    const auto& t = b.transitions[i];
    if (auto err = check_transition(t.expected_state, t.kind)) {
      note_item n;
      n.task_id = t.task_id;
      n.attempt = t.expected_attempt;
      n.kind = "rejected";
      n.detail = {{"transition", to_string(t.kind)},
                  {"expected_state", to_string(t.expected_state)},
                  {"reason", *err}};
      n.at_us = t.at_us;
      rejected.push_back(std::move(n));
      continue;
    }
    const auto r = seen[t.task_id]++;
    if (r == rounds.size())
      rounds.emplace_back();
    rounds[r].push_back(i);
  }
  for (const auto& round : rounds)
    write_round(tx, b.transitions, round, out.applied);
  if (rejected.empty()) {
    write_notes(tx, b.notes, b.checkpoints);
  } else {
    rejected.insert(rejected.end(), b.notes.begin(), b.notes.end());
    write_notes(tx, rejected, b.checkpoints);
  }
  return out;
}

} // namespace taskrt::detail

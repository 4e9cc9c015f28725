#include "taskrt/persistence/detail/batch_writer.hpp"

#include "taskrt/persistence/detail/array_literal.hpp"
#include "taskrt/persistence/detail/graph_writer.hpp"
#include "taskrt/persistence/detail/sql_text.hpp"
#include "taskrt/runtime/limit_keys.hpp"

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace taskrt::detail {

namespace {

using batch = journal_store::batch;
using batch_result = journal_store::batch_result;
using transition_item = journal_store::transition_item;
using note_item = journal_store::note_item;

std::string json_text(const nlohmann::json& j) {
  return j.is_null() ? std::string{"{}"} : j.dump();
}

/// Writes the submits of `b` whose key (if any) no task has yet; fills
/// out.submitted_ids and out.existing for all of them. Those with parents
/// are WAITING, their edges written, their ids added to `children`.
void write_submits(pqxx::work& tx, const batch& b, batch_result& out,
                   std::vector<int64_t>& children) {
  const auto n = b.submits.size();
  out.submitted_ids.assign(n, 0);
  out.existing.assign(n, false);
  // Keys already taken, and the first submit of each key in this batch.
  std::unordered_map<std::string, int64_t> taken;
  std::unordered_map<std::string, size_t> first;
  array_literal keys;
  bool any_key = false;
  for (const auto& it : b.submits)
    if (!it.spec.key.empty()) {
      keys.add(it.spec.key);
      any_key = true;
    }
  if (any_key)
    for (const auto& row : tx.exec("SELECT key, id FROM tasks WHERE key = ANY("
                                   + keys.sql(tx, "text") + ")"))
      taken[row[0].as<std::string>()] = row[1].as<int64_t>();
  std::vector<size_t> fresh;
  std::vector<std::pair<size_t, size_t>> dup_of; // (submit, first submit of its key)
  for (size_t i = 0; i < n; ++i) {
    const auto& key = b.submits[i].spec.key;
    if (key.empty()) {
      fresh.push_back(i);
    } else if (auto t = taken.find(key); t != taken.end()) {
      out.submitted_ids[i] = t->second;
      out.existing[i] = true;
    } else if (auto f = first.find(key); f != first.end()) {
      dup_of.emplace_back(i, f->second);
      out.existing[i] = true;
    } else {
      first.emplace(key, i);
      fresh.push_back(i);
    }
  }
  if (fresh.empty())
    return;
  array_literal ord, name, args, queue, priority, lock, policy, run_at, limit,
    parent, origin, at, detail, key, limit_keys, state, rule;
  for (auto i : fresh) {
    const auto& it = b.submits[i];
    const auto& s = it.spec;
    ord.add(static_cast<int64_t>(i));
    name.add(s.name);
    args.add(s.args.empty() ? std::string{"{}"} : s.args);
    queue.add(!it.queue.empty()  ? it.queue
              : !s.queue.empty() ? s.queue
                                 : std::string{default_queue});
    priority.add(int64_t{s.priority});
    lock.add_or_null(s.lock);
    policy.add_or_null(it.resolved_policy.empty() ? s.policy : it.resolved_policy);
    run_at.add(ts_text(s.run_at_us != 0 ? s.run_at_us : it.now_us));
    limit.add(pqxx::to_string(it.time_limit_s != 0 ? it.time_limit_s : s.time_limit_s));
    if (s.parent_id != 0)
      parent.add(s.parent_id);
    else
      parent.add_null();
    origin.add_or_null(s.origin);
    at.add(ts_text(it.now_us));
    key.add_or_null(s.key);
    limit_keys.add_or_null(limit_keys_text(s.limits));
    state.add(s.after.empty() ? "QUEUED" : "WAITING");
    if (s.after.empty())
      rule.add_null();
    else
      rule.add(to_string(s.trigger));
    detail.add(submit_detail(it).dump());
  }
  // trigger_rule (schema 7) is written only by a batch with parents, so
  // plain submits also work on a journal not migrated yet.
  const bool any_parents = std::any_of(fresh.begin(), fresh.end(), [&](size_t i) {
    return !b.submits[i].spec.after.empty();
  });
  const std::string rule_col = any_parents ? ", trigger_rule" : "";
  const std::string rule_val = any_parents ? ", v.rule" : "";
  // limit_keys (schema 9) likewise, only by a batch with limit keys.
  const bool any_limits = std::any_of(fresh.begin(), fresh.end(), [&](size_t i) {
    return !b.submits[i].spec.limits.empty();
  });
  const std::string keys_col = any_limits ? ", limit_keys" : "";
  const std::string keys_val = any_limits ? ", v.limit_keys" : "";
  const auto sql
    = "WITH v AS (SELECT * FROM unnest(" + ord.sql(tx, "integer") + ", "
      + name.sql(tx, "text") + ", " + args.sql(tx, "jsonb") + ", "
      + queue.sql(tx, "text") + ", " + priority.sql(tx, "integer") + ", "
      + lock.sql(tx, "text") + ", " + policy.sql(tx, "jsonb") + ", "
      + run_at.sql(tx, "timestamptz") + ", " + limit.sql(tx, "float8") + ", "
      + parent.sql(tx, "bigint") + ", " + origin.sql(tx, "text") + ", "
      + at.sql(tx, "timestamptz") + ", " + detail.sql(tx, "jsonb") + ", "
      + key.sql(tx, "text") + ", " + limit_keys.sql(tx, "jsonb") + ", " + state.sql(tx, "text")
      + ", " + rule.sql(tx, "text")
      + ") AS v(ord, name, args, queue, priority, lock, policy, run_at,"
        " time_limit_s, parent_id, origin, at, detail, key, limit_keys, state, rule)),"
        " ids AS (SELECT ord, nextval('tasks_id_seq') AS id FROM v ORDER BY ord),"
        " ins AS (INSERT INTO tasks (id, name, args, queue, priority, lock, state,"
        " attempt, retry_base, lease_epoch, policy, run_at, time_limit_s,"
        " parent_id, origin, created_at, updated_at, key" + keys_col + rule_col + ")"
        " SELECT ids.id, v.name, v.args, v.queue, v.priority, v.lock, v.state,"
        " 0, 0, 0, v.policy, v.run_at, v.time_limit_s, v.parent_id, v.origin,"
        " v.at, v.at, v.key" + keys_val + rule_val + " FROM v JOIN ids USING (ord)),"
        " ev AS (INSERT INTO task_events (task_id, attempt, kind, from_state,"
        " to_state, at, node, detail)"
        " SELECT ids.id, 0, 'submit', NULL, v.state, v.at, NULL, v.detail"
        " FROM v JOIN ids USING (ord) ORDER BY ord)"
        " SELECT ord, id FROM ids";
  for (const auto& row : tx.exec(sql))
    out.submitted_ids.at(row[0].as<size_t>()) = row[1].as<int64_t>();
  for (const auto& [i, f] : dup_of)
    out.submitted_ids[i] = out.submitted_ids[f];
  // Edges: -N names the N-th submit of this batch.
  std::vector<new_child> kids;
  for (auto i : fresh) {
    const auto& after = b.submits[i].spec.after;
    if (after.empty())
      continue;
    new_child k;
    k.id = out.submitted_ids[i];
    for (auto p : after) {
      if (p < 0 && static_cast<size_t>(-p) > i)
        throw pqxx::sql_error("after: " + std::to_string(p) + " names no earlier task of the batch",
                              "", "22023");
      k.parents.push_back(p < 0 ? out.submitted_ids.at(static_cast<size_t>(-p) - 1) : p);
    }
    children.push_back(k.id);
    kids.push_back(std::move(k));
  }
  write_edges(tx, kids);
}

} // namespace

namespace {

/// One guarded multi-row UPDATE + event INSERT for `groups` (each one or
/// two indexes into `items`, of one task, each task at most once; see
/// write_chains). Marks the transitions of applied groups in `applied`.
void write_groups(pqxx::work& tx, const std::vector<transition_item>& items,
                  const std::vector<std::vector<size_t>>& groups, std::vector<bool>& applied,
                  const std::vector<std::string>* parents) {
  // v: one row update per group, guarded by its first transition, carrying
  // the values of the last one that sets each column, the first
  // transition's event, and (ev2_*) the second one's event, if any.
  array_literal parents_col, idx, task_id, exp_state, exp_attempt, new_state, new_attempt,
    lease_epoch, run_at, priority, queue, lock_set, lock, retry_base, unstarted, node, result,
    error, at, clears_cancel, ev_kind, ev_to, ev_attempt, ev_at, ev_detail;
  array_literal ev2_ord, ev2_kind, ev2_from, ev2_to, ev2_attempt, ev2_at, ev2_detail;
  const auto event_attempt = [](const transition_item& t) {
    // A hand-back's event names the attempt it hands back.
    return int64_t{t.kind == transition_kind::requeue ? t.expected_attempt : t.new_attempt};
  };
  bool any_extra = false;
  for (const auto& g : groups) {
    const auto& first = items[g.front()];
    const auto& last = items[g.back()];
    idx.add(static_cast<int64_t>(g.front()));
    task_id.add(first.task_id);
    exp_state.add(to_string(first.expected_state));
    exp_attempt.add(int64_t{first.expected_attempt});
    new_state.add(to_string(target_state(last.kind)));
    new_attempt.add(int64_t{last.new_attempt});
    lease_epoch.add(last.lease_epoch);
    int64_t run_at_us = 0;
    std::optional<int32_t> prio, base, unst;
    std::optional<std::string> q, lk;
    std::string nd, res, err;
    bool clears = false;
    for (auto i : g) {
      const auto& t = items[i];
      if (t.run_at_us != 0)
        run_at_us = t.run_at_us;
      if (t.priority)
        prio = t.priority;
      if (t.queue)
        q = t.queue;
      if (t.lock)
        lk = t.lock;
      if (t.retry_base)
        base = t.retry_base;
      if (t.unstarted)
        unst = t.unstarted;
      if (!t.node.empty())
        nd = t.node;
      if (!t.result.empty())
        res = t.result;
      if (!t.error.empty())
        err = t.error;
      clears = clears || t.kind == transition_kind::manual_retry;
    }
    if (run_at_us != 0)
      run_at.add(ts_text(run_at_us));
    else
      run_at.add_null();
    if (prio)
      priority.add(int64_t{*prio});
    else
      priority.add_null();
    queue.add_or_null(q ? *q : std::string{});
    lock_set.add_bool(lk.has_value());
    if (lk)
      lock.add(*lk);
    else
      lock.add_null();
    if (base)
      retry_base.add(int64_t{*base});
    else
      retry_base.add_null();
    if (unst)
      unstarted.add(int64_t{*unst});
    else
      unstarted.add_null();
    node.add_or_null(nd);
    result.add_or_null(res);
    error.add_or_null(err);
    at.add(ts_text(last.at_us));
    clears_cancel.add_bool(clears);
    if (parents)
      parents_col.add_or_null(parents->at(g.front()));
    ev_kind.add(to_string(first.kind));
    ev_to.add(to_string(target_state(first.kind)));
    ev_attempt.add(event_attempt(first));
    ev_at.add(ts_text(first.at_us));
    ev_detail.add(json_text(first.detail));
    if (g.size() == 2) {
      const auto& t = items[g[1]];
      any_extra = true;
      ev2_ord.add(static_cast<int64_t>(g[1]));
      ev2_kind.add(to_string(t.kind));
      ev2_from.add(to_string(t.expected_state));
      ev2_to.add(to_string(target_state(t.kind)));
      ev2_attempt.add(event_attempt(t));
      ev2_at.add(ts_text(t.at_us));
      ev2_detail.add(json_text(t.detail));
    } else {
      ev2_ord.add_null();
      ev2_kind.add_null();
      ev2_from.add_null();
      ev2_to.add_null();
      ev2_attempt.add_null();
      ev2_at.add_null();
      ev2_detail.add_null();
    }
  }
  // What ctx.parents() gives a released task, written in the release's own
  // row version (the graph writer reads the parents and passes them).
  const std::string parents_set
    = parents ? " parents = coalesce(v.parents::json, t.parents)," : "";
  const std::string parents_val = parents ? ", " + parents_col.sql(tx, "text") : "";
  // The second event of a group of two (see write_chains), ordered after
  // the first by its index in the batch.
  const std::string ev2_val
    = any_extra ? ", " + ev2_ord.sql(tx, "integer") + ", " + ev2_kind.sql(tx, "text") + ", "
                    + ev2_from.sql(tx, "text") + ", " + ev2_to.sql(tx, "text") + ", "
                    + ev2_attempt.sql(tx, "integer") + ", " + ev2_at.sql(tx, "timestamptz")
                    + ", " + ev2_detail.sql(tx, "jsonb")
                : "";
  const std::string ev2_cols
    = any_extra ? ", ev2_ord, ev2_kind, ev2_from, ev2_to, ev2_attempt, ev2_at, ev2_detail" : "";
  const std::string ev2_ret
    = any_extra ? ", v.ev2_ord, v.ev2_kind, v.ev2_from, v.ev2_to, v.ev2_attempt, v.ev2_at,"
                  " v.ev2_detail"
                : "";
  const std::string ev2_union
    = any_extra ? " UNION ALL SELECT ev2_ord, task_id, ev2_attempt, ev2_kind, ev2_from, ev2_to,"
                  " ev2_at, node, ev2_detail FROM upd WHERE ev2_kind IS NOT NULL"
                : "";
  // Each row of v is one primary-key lookup: without hash and merge joins
  // the planner cannot pick a sequential scan of the whole (often bloated)
  // table, whatever its statistics say. SET LOCAL ends with the transaction.
  const auto sql
    = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;"
      " WITH v AS (SELECT * FROM unnest(" + idx.sql(tx, "integer") + ", "
      + task_id.sql(tx, "bigint") + ", " + exp_state.sql(tx, "text") + ", "
      + exp_attempt.sql(tx, "integer") + ", " + new_state.sql(tx, "text") + ", "
      + new_attempt.sql(tx, "integer") + ", " + lease_epoch.sql(tx, "bigint")
      + ", " + run_at.sql(tx, "timestamptz") + ", " + priority.sql(tx, "integer")
      + ", " + queue.sql(tx, "text") + ", " + lock_set.sql(tx, "boolean") + ", "
      + lock.sql(tx, "text") + ", " + retry_base.sql(tx, "integer") + ", "
      + unstarted.sql(tx, "integer") + ", "
      + node.sql(tx, "text") + ", " + result.sql(tx, "jsonb") + ", "
      + error.sql(tx, "jsonb") + ", " + at.sql(tx, "timestamptz") + ", "
      + clears_cancel.sql(tx, "boolean") + ", " + ev_kind.sql(tx, "text") + ", "
      + ev_to.sql(tx, "text") + ", " + ev_attempt.sql(tx, "integer") + ", "
      + ev_at.sql(tx, "timestamptz") + ", " + ev_detail.sql(tx, "jsonb") + parents_val + ev2_val
      + ") AS v(idx, task_id, exp_state, exp_attempt, new_state,"
        " new_attempt, lease_epoch, run_at, priority, queue, lock_set, lock,"
        " retry_base, unstarted, node, result, error, at, clears_cancel, ev_kind,"
        " ev_to, ev_attempt, ev_at, ev_detail"
      + (parents ? ", parents" : "") + ev2_cols + ")),"
        " upd AS (UPDATE tasks t SET state = v.new_state,"
        " attempt = v.new_attempt, lease_epoch = v.lease_epoch,"
        " run_at = coalesce(v.run_at, t.run_at),"
        " priority = coalesce(v.priority, t.priority),"
        " queue = coalesce(v.queue, t.queue),"
        " lock = CASE WHEN v.lock_set THEN nullif(v.lock, '') ELSE t.lock END,"
        " retry_base = coalesce(v.retry_base, t.retry_base),"
        " unstarted = coalesce(v.unstarted, t.unstarted),"
        " node = coalesce(v.node, t.node),"
        " result = coalesce(v.result, t.result),"
        " last_error = coalesce(v.error, t.last_error),"
        " cancel_requested = CASE WHEN v.clears_cancel THEN false"
        " ELSE t.cancel_requested END,"
      + parents_set +
        " updated_at = v.at"
        " FROM v WHERE t.id = v.task_id"
        " AND t.state = v.exp_state AND t.attempt = v.exp_attempt"
        " RETURNING v.idx, v.task_id, v.ev_attempt, v.ev_kind, v.exp_state, v.ev_to,"
        " v.ev_at, t.node AS node, v.ev_detail" + ev2_ret + "),"
        " ev AS (INSERT INTO task_events (task_id, attempt, kind, from_state,"
        " to_state, at, node, detail)"
        " SELECT task_id, attempt, kind, from_state, to_state, at, node, detail FROM ("
        "SELECT idx AS ord, task_id, ev_attempt AS attempt, ev_kind AS kind,"
        " exp_state AS from_state, ev_to AS to_state, ev_at AS at, node, ev_detail AS detail"
        " FROM upd" + ev2_union + ") e ORDER BY ord)"
        " SELECT idx FROM upd";
  std::vector<bool> group_applied(items.size(), false);
  for (const auto& row : tx.exec(sql))
    group_applied.at(row[0].as<size_t>()) = true;
  for (const auto& g : groups)
    if (group_applied[g.front()])
      for (auto i : g)
        applied.at(i) = true;
}

} // namespace

void write_round(pqxx::work& tx, const std::vector<transition_item>& items,
                 const std::vector<size_t>& round, std::vector<bool>& applied,
                 const std::vector<std::string>* parents) {
  std::vector<std::vector<size_t>> groups;
  groups.reserve(round.size());
  for (auto i : round)
    groups.push_back({i});
  write_groups(tx, items, groups, applied, parents);
}

namespace {

void write_notes(pqxx::work& tx, const std::vector<note_item>& notes,
                 const std::vector<journal_store::checkpoint_item>& cps) {
  std::string sql;
  if (!notes.empty()) {
    sql += "INSERT INTO task_events (task_id, attempt, kind, at, node, detail) VALUES ";
    for (size_t i = 0; i < notes.size(); ++i) {
      const auto& n = notes[i];
      sql += (i ? ", (" : "(") + std::to_string(n.task_id) + ", "
             + std::to_string(n.attempt) + ", " + tx.quote(to_string(n.kind)) + ", "
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
  // A cancel request outlives the head: the row says so until a manual
  // retry clears it.
  std::string cancels;
  for (const auto& n : notes)
    if (n.kind == note_kind::cancel_requested)
      cancels += (cancels.empty() ? "" : ", ") + std::to_string(n.task_id);
  if (!cancels.empty())
    sql += "UPDATE tasks SET cancel_requested = true WHERE id IN (" + cancels + ");";
  if (!sql.empty())
    tx.exec(sql);
}

/// The latest progress per task, one statement for the batch: the last item
/// of a task wins, and only while its attempt is the task's current one.
void write_progress(pqxx::work& tx, const std::vector<journal_store::progress_item>& items) {
  std::unordered_map<int64_t, size_t> last; // task -> its last item
  for (size_t i = 0; i < items.size(); ++i)
    last[items[i].task_id] = i;
  std::string values;
  for (const auto& [task, i] : last) {
    const auto& p = items[i];
    const nlohmann::json doc{{"attempt", p.attempt},
                             {"at_us", p.at_us},
                             {"value", nlohmann::json::parse(p.data, nullptr, false)}};
    values += (values.empty() ? "(" : ", (") + std::to_string(task) + ", "
              + std::to_string(p.attempt) + ", " + tx.quote(json_text(doc)) + "::jsonb)";
  }
  tx.exec("UPDATE tasks t SET progress = v.doc FROM (VALUES " + values
          + ") AS v(id, attempt, doc) WHERE t.id = v.id AND t.attempt = v.attempt");
}

} // namespace

namespace {

/// Writes each task's transitions in order, level by level: each level is
/// one statement (write_groups) with at most one group per task. A start
/// and the transition that follows it in the same batch (its end, most
/// often, when a short task's start and end wait for the same group
/// commit) form one group and one row version instead of two: they are one
/// attempt on the node the start names, and the second is guarded by the
/// first (its expected state and attempt are the start's target), so the
/// start's guard is theirs. When that guard fails, the start is not
/// applied and the second is tried on its own in the next level, with its
/// own guard, as before groups.
void write_chains(pqxx::work& tx, const std::vector<transition_item>& items,
                  std::vector<std::deque<size_t>>& chains, std::vector<bool>& applied) {
  const auto follows = [&](const transition_item& prev, const transition_item& next) {
    return next.node.empty() && next.expected_state == target_state(prev.kind)
           && next.expected_attempt == prev.new_attempt;
  };
  for (;;) {
    std::vector<std::vector<size_t>> groups;
    std::vector<size_t> owner; // chain of each group
    for (size_t c = 0; c < chains.size(); ++c) {
      auto& ch = chains[c];
      if (ch.empty())
        continue;
      std::vector<size_t> g{ch.front()};
      if (ch.size() > 1 && items[ch[0]].kind == transition_kind::start
          && !items[ch[0]].node.empty() && follows(items[ch[0]], items[ch[1]]))
        g.push_back(ch[1]);
      groups.push_back(std::move(g));
      owner.push_back(c);
    }
    if (groups.empty())
      return;
    write_groups(tx, items, groups, applied, nullptr);
    for (size_t k = 0; k < groups.size(); ++k) {
      auto& ch = chains[owner[k]];
      const auto n = applied[groups[k].front()] ? groups[k].size() : 1;
      ch.erase(ch.begin(), ch.begin() + static_cast<std::ptrdiff_t>(n));
    }
  }
}

} // namespace

batch_result write_batch(pqxx::work& tx, const batch& b, bool with_graph,
                         const std::function<void(int64_t)>& edges_found) {
  batch_result out;
  graph_changes graph;
  graph.edges_found = edges_found;
  if (!with_graph)
    for (const auto& it : b.submits)
      if (!it.spec.after.empty())
        throw pqxx::sql_error("after: the journal is at a schema without dependencies "
                              "(before 7); start a head of this version to migrate it",
                              "", "22023");
  if (!b.submits.empty())
    write_submits(tx, b, out, graph.children);
  // Illegal transitions become "rejected" notes; legal ones are chained per
  // task and written level by level (write_chains), so that each task
  // appears at most once per statement and a later transition's guard sees
  // the earlier one's effect.
  out.applied.assign(b.transitions.size(), false);
  std::vector<note_item> rejected;
  std::vector<std::deque<size_t>> chains; // per task, its transitions in order
  std::unordered_map<int64_t, size_t> chain_of;
  for (size_t i = 0; i < b.transitions.size(); ++i) {
    const auto& t = b.transitions[i];
    if (auto err = check_transition(t.expected_state, t.kind)) {
      note_item n;
      n.task_id = t.task_id;
      n.attempt = t.expected_attempt;
      n.kind = note_kind::rejected;
      n.detail = {{"transition", to_string(t.kind)},
                  {"expected_state", to_string(t.expected_state)},
                  {"reason", *err}};
      n.at_us = t.at_us;
      rejected.push_back(std::move(n));
      continue;
    }
    auto [c, fresh] = chain_of.emplace(t.task_id, chains.size());
    if (fresh)
      chains.emplace_back();
    chains[c->second].push_back(i);
  }
  write_chains(tx, b.transitions, chains, out.applied);
  if (rejected.empty()) {
    write_notes(tx, b.notes, b.checkpoints);
  } else {
    rejected.insert(rejected.end(), b.notes.begin(), b.notes.end());
    write_notes(tx, rejected, b.checkpoints);
  }
  if (!b.progress.empty())
    write_progress(tx, b.progress);
  // Dependencies, in this transaction: the children of what ended here.
  for (size_t i = 0; i < b.transitions.size(); ++i) {
    const auto& t = b.transitions[i];
    if (!out.applied[i])
      continue;
    graph.at_us = std::max(graph.at_us, t.at_us);
    if (is_terminal(target_state(t.kind)))
      graph.ended.push_back(t.task_id);
    else if (t.kind == transition_kind::manual_retry && is_terminal(t.expected_state))
      graph.retried.push_back(t.task_id);
  }
  for (const auto& it : b.submits)
    graph.at_us = std::max(graph.at_us, it.now_us);
  if (with_graph
      && (!graph.ended.empty() || !graph.retried.empty() || !graph.children.empty()))
    settle_graph(tx, graph, out);
  return out;
}

} // namespace taskrt::detail

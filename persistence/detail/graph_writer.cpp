#include "persistence/detail/graph_writer.hpp"

#include "persistence/detail/array_literal.hpp"
#include "persistence/detail/batch_writer.hpp"
#include "persistence/detail/sql_text.hpp"
#include "sched/trigger.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <unordered_set>

namespace taskrt::detail {

namespace {

using transition_item = journal_store::transition_item;

std::string id_array(pqxx::transaction_base& tx, const std::vector<int64_t>& ids) {
  array_literal a;
  for (auto id : ids)
    a.add(id);
  return a.sql(tx, "bigint");
}

std::vector<int64_t> sorted_unique(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

/// The WAITING children of `parents`.
std::vector<int64_t> waiting_children(pqxx::work& tx, const std::vector<int64_t>& parents) {
  std::vector<int64_t> out;
  if (parents.empty())
    return out;
  for (const auto& r : tx.exec("SELECT DISTINCT e.child_id FROM task_edges e"
                               " JOIN tasks c ON c.id = e.child_id"
                               " WHERE e.parent_id = ANY(" + id_array(tx, parents) + ")"
                               " AND c.state = 'WAITING'"))
    out.push_back(r[0].as<int64_t>());
  return out;
}

/// Decides `cands` (WAITING tasks) and journals the moves; returns the ids
/// cancelled (their children come next).
std::vector<int64_t> settle_once(pqxx::work& tx, const std::vector<int64_t>& cands,
                                 int64_t at_us, std::vector<int64_t>& released,
                                 std::vector<int64_t>& settled) {
  std::vector<int64_t> cancelled;
  if (cands.empty())
    return cancelled;
  // The parents of each candidate counted as sched::count_parents does.
  const std::string bad = "p.state IN ('FAILED', 'CANCELLED', 'LOST')";
  const auto rows = tx.exec(
    "SELECT c.id, c.attempt, coalesce(c.trigger_rule, 'all_success') AS rule, "
    + us_of("c.run_at") + " AS run_at_us, count(*) AS total,"
    " count(*) FILTER (WHERE p.state = 'SUCCEEDED') AS ok,"
    " count(*) FILTER (WHERE " + bad + ") AS failed,"
    " (array_agg(p.id ORDER BY p.updated_at, p.id) FILTER (WHERE " + bad + "))[1] AS culprit,"
    " (array_agg(p.state ORDER BY p.updated_at, p.id) FILTER (WHERE " + bad + "))[1]"
    " AS culprit_state"
    " FROM tasks c JOIN task_edges e ON e.child_id = c.id JOIN tasks p ON p.id = e.parent_id"
    " WHERE c.id = ANY(" + id_array(tx, cands) + ") AND c.state = 'WAITING'"
    " GROUP BY c.id ORDER BY c.id");
  std::vector<transition_item> items;
  for (const auto& r : rows) {
    sched::parent_counts pc;
    pc.total = r["total"].as<int64_t>();
    pc.succeeded = r["ok"].as<int64_t>();
    pc.failed = r["failed"].as<int64_t>();
    const auto rule = parse_trigger_rule(r["rule"].as<std::string>())
                        .value_or(trigger_rule::all_success);
    const auto outcome = sched::decide(rule, pc);
    if (outcome == sched::trigger_outcome::wait)
      continue;
    transition_item t;
    t.task_id = r["id"].as<int64_t>();
    t.expected_state = task_state::waiting;
    t.expected_attempt = r["attempt"].as<int32_t>();
    t.new_attempt = t.expected_attempt;
    t.at_us = at_us;
    t.detail = {{"trigger", to_string(rule)},
                {"parents", pc.total},
                {"succeeded", pc.succeeded},
                {"failed", pc.failed}};
    if (outcome == sched::trigger_outcome::release) {
      t.kind = transition_kind::release;
      t.run_at_us = std::max(r["run_at_us"].as<int64_t>(), at_us);
    } else {
      t.kind = transition_kind::cancel;
      const auto parent = r["culprit"].is_null() ? int64_t{0} : r["culprit"].as<int64_t>();
      const auto pstate = r["culprit_state"].is_null() ? std::string{}
                                                       : r["culprit_state"].as<std::string>();
      t.detail["reason"] = "upstream_failed";
      t.detail["parent"] = parent;
      t.detail["parent_state"] = pstate;
      t.error = nlohmann::json{{"kind", "upstream_failed"},
                               {"message", "parent " + std::to_string(parent) + " ended "
                                             + pstate + "; trigger " + to_string(rule)
                                             + " can no longer be met"},
                               {"parent", parent}}
                  .dump();
    }
    items.push_back(std::move(t));
  }
  if (items.empty())
    return cancelled;
  std::vector<size_t> round(items.size());
  for (size_t i = 0; i < items.size(); ++i)
    round[i] = i;
  std::vector<bool> applied(items.size(), false);
  write_round(tx, items, round, applied);
  for (size_t i = 0; i < items.size(); ++i) {
    if (!applied[i])
      continue;
    if (items[i].kind == transition_kind::release) {
      released.push_back(items[i].task_id);
    } else {
      settled.push_back(items[i].task_id);
      cancelled.push_back(items[i].task_id);
    }
  }
  return cancelled;
}

/// Decides `cands` and then, level by level, the WAITING children of those
/// it cancelled.
void settle_down(pqxx::work& tx, std::vector<int64_t> cands, int64_t at_us,
                 std::vector<int64_t>& released, std::vector<int64_t>& settled) {
  // Each level cancels tasks that were WAITING, so it ends (a graph is acyclic:
  // a batch names only earlier tasks as parents, and ids only grow).
  while (!cands.empty()) {
    auto cancelled = settle_once(tx, sorted_unique(std::move(cands)), at_us, released, settled);
    cands = waiting_children(tx, cancelled);
  }
}

/// The children of `parents` cancelled because of an upstream failure, with
/// their attempts.
std::vector<std::pair<int64_t, int32_t>> upstream_cancelled(pqxx::work& tx,
                                                             const std::vector<int64_t>& parents) {
  std::vector<std::pair<int64_t, int32_t>> out;
  if (parents.empty())
    return out;
  for (const auto& r : tx.exec("SELECT DISTINCT c.id, c.attempt FROM task_edges e"
                               " JOIN tasks c ON c.id = e.child_id"
                               " WHERE e.parent_id = ANY(" + id_array(tx, parents) + ")"
                               " AND c.state = 'CANCELLED'"
                               " AND c.last_error->>'kind' = 'upstream_failed'"))
    out.emplace_back(r[0].as<int64_t>(), r[1].as<int32_t>());
  return out;
}

} // namespace

void write_edges(pqxx::work& tx, const std::vector<new_child>& children) {
  if (children.empty())
    return;
  std::vector<int64_t> parents;
  array_literal child_col, parent_col;
  for (const auto& c : children)
    for (auto p : c.parents) {
      parents.push_back(p);
      child_col.add(c.id);
      parent_col.add(p);
    }
  parents = sorted_unique(std::move(parents));
  std::unordered_set<int64_t> found;
  for (const auto& r : tx.exec("SELECT id FROM tasks WHERE id = ANY(" + id_array(tx, parents)
                               + ") ORDER BY id FOR SHARE"))
    found.insert(r[0].as<int64_t>());
  for (auto p : parents)
    if (!found.count(p))
      throw pqxx::sql_error("after: no task with id " + std::to_string(p)
                              + " (a parent must exist when its child is submitted)",
                            "", "23503");
  tx.exec0("INSERT INTO task_edges (child_id, parent_id) SELECT * FROM unnest("
           + child_col.sql(tx, "bigint") + ", " + parent_col.sql(tx, "bigint") + ")");
}

void settle_graph(pqxx::work& tx, const graph_changes& c, journal_store::batch_result& out) {
  std::vector<int64_t> released, settled;
  // Fresh submits with parents, and the children of the tasks that ended.
  auto cands = c.children;
  if (!c.ended.empty()) {
    auto kids = waiting_children(tx, sorted_unique(c.ended));
    cands.insert(cands.end(), kids.begin(), kids.end());
  }
  settle_down(tx, std::move(cands), c.at_us, released, settled);
  // A manual retry of a parent: the children its failure cancelled wait
  // again, and theirs after them while they stay WAITING.
  auto retried = sorted_unique(c.retried);
  while (!retried.empty()) {
    auto again = upstream_cancelled(tx, retried);
    if (again.empty())
      break;
    std::vector<transition_item> items;
    for (const auto& [id, attempt] : again) {
      transition_item t;
      t.task_id = id;
      t.kind = transition_kind::rewait;
      t.expected_state = task_state::cancelled;
      t.expected_attempt = attempt;
      t.new_attempt = attempt;
      t.at_us = c.at_us;
      t.detail = {{"reason", "parent_retried"}};
      items.push_back(std::move(t));
    }
    std::vector<size_t> round(items.size());
    for (size_t i = 0; i < items.size(); ++i)
      round[i] = i;
    std::vector<bool> applied(items.size(), false);
    write_round(tx, items, round, applied);
    std::vector<int64_t> moved;
    for (size_t i = 0; i < items.size(); ++i)
      if (applied[i])
        moved.push_back(items[i].task_id);
    if (moved.empty())
      break;
    // The error that cancelled them no longer holds.
    tx.exec0("UPDATE tasks SET last_error = NULL WHERE id = ANY(" + id_array(tx, moved) + ")");
    out.rewaited.insert(out.rewaited.end(), moved.begin(), moved.end());
    // Some may be decided at once (another parent failed for good meanwhile).
    std::vector<int64_t> rel, can;
    settle_down(tx, moved, c.at_us, rel, can);
    released.insert(released.end(), rel.begin(), rel.end());
    settled.insert(settled.end(), can.begin(), can.end());
    std::set<int64_t> gone{can.begin(), can.end()};
    gone.insert(rel.begin(), rel.end());
    retried.clear();
    for (auto id : moved)
      if (!gone.count(id))
        retried.push_back(id); // still WAITING: their cancelled children wait too
  }
  if (!released.empty()) {
    // What ctx.parents() gives the released tasks: their parents as of now.
    tx.exec0("UPDATE tasks c SET parents = (SELECT jsonb_agg(jsonb_build_object("
             "'id', p.id, 'name', p.name, 'state', p.state, 'result', p.result) ORDER BY p.id)"
             " FROM task_edges e JOIN tasks p ON p.id = e.parent_id WHERE e.child_id = c.id)"
             " WHERE c.id = ANY(" + id_array(tx, released) + ")");
    out.released = read_tasks(tx, released);
  }
  if (!settled.empty())
    out.settled = read_tasks(tx, settled);
}

int64_t count_children(pqxx::transaction_base& tx, const std::vector<int64_t>& ids) {
  if (ids.empty())
    return 0;
  return tx.exec1("SELECT count(*) FROM (SELECT 1 FROM task_edges WHERE parent_id = ANY("
                  + id_array(tx, ids) + ") LIMIT 100000) e")[0]
    .as<int64_t>();
}

std::vector<task_record> read_tasks(pqxx::transaction_base& tx, const std::vector<int64_t>& ids) {
  std::vector<task_record> out;
  if (ids.empty())
    return out;
  for (const auto& r : tx.exec("SELECT " + task_columns() + " FROM tasks t WHERE id = ANY("
                               + id_array(tx, ids) + ") ORDER BY id"))
    out.push_back(task_from_row(r));
  return out;
}

} // namespace taskrt::detail

#include "taskrt/persistence/detail/graph_writer.hpp"

#include "taskrt/persistence/detail/array_literal.hpp"
#include "taskrt/persistence/detail/batch_writer.hpp"
#include "taskrt/persistence/detail/sql_text.hpp"
#include "taskrt/sched/trigger.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <string>
#include <unordered_map>
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

/// What the settling moved: the tasks released and, for each, what
/// ctx.parents() gives it (JSON text); the tasks cancelled.
struct moves {
  std::vector<int64_t> released;
  std::vector<int64_t> settled;
  std::unordered_map<int64_t, std::string> parents; ///< released id -> its parents
  const std::function<void(int64_t)>* edges_found = nullptr; ///< graph_changes::edges_found

  void found(size_t edges) const {
    if (edges_found && *edges_found)
      (*edges_found)(static_cast<int64_t>(edges));
  }
};

/// One parent of a WAITING task, as read with it.
struct parent_row {
  int64_t id = 0;
  std::string name;
  std::string state;
  int64_t updated_us = 0;
  std::string result; ///< JSON text; empty: none
};

/// What ctx.parents() gives: [{id, name, state, result}] by id. Built here
/// from the parents' rows (each result spliced as Postgres printed it,
/// valid JSON) rather than by jsonb_agg in SQL, which cost a fan-in of
/// 10,000 parents about 100 ms of its release commit (docs/performance.md).
std::string parents_json(std::vector<parent_row> ps) {
  std::sort(ps.begin(), ps.end(),
            [](const parent_row& a, const parent_row& b) { return a.id < b.id; });
  std::string out = "[";
  for (const auto& p : ps) {
    if (out.size() > 1)
      out += ',';
    out += "{\"id\":" + std::to_string(p.id) + ",\"name\":" + nlohmann::json(p.name).dump()
           + ",\"state\":\"" + p.state + "\",\"result\":" + (p.result.empty() ? "null" : p.result)
           + '}';
  }
  out += ']';
  return out;
}

/// The parents of each of `children`: child id -> its parents' rows.
std::unordered_map<int64_t, std::vector<parent_row>>
read_parents(pqxx::work& tx, const std::vector<int64_t>& children) {
  std::unordered_map<int64_t, std::vector<parent_row>> out;
  for (const auto& r : tx.exec("SELECT e.child_id, p.id, p.name, p.state, p.result::text FROM"
                               " task_edges e JOIN tasks p ON p.id = e.parent_id"
                               " WHERE e.child_id = ANY(" + id_array(tx, children) + ")")) {
    parent_row p;
    p.id = r[1].as<int64_t>();
    p.name = r[2].as<std::string>();
    p.state = r[3].as<std::string>();
    if (!r[4].is_null())
      p.result = r[4].as<std::string>();
    out[r[0].as<int64_t>()].push_back(std::move(p));
  }
  return out;
}

/// One WAITING task to move, as decided.
struct decision {
  int64_t id = 0;
  int32_t attempt = 0;
  int64_t run_at_us = 0;
  trigger_rule rule = trigger_rule::all_success;
  sched::trigger_outcome outcome = sched::trigger_outcome::wait;
  sched::parent_counts counts;
  int64_t culprit = 0;       ///< a parent that ended otherwise (cancel)
  std::string culprit_state;
  std::string parents;       ///< a release's ctx.parents(), when already read
};

/// Journals `ds` (guarded by WAITING); returns the ids cancelled.
std::vector<int64_t> apply(pqxx::work& tx, std::vector<decision>& ds, int64_t at_us,
                           moves& out) {
  std::vector<int64_t> cancelled;
  // The parents of releases decided without reading them all.
  std::vector<int64_t> unread;
  for (const auto& d : ds)
    if (d.outcome == sched::trigger_outcome::release && d.parents.empty())
      unread.push_back(d.id);
  if (!unread.empty()) {
    auto rows = read_parents(tx, unread);
    for (auto& d : ds)
      if (d.outcome == sched::trigger_outcome::release && d.parents.empty())
        d.parents = parents_json(std::move(rows[d.id]));
  }
  std::vector<transition_item> items;
  std::vector<std::string> parents;
  for (const auto& d : ds) {
    if (d.outcome == sched::trigger_outcome::wait)
      continue;
    transition_item t;
    t.task_id = d.id;
    t.expected_state = task_state::waiting;
    t.expected_attempt = d.attempt;
    t.new_attempt = d.attempt;
    t.at_us = at_us;
    t.detail = {{"trigger", to_string(d.rule)}};
    parents.push_back(d.outcome == sched::trigger_outcome::release ? d.parents : "");
    if (d.outcome == sched::trigger_outcome::release) {
      t.kind = transition_kind::release;
      t.run_at_us = std::max(d.run_at_us, at_us);
    } else {
      t.kind = transition_kind::cancel;
      t.detail["reason"] = "upstream_failed";
      t.detail["parent"] = d.culprit;
      t.detail["parent_state"] = d.culprit_state;
      t.error = nlohmann::json{{"kind", "upstream_failed"},
                               {"message", "parent " + std::to_string(d.culprit) + " ended "
                                             + d.culprit_state + "; trigger "
                                             + to_string(d.rule) + " can no longer be met"},
                               {"parent", d.culprit}}
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
  write_round(tx, items, round, applied, &parents);
  for (size_t i = 0; i < items.size(); ++i) {
    if (!applied[i])
      continue;
    if (items[i].kind == transition_kind::release) {
      out.released.push_back(items[i].task_id);
      out.parents[items[i].task_id] = std::move(parents[i]);
    } else {
      out.settled.push_back(items[i].task_id);
      cancelled.push_back(items[i].task_id);
    }
  }
  return cancelled;
}

/// Decides `cands` (WAITING tasks) from all their parents, read once: the
/// counts (sched::count_parents), the culprit of a cancel (the first parent,
/// by end, that ended otherwise) and a release's ctx.parents() all come
/// from the same rows. Journals the moves; returns the ids cancelled (their
/// children come next).
std::vector<int64_t> settle_once(pqxx::work& tx, const std::vector<int64_t>& cands,
                                 int64_t at_us, moves& out) {
  if (cands.empty())
    return {};
  std::map<int64_t, decision> kids;
  std::unordered_map<int64_t, std::vector<parent_row>> rows;
  size_t edges = 0;
  for (const auto& r : tx.exec(
         "SELECT c.id, c.attempt, coalesce(c.trigger_rule, 'all_success'), "
         + us_of("c.run_at") + ", p.id, p.name, p.state, " + us_of("p.updated_at")
         + ", p.result::text"
           " FROM tasks c JOIN task_edges e ON e.child_id = c.id JOIN tasks p ON p.id = e.parent_id"
           " WHERE c.id = ANY(" + id_array(tx, cands) + ") AND c.state = 'WAITING'")) {
    const auto id = r[0].as<int64_t>();
    auto& d = kids[id];
    if (d.id == 0) {
      d.id = id;
      d.attempt = r[1].as<int32_t>();
      d.rule = parse_trigger_rule(r[2].as<std::string>()).value_or(trigger_rule::all_success);
      d.run_at_us = r[3].as<int64_t>();
    }
    parent_row p;
    p.id = r[4].as<int64_t>();
    p.name = r[5].as<std::string>();
    p.state = r[6].as<std::string>();
    p.updated_us = r[7].as<int64_t>();
    if (!r[8].is_null())
      p.result = r[8].as<std::string>();
    rows[id].push_back(std::move(p));
    ++edges;
  }
  out.found(edges);
  std::vector<decision> ds;
  for (auto& [id, d] : kids) {
    auto& ps = rows[id];
    std::vector<task_state> states;
    const parent_row* culprit = nullptr;
    for (const auto& p : ps) {
      const auto st = state_of(p.state, "tasks.state");
      states.push_back(st);
      if (st != task_state::succeeded && is_terminal(st)
          && (!culprit || std::tie(p.updated_us, p.id) < std::tie(culprit->updated_us, culprit->id)))
        culprit = &p;
    }
    if (culprit) {
      d.culprit = culprit->id;
      d.culprit_state = culprit->state;
    }
    d.counts = sched::count_parents(states);
    d.outcome = sched::decide(d.rule, d.counts);
    if (d.outcome == sched::trigger_outcome::release)
      d.parents = parents_json(std::move(ps));
    ds.push_back(std::move(d));
  }
  return apply(tx, ds, at_us, out);
}

/// Decides the WAITING children of `ended` (tasks this transaction took to
/// a final state, or back to QUEUED by a retry in the same batch). A child
/// with a parent still pending (QUEUED, RUNNING, WAITING) among its newest
/// ones is decided from the parents that just ended alone: they are the
/// only change since it was last decided, and one pending parent is enough
/// to know what decide() answers (sched::decide with a count that leaves one
/// parent pending). Any other child is decided from all its parents, once.
/// So a fan-in of N parents reads one pending parent per commit, not N, and
/// all N in the commit that ends the last.
/// Returns the ids cancelled.
std::vector<int64_t> settle_after(pqxx::work& tx, const std::vector<int64_t>& ended,
                                  int64_t at_us, moves& out) {
  if (ended.empty())
    return {};
  struct delta {
    std::vector<std::pair<int64_t, std::string>> parents; // ended ones, with their states
    int32_t attempt = 0;
    int64_t run_at_us = 0;
    trigger_rule rule = trigger_rule::all_success;
  };
  // Three lookups, each by an index the planner cannot route around: the
  // ended parents' edges (task_edges_parent_idx), those children's rows and
  // the parents' rows (primary key). One join of the three let the planner
  // start from "tasks WHERE state = 'WAITING'" (no index has state, so a
  // scan of the whole table) once its statistics had seen many WAITING
  // rows: a scan of tasks in every commit that ended a parent, 1 s each at
  // 10,000 tasks (docs/performance.md, Workflows).
  const auto parent_ids = sorted_unique(ended);
  std::map<int64_t, std::vector<int64_t>> kids_of; // ended parent -> its children
  std::vector<int64_t> child_ids;
  for (const auto& r : tx.exec("SELECT parent_id, child_id FROM task_edges WHERE parent_id = ANY("
                               + id_array(tx, parent_ids) + ")")) {
    kids_of[r[0].as<int64_t>()].push_back(r[1].as<int64_t>());
    child_ids.push_back(r[1].as<int64_t>());
  }
  if (child_ids.empty())
    return {};
  out.found(child_ids.size());
  child_ids = sorted_unique(std::move(child_ids));
  std::map<int64_t, delta> kids;
  for (const auto& r : tx.exec("SELECT id, attempt, coalesce(trigger_rule, 'all_success'), "
                               + us_of("run_at") + " FROM tasks WHERE id = ANY("
                               + id_array(tx, child_ids) + ") AND state = 'WAITING'")) {
    auto& k = kids[r[0].as<int64_t>()];
    k.attempt = r[1].as<int32_t>();
    k.rule = parse_trigger_rule(r[2].as<std::string>()).value_or(trigger_rule::all_success);
    k.run_at_us = r[3].as<int64_t>();
  }
  if (kids.empty())
    return {};
  // The parents in the order they ended (the first one that ended otherwise
  // is named as the culprit).
  for (const auto& r : tx.exec("SELECT id, state FROM tasks WHERE id = ANY("
                               + id_array(tx, parent_ids) + ") ORDER BY updated_at, id")) {
    const auto pid = r[0].as<int64_t>();
    const auto state = r[1].as<std::string>();
    for (auto kid : kids_of[pid])
      if (auto k = kids.find(kid); k != kids.end())
        k->second.parents.emplace_back(pid, state);
  }
  if (kids.empty())
    return {};
  std::vector<int64_t> ids;
  for (const auto& [id, k] : kids)
    ids.push_back(id);
  // One pending parent each, if any, among the newest probe_depth (parents
  // tend to end in the order they were submitted, so the pending ones are
  // the newest). A child with none there is read whole (settle_once), which
  // finds any older pending parent itself: the commit that ends a fan-in's
  // last parent reads its N parents once, not twice (a probe through all N
  // first cost 31 ms of that commit at N = 10,000).
  constexpr int probe_depth = 256;
  std::set<int64_t> pending;
  for (const auto& r : tx.exec(
         "SELECT k.id FROM unnest(" + id_array(tx, ids) + ") AS k(id) WHERE EXISTS ("
         "SELECT 1 FROM (SELECT e.parent_id FROM task_edges e WHERE e.child_id = k.id"
         " ORDER BY e.parent_id DESC LIMIT " + std::to_string(probe_depth) + ") x"
         " JOIN tasks p ON p.id = x.parent_id WHERE p.state IN ('QUEUED', 'RUNNING', 'WAITING'))"))
    pending.insert(r[0].as<int64_t>());
  std::vector<int64_t> full;
  std::vector<decision> ds;
  for (const auto& [id, k] : kids) {
    if (!pending.count(id)) {
      full.push_back(id);
      continue;
    }
    decision d;
    d.id = id;
    d.attempt = k.attempt;
    d.run_at_us = k.run_at_us;
    d.rule = k.rule;
    std::vector<task_state> states;
    for (const auto& [pid, st] : k.parents) {
      const auto s = state_of(st, "tasks.state"); // as settle_once: never a default
      states.push_back(s);
      if (d.culprit == 0 && s != task_state::succeeded && is_terminal(s)) {
        d.culprit = pid;
        d.culprit_state = st;
      }
    }
    states.push_back(task_state::running); // the pending one
    d.counts = sched::count_parents(states);
    d.outcome = sched::decide(d.rule, d.counts);
    ds.push_back(std::move(d));
  }
  auto cancelled = apply(tx, ds, at_us, out);
  auto more = settle_once(tx, full, at_us, out);
  cancelled.insert(cancelled.end(), more.begin(), more.end());
  return cancelled;
}

/// Decides `cands` from all their parents, then, level by level, the
/// WAITING children of those cancelled.
void settle_down(pqxx::work& tx, std::vector<int64_t> cands, int64_t at_us, moves& out) {
  // Each level cancels tasks that were WAITING, so it ends (a graph is acyclic:
  // a batch names only earlier tasks as parents, and ids only grow).
  auto cancelled = settle_once(tx, sorted_unique(std::move(cands)), at_us, out);
  while (!cancelled.empty())
    cancelled = settle_after(tx, cancelled, at_us, out);
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
  // The statements below are index walks sized by the graph they touch; a
  // fan-out's or fan-in's 10,000 rows made Postgres compile them (JIT, by
  // its cost estimate) for hundreds of ms each, never won back.
  tx.exec0("SET LOCAL jit = off");
  moves m;
  m.edges_found = &c.edges_found;
  // Fresh submits with parents; the children of the tasks that ended.
  settle_down(tx, c.children, c.at_us, m);
  for (auto cancelled = settle_after(tx, c.ended, c.at_us, m); !cancelled.empty();)
    cancelled = settle_after(tx, cancelled, c.at_us, m);
  // A manual retry of a parent: the children its failure cancelled wait
  // again, and theirs after them while they stay WAITING.
  auto retried = sorted_unique(c.retried);
  while (!retried.empty()) {
    auto again = upstream_cancelled(tx, retried);
    if (again.empty())
      break;
    m.found(again.size());
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
    moves again_moves;
    again_moves.edges_found = &c.edges_found;
    settle_down(tx, moved, c.at_us, again_moves);
    const auto& rel = again_moves.released;
    const auto& can = again_moves.settled;
    m.released.insert(m.released.end(), rel.begin(), rel.end());
    m.settled.insert(m.settled.end(), can.begin(), can.end());
    for (auto& [id, ps] : again_moves.parents)
      m.parents[id] = std::move(ps);
    std::set<int64_t> gone{can.begin(), can.end()};
    gone.insert(rel.begin(), rel.end());
    retried.clear();
    for (auto id : moved)
      if (!gone.count(id))
        retried.push_back(id); // still WAITING: their cancelled children wait too
  }
  // Their parents (ctx.parents()) were written with the release itself
  // (write_round); the rows are read back without them.
  if (!m.released.empty())
    out.released = read_tasks(tx, m.released, &m.parents);
  if (!m.settled.empty())
    out.settled = read_tasks(tx, m.settled);
}

std::vector<task_record> read_tasks(pqxx::transaction_base& tx, const std::vector<int64_t>& ids,
                                    std::unordered_map<int64_t, std::string>* parents) {
  std::vector<task_record> out;
  if (ids.empty())
    return out;
  for (const auto& r : tx.exec("SELECT " + task_columns(parents == nullptr)
                               + " FROM tasks t WHERE id = ANY(" + id_array(tx, ids)
                               + ") ORDER BY id")) {
    out.push_back(task_from_row(r));
    if (parents)
      if (auto p = parents->find(out.back().id); p != parents->end())
        out.back().parents = std::move(p->second);
  }
  return out;
}

} // namespace taskrt::detail

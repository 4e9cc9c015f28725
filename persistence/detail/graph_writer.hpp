#pragma once
/// The dependency graph in the journal (private): edges written with their
/// child's submit, and the WAITING children settled in the transaction that
/// ends a parent, so no crash falls between a parent's end and its
/// children's release. The rules themselves are sched/trigger.hpp's.
///
/// SQL: table task_edges (child_id, parent_id), tasks.trigger_rule,
/// tasks.state 'WAITING' (migration 7).

#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/journal_store.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace taskrt::detail {

/// A fresh submit with parents: its id and its parents' ids (resolved).
struct new_child {
  int64_t id = 0;
  std::vector<int64_t> parents;
};

/// Checks that every parent of `children` exists, locks the parents' rows
/// (FOR SHARE, by id: an end of one of them in another transaction waits
/// for this one, or this one reads its end) and writes the edges. Throws a
/// data-class sql_error naming a missing parent.
void write_edges(pqxx::work& tx, const std::vector<new_child>& children);

/// What a batch did that may move WAITING tasks.
struct graph_changes {
  std::vector<int64_t> ended;    ///< tasks a transition took to a final state
  std::vector<int64_t> retried;  ///< tasks a manual retry took from FAILED/LOST/CANCELLED
  std::vector<int64_t> children; ///< fresh submits with parents
  int64_t at_us = 0;             ///< when (the batch's newest stamp)
  /// Told the edges found before they are settled (sizes the commit's
  /// deadline); may be empty.
  std::function<void(int64_t)> edges_found;
};

/// Settles the WAITING tasks `c` may move: the children of `c.ended` and
/// `c.children` themselves are released (WAITING → QUEUED, "release") or
/// cancelled ("cancel", reason upstream_failed naming the parent) as their
/// trigger says, cascading to the children of those cancelled; the
/// children of `c.retried` cancelled with upstream_failed wait again
/// ("rewait", CANCELLED → WAITING), cascading down, and are settled in
/// turn. Every move is a journaled, guarded transition of this transaction.
/// Fills out.released and out.settled.
void settle_graph(pqxx::work& tx, const graph_changes& c, journal_store::batch_result& out);

/// The rows of tasks `ids` (by id). With `parents` (id -> JSON text), the
/// parents column is not read but taken (moved) from there.
std::vector<task_record> read_tasks(pqxx::transaction_base& tx, const std::vector<int64_t>& ids,
                                    std::unordered_map<int64_t, std::string>* parents = nullptr);

} // namespace taskrt::detail

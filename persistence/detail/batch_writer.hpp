#pragma once
/// Writes one journal_store::batch inside a transaction (private).

#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/journal_store.hpp"

#include <functional>

namespace taskrt::detail {

/// Writes `b` in `tx` (the caller commits): one statement for all submits,
/// one per round of transitions (a round holds each task at most once), one
/// for notes and checkpoints.
/// `graph`: the journal has the dependency graph (schema 7); without it a
/// submit with parents is refused and nothing is settled. `edges_found`, when
/// set, is told the edges the settling is about to work through (each
/// batch of them as it reads them), before that work.
journal_store::batch_result write_batch(pqxx::work& tx,
                                        const journal_store::batch& b, bool graph = true,
                                        const std::function<void(int64_t)>& edges_found = {});

/// One guarded multi-row UPDATE + event INSERT for `round` (indexes into
/// `items`, each task at most once). Marks applied ones in `applied`.
/// `parents`, when given (indexed like `items`), is each release's
/// tasks.parents as JSON text ("" leaves the column as it is).
void write_round(pqxx::work& tx, const std::vector<journal_store::transition_item>& items,
                 const std::vector<size_t>& round, std::vector<bool>& applied,
                 const std::vector<std::string>* parents = nullptr);

} // namespace taskrt::detail

#pragma once
/// The persistence actor: the only writer to Postgres. It runs detached (its
/// calls block) and turns the transitions that queue up in its mailbox while a
/// commit is in flight into the next single transaction (group commit). Every
/// request is answered only after its transaction committed.
///
/// Messages:
///   journal_store::batch            → batch_result   (after commit)
///   (get_atom, int64_t id)          → vector<task_record> (0 or 1 rows)
///   (load_atom)                     → recovery_data
///   node_row                        → (nothing; upserts the node registry row)
///   (flush_atom)                    → internal: commit what is pending

#include "actors/local_messages.hpp"

#include <memory>

namespace taskrt {

/// Spawns the persistence actor on `store` (already migrated).
caf::actor spawn_persistence(caf::actor_system& sys,
                             std::shared_ptr<journal_store> store);

} // namespace taskrt

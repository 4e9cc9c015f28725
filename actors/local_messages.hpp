#pragma once
/// Messages that never leave the head process: the persistence and retry
/// actors live beside the scheduler. They are plain C++ types, allowed as
/// local-only CAF messages here (never sent to a remote node).

#include "persistence/journal_store.hpp"
#include "runtime/retry_policy.hpp"

#include <caf/all.hpp>

#include <map>
#include <vector>

namespace taskrt {

/// What the head loads from Postgres before it serves (cf. Ray's GcsInitData).
struct recovery_data {
  /// QUEUED and RUNNING tasks, and FAILED/LOST ones an older version left
  /// without a final retry decision (decided again at recovery).
  std::vector<task_record> tasks;
  std::map<int64_t, std::string> checkpoints;  ///< latest checkpoint per task
  std::vector<node_row> nodes;                 ///< the registry as last journaled
  /// Grows at every head start (kept in Postgres): leases are
  /// (generation << 32 | counter), unique across head lifetimes.
  int64_t generation = 0;
};

/// A request to the retry actor: evaluate `policy` for `input`.
struct retry_request {
  retry_policy policy;
  failure_input input;
};

using load_atom = caf::atom_constant<caf::atom("load")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using prune_atom = caf::atom_constant<caf::atom("prune")>;

} // namespace taskrt

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::journal_store::batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::journal_store::batch_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::recovery_data)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::retry_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::retry_decision)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<taskrt::task_record>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::node_row)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<taskrt::node_row>)

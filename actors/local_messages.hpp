#pragma once
/// Messages that never leave the head process: the persistence and retry
/// actors live beside the scheduler. They are plain C++ types, allowed as
/// local-only CAF messages here (never sent to a remote node).

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/persistence/limit_store.hpp"
#include "taskrt/runtime/retry_policy.hpp"

#include <caf/all.hpp>

#include <map>
#include <optional>
#include <string>
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
  /// With a window (load_atom, N): `tasks` holds only the first N due QUEUED
  /// tasks of each queue, `due` counts them all per queue. Without: every
  /// QUEUED task, `due` empty.
  int32_t window = 0;
  std::map<std::string, int64_t> due;
  /// With a horizon (load_atom, N, H): QUEUED tasks scheduled after H are not
  /// in `tasks`; `later` counts them.
  int64_t horizon_us = 0;
  int64_t later = 0;
  int64_t waiting = 0; ///< WAITING tasks (a windowed load counts them; else 0)
  int64_t max_id = 0; ///< the highest task id in the journal
};

/// A refill of a queue's window: its due QUEUED tasks after a place in its
/// order (journal_store::queued_after), asked once every write sent before
/// it is committed.
struct window_query {
  std::string queue;
  std::optional<journal_store::queue_position> after;
  int64_t now_us = 0;
  int32_t limit = 0;
};

/// The answer to a window_query: the rows, best first, and their newest
/// checkpoints.
struct window_rows {
  std::vector<task_record> tasks;
  std::map<int64_t, std::string> checkpoints;
};

/// A request to the retry actor: evaluate `policy` for `input`.
struct retry_request {
  retry_policy policy;
  failure_input input;
};

using load_atom = caf::atom_constant<caf::atom("load")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using prune_atom = caf::atom_constant<caf::atom("prune")>;
using window_atom = caf::atom_constant<caf::atom("window")>;
using later_atom = caf::atom_constant<caf::atom("later")>;
using limits_atom = caf::atom_constant<caf::atom("limits")>;

} // namespace taskrt

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::journal_store::batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::journal_store::batch_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::recovery_data)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::window_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::window_rows)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::retry_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::retry_decision)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<taskrt::task_record>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(taskrt::node_row)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<taskrt::node_row>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<taskrt::limit_row>)

#pragma once
/// The node registry rows (informational: the CLI and `taskrt status` read
/// them; the head's live view is sched/node_registry). Implemented by
/// journal_store (Postgres) and memory_journal (in memory).

#include "taskrt/persistence/node_row.hpp"

#include <cstdint>
#include <vector>

namespace taskrt {

/// Node rows. Every method throws store_error on failure.
class node_store_interface {
public:
  virtual ~node_store_interface() = default;

  /// Inserts or replaces the row of `n.id`.
  virtual void upsert_node(const node_row& n) = 0;

  /// Inserts or replaces the rows of `ns` at once (the last row of an id wins).
  virtual void upsert_nodes(const std::vector<node_row>& ns) = 0;

  /// Deletes DEAD and LEFT nodes whose last heartbeat is older than
  /// `older_than_us`; returns how many.
  virtual int64_t prune_nodes(int64_t older_than_us) = 0;

  /// Every known node, by id.
  virtual std::vector<node_row> nodes() = 0;
};

} // namespace taskrt

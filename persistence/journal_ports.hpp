#pragma once
/// The four narrow views of one journal, as the persistence actor, the CLI
/// and the tests take them: both journal_store (Postgres) and memory_journal
/// (in memory) provide all four.

#include "taskrt/persistence/node_store_interface.hpp"
#include "taskrt/persistence/retention_store_interface.hpp"
#include "taskrt/persistence/task_reads_interface.hpp"
#include "taskrt/persistence/transition_store_interface.hpp"

#include <memory>

namespace taskrt {

/// One journal seen through its interfaces (all four share one connection).
struct journal_ports {
  std::shared_ptr<transition_store_interface> transitions;
  std::shared_ptr<node_store_interface> nodes;
  std::shared_ptr<task_reads_interface> reads;
  std::shared_ptr<retention_store_interface> retention;

  /// The four views of `store` (journal_store, memory_journal, ...).
  template <class Store>
  static journal_ports of(std::shared_ptr<Store> store) {
    return {store, store, store, store};
  }
};

} // namespace taskrt

#pragma once
/// A fake persistence actor for unit tests of the scheduler's logic: it
/// records every batch it is sent and answers as a journal whose guards all
/// pass. Storage itself is tested against a real Postgres in tests/pg.

#include "actors/local_messages.hpp"
#include "runtime/protocol.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace taskrt::test {

/// What the fake journal saw and what it answers at recovery.
struct journal_log {
  std::mutex mu;
  std::vector<journal_store::batch> batches;
  recovery_data recovery;
  int64_t next_id = 1;
  caf::actor subscriber;

  /// A copy of the batches so far.
  std::vector<journal_store::batch> seen() {
    std::lock_guard<std::mutex> g{mu};
    return batches;
  }

  /// Waits (up to 5 s) until `pred(batches)` holds; returns whether it did.
  bool wait_for(const std::function<bool(const std::vector<journal_store::batch>&)>& pred) {
    for (int i = 0; i < 500; ++i) {
      if (pred(seen()))
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

/// Spawns the fake journal behind `log`.
inline caf::actor spawn_fake_journal(caf::actor_system& sys, std::shared_ptr<journal_log> log) {
  return sys.spawn([log](caf::event_based_actor*) -> caf::behavior {
    return {
      [log](journal_store::batch& b) {
        std::lock_guard<std::mutex> g{log->mu};
        journal_store::batch_result r;
        for (size_t i = 0; i < b.submits.size(); ++i) {
          r.submitted_ids.push_back(log->next_id++);
          r.existing.push_back(false);
        }
        r.applied.assign(b.transitions.size(), true);
        log->batches.push_back(std::move(b));
        return r;
      },
      [log](load_atom) {
        std::lock_guard<std::mutex> g{log->mu};
        return log->recovery;
      },
      [log](load_atom, int32_t, int64_t) { // every task, as a journal without windows
        std::lock_guard<std::mutex> g{log->mu};
        return log->recovery;
      },
      [](window_atom, const window_query&) { return window_rows{}; },
      [](later_atom, int64_t, int64_t) { return window_rows{}; },
      [](caf::get_atom, int64_t) { return std::vector<task_record>{}; },
      [](node_row&) {},
      [](std::vector<node_row>&) {},
      [](prune_atom, int64_t) { return int64_t{0}; },
      [log](journal_atom, caf::actor& who) {
        std::lock_guard<std::mutex> g{log->mu};
        log->subscriber = who;
      },
    };
  });
}

/// Every transition of `kind` in `batches`, in order.
inline std::vector<journal_store::transition_item>
transitions_of(const std::vector<journal_store::batch>& batches, transition_kind kind) {
  std::vector<journal_store::transition_item> out;
  for (const auto& b : batches)
    for (const auto& t : b.transitions)
      if (t.kind == kind)
        out.push_back(t);
  return out;
}

} // namespace taskrt::test

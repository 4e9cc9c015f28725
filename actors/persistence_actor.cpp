#include "actors/persistence_actor.hpp"

#include "persistence/store_error.hpp"
#include "runtime/protocol.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

namespace taskrt {

namespace {

struct pending_request {
  journal_store::batch batch;
  caf::response_promise promise;
};

struct persistence_state {
  std::shared_ptr<journal_store> store;
  std::vector<pending_request> pending;
  bool flush_scheduled = false;
  uint64_t commits = 0;
  uint64_t items = 0;
  static inline const char* name = "taskrt.persistence";
};

using persistence_actor_t = caf::stateful_actor<persistence_state>;

template <class T>
void append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

/// Runs `fn` against the store, retrying transient failures (broken
/// connection) for up to a minute. A permanent failure is fatal for the head:
/// it can no longer keep its promise, so it stops and recovers on restart.
template <class F>
auto with_retries(F fn) -> decltype(fn()) {
  for (int attempt = 1;; ++attempt) {
    try {
      return fn();
    } catch (const store_error& e) {
      if (!e.transient() || attempt >= 60) {
        spdlog::critical("persistence failed permanently: {}", e.what());
        std::fflush(nullptr);
        std::_Exit(3);
      }
      spdlog::warn("persistence transient error (attempt {}): {}", attempt,
                   e.what());
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

void flush(persistence_actor_t* self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.pending.empty())
    return;
  auto reqs = std::move(st.pending);
  st.pending.clear();
  journal_store::batch all;
  for (auto& r : reqs) {
    append(all.submits, r.batch.submits);
    append(all.transitions, r.batch.transitions);
    append(all.notes, r.batch.notes);
    append(all.checkpoints, r.batch.checkpoints);
  }
  auto res = with_retries([&] { return st.store->commit(all); });
  ++st.commits;
  st.items += all.submits.size() + all.transitions.size() + all.notes.size();
  // Split the result back per request, in order.
  size_t si = 0, ti = 0;
  for (auto& r : reqs) {
    journal_store::batch_result part;
    for (size_t i = 0; i < r.batch.submits.size(); ++i)
      part.submitted_ids.push_back(res.submitted_ids[si++]);
    for (size_t i = 0; i < r.batch.transitions.size(); ++i)
      part.applied.push_back(res.applied[ti++]);
    r.promise.deliver(std::move(part));
  }
}

} // namespace

caf::actor spawn_persistence(caf::actor_system& sys,
                             std::shared_ptr<journal_store> store) {
  return sys.spawn<caf::detached>(
    [store](persistence_actor_t* self) -> caf::behavior {
      self->state.store = store;
      return {
        [self](journal_store::batch& b) {
          auto& st = self->state;
          st.pending.push_back({std::move(b), self->make_response_promise()});
          if (!st.flush_scheduled) {
            st.flush_scheduled = true;
            // Everything already in the mailbox is handled before this.
            self->send(self, flush_atom::value);
          }
          return st.pending.back().promise;
        },
        [self](flush_atom) { flush(self); },
        [](journal_atom, caf::actor&) {}, // outage notices: not sent by this version
        [self](caf::get_atom, int64_t id) {
          auto& st = self->state;
          std::vector<task_record> out;
          auto row = with_retries([&] { return st.store->get_task(id); });
          if (row)
            out.push_back(std::move(*row));
          return out;
        },
        [self](node_row& n) {
          // The node registry row is informational (the CLI reads it): a row
          // Postgres rejects is logged, never fatal for the head.
          auto& st = self->state;
          try {
            with_retries([&] {
              try {
                st.store->upsert_node(n);
              } catch (const store_error& e) {
                if (e.transient())
                  throw;
                spdlog::error("node {}: registry row not written: {}", n.id, e.what());
              }
              return 0;
            });
          } catch (...) {
          }
        },
        [self](load_atom) {
          auto& st = self->state;
          recovery_data data;
          data.tasks = with_retries([&] { return st.store->load_unfinished(); });
          data.nodes = with_retries([&] { return st.store->nodes(); });
          for (const auto& t : data.tasks) {
            auto cp = with_retries([&] { return st.store->latest_checkpoint(t.id); });
            if (cp)
              data.checkpoints[t.id] = *cp;
          }
          return data;
        },
      };
    });
}

} // namespace taskrt

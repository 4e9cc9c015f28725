#pragma once
/// The worker slots the head may dispatch to, across all nodes, and which
/// one gets the next attempt.
///
/// A slot is one worker (process or thread) of some node. It may take
/// `capacity` attempts at once (one running plus prefetched ones), or only
/// one after it handed a prefetched attempt back, until it is idle again.
/// A slot is free when it is ready (announced, not unready), its node is
/// open (ALIVE) and it may take one more attempt. Free slots are kept in a
/// set ordered by (assigned, last dispatch, id): the next attempt goes to
/// the least loaded slot (idle before prefetching), the least recently
/// dispatched among equals. Picking is O(log n); every change of a slot is
/// O(log n); opening or closing a node is O(k log n) for its k slots. A free
/// slot with nothing to run in a dispatch round is parked (out of the order)
/// until the round ends, so a round costs O(log n) per slot it looks at.
///
/// Slots are named by slot_id (the caller maps its worker handles to ids).
/// Plain data, no I/O.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace taskrt::sched {

/// Names a slot; 0 is none.
using slot_id = uint64_t;

/// What a worker announced of itself.
struct slot_info {
  std::string node;
  int32_t index = 0;
  int32_t pid = 0;
  std::vector<std::string> queues; ///< empty: all
  int32_t capacity = 1;            ///< attempts at once, prefetched included
};

/// One worker slot.
struct slot {
  slot_info info;
  bool ready = false;         ///< its worker is up (announced, not unready)
  int32_t assigned = 0;       ///< RUNNING attempts dispatched to it
  bool prefetch = true;       ///< off after it handed a prefetched attempt back, until idle
  uint64_t last_dispatch = 0; ///< round-robin order among equally loaded slots
  /// How many more attempts it may take now.
  int32_t free() const { return (prefetch ? info.capacity : 1) - assigned; }
};

/// Every slot of every node, with the free ones ordered (see above).
class slot_table {
public:
  /// The worker of slot `id` announced itself: it is ready, with `info`
  /// (creates the slot if unknown).
  void announce(slot_id id, slot_info info);

  /// The worker of slot `id` is not ready (its process is restarting).
  void set_unready(slot_id id);

  /// One more attempt counts against slot `id` (creating it, not ready and
  /// on no node, if unknown: an adopted attempt's worker).
  void assign(slot_id id);

  /// One attempt less counts against slot `id`; when it is idle, it may
  /// prefetch again.
  void unassign(slot_id id);

  /// Slot `id` got an attempt now (round-robin order).
  void dispatched(slot_id id);

  /// Slot `id` handed a prefetched attempt back: no prefetch until idle.
  void stop_prefetch(slot_id id);

  /// Forgets slot `id`.
  void erase(slot_id id);

  /// Forgets every slot of `node`; returns their ids.
  std::vector<slot_id> erase_node(const std::string& node);

  /// Opens (ALIVE) or closes (any other state) `node` for dispatch.
  void set_node_open(const std::string& node, bool open);

  /// The free slot that should get the next attempt (parked ones aside); 0
  /// when there is none.
  slot_id next() const;

  /// Free slot `id` has nothing to run now: next() passes it over until
  /// unpark_all().
  void park(slot_id id);

  /// Puts every parked slot back in the order (the end of a dispatch round).
  void unpark_all();

  /// Slot `id`, or null.
  const slot* find(slot_id id) const;

  /// Slots whose worker is ready, and those of them holding an attempt.
  std::pair<int32_t, int32_t> ready_and_busy() const;

  /// Slots known.
  size_t size() const { return slots_.size(); }

  /// Slots free now.
  size_t free_count() const { return free_.size(); }

private:
  using free_key = std::tuple<int32_t, uint64_t, slot_id>;
  /// A slot, whether it is in free_, and its node's open state.
  struct entry {
    slot s;
    bool indexed = false;
    bool parked = false;
  };
  /// A node: open for dispatch or not, and its slots.
  struct node_slots {
    bool open = false;
    std::set<slot_id> slots;
  };

  entry& ensure(slot_id id);
  void unindex(slot_id id, entry& e);
  void reindex(slot_id id, entry& e);
  void move_node(slot_id id, entry& e, const std::string& node);

  std::unordered_map<slot_id, entry> slots_;
  std::unordered_map<std::string, node_slots> nodes_;
  std::set<free_key> free_;
  std::vector<slot_id> parked_;
  uint64_t seq_ = 0;
};

} // namespace taskrt::sched

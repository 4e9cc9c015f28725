#pragma once
/// The nodes the head knows of (its own node plus registered worker nodes):
/// what each announced, its state, when it was last heard of.
///
/// ```
///   register ──► ALIVE ──no heartbeat suspect_after──► SUSPECT ──dead_after / connection down──► DEAD
///                  ▲  │                                  │ heartbeat                              │
///                  │  └──── drain ──► DRAINING           └──────► ALIVE               re-register │
///                  └──────────────────────────────────────────────────────────────────────────────┘
///   DRAINING/ALIVE ── leave ──► LEFT
///   after a head restart: known nodes are SUSPECT (not connected) until they
///   re-register, DEAD when they do not within adopt_grace.
/// ```
/// Only ALIVE nodes get dispatches. DEAD and LEFT nodes that are not
/// connected are forgotten ttl after they were last heard of.
///
/// The registry decides; the caller carries out (journals the row, ends a
/// DEAD node's attempts, opens or closes its slots). Nodes that may time
/// out are kept ordered by their last heartbeat, so check() visits only
/// those silent for longer than the shortest timeout; which names an ALIVE
/// node runs is counted, so runnable() is O(1). Plain data, no I/O.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace taskrt::sched {

/// The state of a node (see the diagram above).
enum class node_state : uint8_t { alive, suspect, dead, draining, left };

/// "ALIVE", "SUSPECT", "DEAD", "DRAINING", "LEFT".
const char* to_string(node_state s);

/// The state named `s` (as to_string writes it), or nullopt.
std::optional<node_state> parse_node_state(const std::string& s);

/// What a node announces when it registers.
struct node_announcement {
  std::string id;
  std::string host;
  int32_t slots = 0;
  int32_t pid = 0;
  std::vector<std::string> queues; ///< empty: all
  std::vector<std::string> tasks;  ///< task names its workers run; empty: all
  std::string version;             ///< taskrt version the node runs
};

/// One node in the registry.
struct node_entry {
  node_announcement info;
  std::unordered_set<std::string> runs; ///< info.tasks as a set; empty: all
  node_state state = node_state::alive;
  bool connected = false; ///< a live registration (the caller holds its handle)
  int64_t last_heartbeat_us = 0;
  int64_t started_us = 0;
};

/// Heartbeat timeouts, in seconds.
struct node_timeouts {
  double suspect_after_s = 3; ///< no heartbeat this long → SUSPECT
  double dead_after_s = 8;    ///< no heartbeat this long → DEAD
  double adopt_grace_s = 15;  ///< after a restart: not re-registered this long → DEAD
};

/// A change check() found due: node `id` goes to `to` because `reason`.
struct node_verdict {
  std::string id;
  node_state to = node_state::suspect;
  std::string reason;
};

/// The registry (see above).
class node_registry {
public:
  /// The head's own node `own_id`, ALIVE, with `slots` workers running
  /// `tasks` (the names the head knows), heard at `now_us`.
  node_registry(std::string own_id, int32_t slots, const std::vector<std::string>& tasks,
                int64_t now_us);

  /// The id of the head's own node.
  const std::string& own_id() const { return own_; }

  /// Node `id`, or null.
  const node_entry* find(const std::string& id) const;

  /// Every node, by id.
  const std::map<std::string, node_entry>& nodes() const { return nodes_; }

  /// A node registers (the first time or again): ALIVE, connected, heard at
  /// `now_us`; its names become known. Returns its state before (nullopt
  /// when it was not known).
  std::optional<node_state> register_node(node_announcement a, int64_t now_us);

  /// A node known from the journal before a restart, not connected, in
  /// `state` (the caller moves it on, e.g. to SUSPECT). False when it is
  /// known already or is the head's own.
  bool restore(const std::string& id, const std::string& host, int32_t slots,
               int64_t started_us, node_state state, int64_t now_us);

  /// Node `id` goes to `s`; false when it is unknown or was in `s` already.
  bool set_state(const std::string& id, node_state s);

  /// Node `id`'s connection is up or gone.
  void set_connected(const std::string& id, bool connected);

  /// Node `id` was heard of at `now_us` (a heartbeat).
  void heard(const std::string& id, int64_t now_us);

  /// The changes the timeouts call for at `now_us` (not applied).
  std::vector<node_verdict> check(int64_t now_us, const node_timeouts& t) const;

  /// Forgets the DEAD and LEFT nodes, not connected, not heard of for over
  /// `ttl_us`; returns their ids.
  std::vector<std::string> expire(int64_t now_us, int64_t ttl_us);

  /// True when an ALIVE node with slots runs task `name` (one that runs
  /// every name included).
  bool runnable(const std::string& name) const;

  /// Task names some node ever registered, or the head runs.
  const std::unordered_set<std::string>& known_names() const { return known_; }

  /// How many nodes are in each state.
  std::map<std::string, int64_t> count_by_state() const;

private:
  void unindex(const node_entry& n);
  void index(const node_entry& n);
  static bool watched(const node_entry& n);

  std::string own_;
  std::map<std::string, node_entry> nodes_;
  std::unordered_set<std::string> known_;
  std::set<std::pair<int64_t, std::string>> watch_; ///< (last heartbeat, id) of nodes that may time out
  int64_t alive_all_ = 0; ///< ALIVE nodes with slots that run every name
  std::unordered_map<std::string, int64_t> alive_runs_; ///< ALIVE nodes with slots per name
};

} // namespace taskrt::sched

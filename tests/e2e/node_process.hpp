#pragma once
/// A real `taskrt start --address` worker node process for end-to-end tests,
/// and what the head says about its nodes.

#include "taskrt/cluster/client.hpp"

#include <string>
#include <vector>

namespace taskrt::test {

/// A worker node process; killed (SIGCONT, SIGKILL) when it goes out of scope.
struct node_process {
  int pid = -1;
  std::string log; ///< DIR/ID.log: the node's stdout and stderr
  /// The exit code once running() saw the process end (-1: still running,
  /// killed by a signal, or not reaped yet).
  mutable int exit_code = -1;

  /// Starts `[prefix...] taskrt start --address ADDRESS --node-id ID
  /// [extra...]`. `prefix` may be `ip netns exec NS` (it execs in place, so
  /// the pid is the node's). `env`: NAME=VALUE entries added to the node's
  /// environment only (its worker processes inherit them), e.g.
  /// {"TASKRT_FAULT=node_exit_before_report"}.
  node_process(const std::string& address, const std::string& id, const std::string& dir,
               std::vector<std::string> extra = {"--workers", "2"},
               std::vector<std::string> prefix = {},
               std::vector<std::string> env = {});
  ~node_process();

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// kill -9 (after SIGCONT, should it be stopped) and reap.
  void kill9();

  /// True while the process runs (a refused node keeps retrying).
  bool running() const;

  /// The node's output so far.
  std::string output() const;
};

/// The head's node registry (empty when the request fails).
std::vector<node_view> nodes_of(client& c);

/// The state of node `id` in the head's registry ("" when unknown).
std::string node_state(client& c, const std::string& id);

} // namespace taskrt::test

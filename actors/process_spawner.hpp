#pragma once
/// How a worker actor starts and kills its worker process: behind an
/// interface (Ray's WorkerPoolInterface) so that the worker's attempt state
/// machine is unit-tested with a fake process (tests/actors/caf/), and the
/// real fork/exec lives in one place.

#include <caf/fwd.hpp>
#include <caf/actor.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// A started worker process as its worker actor holds it.
struct child_process {
  int32_t pid = -1;
  int to_child = -1; ///< write end of the command pipe (the actor owns and closes it)
  int crash_fd = -1; ///< its crash report (crash_report.hpp); -1: none
};

/// Starts and kills worker processes.
class process_spawner_interface {
public:
  virtual ~process_spawner_interface() = default;

  /// Starts `argv` (argv[0]: the binary) with its command pipe on fd 3, its
  /// event pipe on fd 4 and its crash report on fd 5. Until it exits, the
  /// lines it writes reach `owner` as (line_atom, vector<string>), every
  /// whole line of one read in one message; then (exited_atom, int32_t pid,
  /// int32_t wait status). Nothing when it could not be started.
  virtual std::optional<child_process> start(const std::vector<std::string>& argv,
                                             const caf::actor& owner) = 0;

  /// Kills process `pid` (SIGKILL); its exit comes as described above.
  virtual void kill(int32_t pid) = 0;
};

/// The real one: pipe2, fork, execv, and a reader thread per process.
class fork_exec_spawner : public process_spawner_interface {
public:
  std::optional<child_process> start(const std::vector<std::string>& argv,
                                     const caf::actor& owner) override;
  void kill(int32_t pid) override;
};

/// The spawner of every worker actor not given another one.
std::shared_ptr<process_spawner_interface> default_process_spawner();

} // namespace taskrt

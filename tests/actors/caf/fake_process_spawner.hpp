#pragma once
/// A fake process_spawner_interface for the worker actor's unit tests: no
/// fork, no exec. start() hands the worker the write end of a real pipe (so
/// its writes are the real ones) and keeps the read end, where the test reads
/// the commands the worker sent. The test plays the process: say() delivers
/// its lines, exit() its end, exactly as the real reader thread would.

#include "taskrt/actors/process_spawner.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/worker_wire.hpp"

#include <caf/all.hpp>

#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace taskrt::test {

class fake_process_spawner : public process_spawner_interface {
public:
  /// One "process" started by a worker.
  struct process {
    std::vector<std::string> argv;
    caf::actor owner;
    int read_fd = -1;
    std::string unread; ///< bytes read from the pipe, not a whole line yet
  };

  std::map<int32_t, process> procs; ///< by pid
  std::vector<int32_t> started;     ///< pids in start order
  std::vector<int32_t> killed;      ///< pids kill() was called for
  bool refuse = false;              ///< start() fails (fork failed)

  ~fake_process_spawner() override {
    for (auto& [pid, p] : procs)
      if (p.read_fd >= 0)
        ::close(p.read_fd);
  }

  std::optional<child_process> start(const std::vector<std::string>& argv,
                                     const caf::actor& owner) override {
    if (refuse)
      return std::nullopt;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
      return std::nullopt;
    const int32_t pid = next_pid_++;
    procs[pid] = process{argv, owner, fds[0], {}};
    started.push_back(pid);
    return child_process{pid, fds[1], -1};
  }

  void kill(int32_t pid) override { killed.push_back(pid); }

  /// The newest process's pid (-1: none started).
  int32_t last() const { return started.empty() ? -1 : started.back(); }

  /// The commands the worker wrote to `pid` since the last call.
  std::vector<wire::to_process> commands(int32_t pid) {
    auto& p = procs.at(pid);
    char buf[4096];
    for (;;) {
      auto n = ::read(p.read_fd, buf, sizeof buf);
      if (n <= 0)
        break;
      p.unread.append(buf, static_cast<size_t>(n));
    }
    std::vector<wire::to_process> out;
    for (auto nl = p.unread.find('\n'); nl != std::string::npos; nl = p.unread.find('\n')) {
      if (auto m = wire::decode_to_process(p.unread.substr(0, nl)))
        out.push_back(std::move(*m));
      p.unread.erase(0, nl + 1);
    }
    return out;
  }

  /// The process writes `msgs` (one read's worth of lines).
  void say(int32_t pid, const std::vector<wire::from_process>& msgs) {
    std::vector<std::string> lines;
    for (const auto& m : msgs) {
      auto line = wire::encode(m);
      if (!line.empty() && line.back() == '\n')
        line.pop_back();
      lines.push_back(std::move(line));
    }
    caf::anon_send(procs.at(pid).owner, line_atom::value, std::move(lines));
  }

  /// The process writes a raw line.
  void say_raw(int32_t pid, std::string line) {
    caf::anon_send(procs.at(pid).owner, line_atom::value, std::vector<std::string>{line});
  }

  /// The process ends with wait status `status` (exit_status / signal_status).
  void exit(int32_t pid, int32_t status) {
    caf::anon_send(procs.at(pid).owner, exited_atom::value, pid, status);
  }

  /// The wait status of exit(code).
  static int32_t exit_status(int code) { return (code & 0xff) << 8; }
  /// The wait status of death by `sig`.
  static int32_t signal_status(int sig) { return sig & 0x7f; }

private:
  int32_t next_pid_ = 4000000; // above any real pid_max
};

} // namespace taskrt::test

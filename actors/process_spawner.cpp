#include "taskrt/actors/process_spawner.hpp"

#include "taskrt/actors/crash_report.hpp"
#include "taskrt/actors/worker_process.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/worker_wire.hpp"

#include <caf/all.hpp>

#include <cerrno>
#include <csignal>
#include <thread>

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace taskrt {

std::optional<child_process> fork_exec_spawner::start(const std::vector<std::string>& args,
                                                      const caf::actor& owner) {
  int to_child[2], from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0)
    return std::nullopt;
  if (::pipe2(from_child, O_CLOEXEC) != 0) {
    ::close(to_child[0]);
    ::close(to_child[1]);
    return std::nullopt;
  }
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const int crash_fd = open_crash_report();
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1], crash_fd})
      if (fd >= 0)
        ::close(fd);
    return std::nullopt;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    int in = ::fcntl(to_child[0], F_DUPFD, 10);
    int out = ::fcntl(from_child[1], F_DUPFD, 10);
    int crash = crash_fd < 0 ? -1 : ::fcntl(crash_fd, F_DUPFD, 10);
    ::dup2(in, worker_in_fd);
    ::dup2(out, worker_out_fd);
    if (crash < 0 || ::dup2(crash, worker_crash_fd) < 0)
      ::close(worker_crash_fd);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::syscall(SYS_close_range, unsigned{worker_crash_fd + 1}, ~0u, 0u);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  caf::actor me = owner;
  int rfd = from_child[0];
  std::thread{[me, rfd, pid] {
    wire::line_splitter splitter;
    char chunk[8192];
    for (;;) {
      auto n = ::read(rfd, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      splitter.feed(chunk, static_cast<size_t>(n));
      // Every whole line of one read in one message (a result and the
      // "ready" after it come in one write): one wake-up of the actor.
      std::vector<std::string> lines;
      std::string line;
      while (splitter.next(line))
        lines.push_back(std::move(line));
      if (!lines.empty())
        caf::anon_send(me, line_atom::value, std::move(lines));
    }
    ::close(rfd);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    caf::anon_send(me, exited_atom::value, static_cast<int32_t>(pid),
                   static_cast<int32_t>(status));
  }}.detach();
  return child_process{static_cast<int32_t>(pid), to_child[1], crash_fd};
}

void fork_exec_spawner::kill(int32_t pid) {
  if (pid > 0)
    ::kill(pid, SIGKILL);
}

std::shared_ptr<process_spawner_interface> default_process_spawner() {
  static const auto real = std::make_shared<fork_exec_spawner>();
  return real;
}

} // namespace taskrt

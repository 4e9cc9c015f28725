#include "taskrt/cli/processes.hpp"

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace taskrt::cli {

namespace {

/// The fields of /proc/PID/stat after the command name: state is [0],
/// starttime (field 22 of the whole line) is [19]. Empty when absent.
std::vector<std::string> stat_fields(int pid) {
  std::ifstream f{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!f || !std::getline(f, line))
    return {};
  // The command name is in parentheses and may hold spaces or ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return {};
  std::istringstream rest{line.substr(close + 1)};
  std::vector<std::string> out;
  for (std::string field; rest >> field;)
    out.push_back(field);
  return out;
}

} // namespace

uint64_t process_start_ticks(int pid) {
  if (pid <= 0)
    return 0;
  auto f = stat_fields(pid);
  if (f.size() < 20)
    return 0;
  try {
    return std::stoull(f[19]);
  } catch (...) {
    return 0;
  }
}

bool process_alive(const process_ref& p) {
  if (p.pid <= 0)
    return false;
  auto f = stat_fields(p.pid);
  if (f.size() < 20 || f[0] == "Z" || f[0] == "X")
    return false;
  try {
    return p.start_ticks == 0 || std::stoull(f[19]) == p.start_ticks;
  } catch (...) {
    return false;
  }
}

process_ref spawn_detached(const std::vector<std::string>& argv, const std::string& log,
                           const std::vector<std::string>& env) {
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    throw std::runtime_error("cannot open " + log + ": " + std::strerror(errno));
  // exec failures come back through a close-on-exec pipe: EOF means exec worked.
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string{"pipe: "} + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The child's environment: ours, with `env` in place of the same names.
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) {
    const std::string entry{*e};
    const auto name = entry.substr(0, entry.find('=') + 1);
    bool replaced = false;
    for (const auto& x : env)
      replaced = replaced || x.compare(0, name.size(), name) == 0;
    if (!replaced)
      envp.push_back(*e);
  }
  for (const auto& x : env)
    envp.push_back(const_cast<char*>(x.c_str()));
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fd);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    throw std::runtime_error(std::string{"fork: "} + std::strerror(errno));
  }
  if (pid == 0) {
    ::setsid();
    // The CLI may have blocked signals; the new process starts clean.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execve(args[0], args.data(), envp.data());
    int err = errno;
    (void)!::write(pipefd[1], &err, sizeof(err));
    ::_exit(127);
  }
  ::close(fd);
  ::close(pipefd[1]);
  int err = 0;
  ssize_t n;
  do {
    n = ::read(pipefd[0], &err, sizeof(err));
  } while (n < 0 && errno == EINTR);
  ::close(pipefd[0]);
  if (n == static_cast<ssize_t>(sizeof(err))) {
    ::waitpid(pid, nullptr, 0);
    throw std::runtime_error("cannot run " + argv.front() + ": " + std::strerror(err));
  }
  return {static_cast<int>(pid), process_start_ticks(pid)};
}

bool child_exited(int pid, std::string& how) {
  int st = 0;
  if (pid <= 0 || ::waitpid(pid, &st, WNOHANG) != pid)
    return false;
  if (WIFEXITED(st))
    how = "exit status " + std::to_string(WEXITSTATUS(st));
  else if (WIFSIGNALED(st))
    how = "killed by signal " + std::to_string(WTERMSIG(st));
  else
    how = "ended";
  return true;
}

uint64_t file_size(const std::string& path) {
  struct stat sb {};
  return ::stat(path.c_str(), &sb) == 0 ? static_cast<uint64_t>(sb.st_size) : 0;
}

std::string tail_file(const std::string& path, size_t lines, uint64_t offset) {
  std::ifstream f{path};
  if (!f)
    return "";
  f.seekg(static_cast<std::streamoff>(offset));
  std::deque<std::string> last;
  for (std::string line; std::getline(f, line);) {
    last.push_back(std::move(line));
    if (last.size() > lines)
      last.pop_front();
  }
  std::string out;
  for (const auto& l : last)
    out += l + "\n";
  return out;
}

std::string indent_lines(const std::string& text, const std::string& indent) {
  std::string out;
  bool at_start = true;
  for (char c : text) {
    if (at_start)
      out += indent;
    out += c;
    at_start = c == '\n';
  }
  return out;
}

bool make_dirs(const std::string& dir) {
  if (dir.empty())
    return false;
  for (size_t pos = 1;; ++pos) {
    pos = dir.find('/', pos);
    auto part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      return false;
    if (pos == std::string::npos)
      break;
  }
  struct stat sb {};
  return ::stat(dir.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}

} // namespace taskrt::cli

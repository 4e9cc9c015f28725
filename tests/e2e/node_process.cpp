#include "tests/e2e/node_process.hpp"

#include "tests/e2e/head_process.hpp"

#include <csignal>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace taskrt::test {

node_process::node_process(const std::string& address, const std::string& id,
                           const std::string& dir, std::vector<std::string> extra,
                           std::vector<std::string> prefix, std::vector<std::string> env)
  : log(dir + "/" + id + ".log") {
  std::vector<std::string> args = std::move(prefix);
  for (const auto& a : {taskrt_bin(), std::string{"start"}, std::string{"--address"}, address,
                        std::string{"--node-id"}, id})
    args.push_back(a);
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto environment = child_environment(env);
  std::vector<char*> envp;
  for (auto& e : environment)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execvpe(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
}

node_process::~node_process() {
  kill9();
}

void node_process::kill9() {
  if (pid > 0 && exit_code < 0) {
    ::kill(pid, SIGCONT);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
}

bool node_process::running() const {
  if (pid <= 0 || exit_code >= 0)
    return false;
  int status = 0;
  const auto r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid && WIFEXITED(status))
    exit_code = WEXITSTATUS(status);
  return r == 0;
}

std::string node_process::output() const {
  return slurp(log);
}

std::vector<node_view> nodes_of(client& c) {
  caf::scoped_actor self{c.system()};
  std::vector<node_view> out;
  self->request(c.head(), std::chrono::seconds(10), nodes_atom::value)
    .receive([&](std::vector<node_view>& v) { out = std::move(v); }, [](caf::error&) {});
  return out;
}

std::string node_state(client& c, const std::string& id) {
  for (auto& n : nodes_of(c))
    if (n.id == id)
      return to_string(n.state);
  return "";
}

} // namespace taskrt::test

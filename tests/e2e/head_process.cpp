#include "tests/e2e/head_process.hpp"

#include "taskrt/persistence/journal_store.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace taskrt::test {

namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

bool wait_exit(int pid, int timeout_ms, int* status) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    int st = 0;
    auto r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (status)
        *status = st;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

} // namespace

task_spec spec(const std::string& name, const nlohmann::json& args,
               const std::string& policy) {
  task_spec s;
  s.name = name;
  s.args = args.dump();
  s.policy = policy;
  s.origin = "e2e";
  return s;
}

std::vector<std::string> result_nodes(const std::string& dsn, int64_t id) {
  journal_store store{dsn};
  std::vector<std::string> out;
  for (const auto& e : store.events(id))
    if (e.kind == transition_kind::succeed || e.kind == transition_kind::fail)
      out.push_back(e.node);
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream f{path};
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return std::to_string(ntohs(a.sin_port));
}

std::string taskrt_bin() {
  return TASKRT_BIN;
}

std::vector<std::string> child_environment(const std::vector<std::string>& env) {
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry{*e};
    const bool replaced = std::any_of(env.begin(), env.end(), [&](const std::string& x) {
      return name_of(x) == name_of(entry);
    });
    if (!replaced)
      out.push_back(entry);
  }
  out.insert(out.end(), env.begin(), env.end());
  return out;
}

cli_result run_cli(const std::vector<std::string>& args,
                   const std::vector<std::string>& env) {
  char out_tpl[] = "/tmp/taskrt-cli-out.XXXXXX";
  char err_tpl[] = "/tmp/taskrt-cli-err.XXXXXX";
  int ofd = ::mkstemp(out_tpl);
  int efd = ::mkstemp(err_tpl);
  ::close(ofd);
  ::close(efd);
  std::string cmd;
  for (const auto& e : env)
    cmd += e + " ";
  cmd += quote(taskrt_bin());
  for (const auto& a : args)
    cmd += " " + quote(a);
  cmd += " >" + std::string{out_tpl} + " 2>" + err_tpl + " </dev/null";
  int st = std::system(cmd.c_str());
  cli_result r;
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp(out_tpl);
  r.err = slurp(err_tpl);
  ::unlink(out_tpl);
  ::unlink(err_tpl);
  return r;
}

head_process::head_process(std::string dsn, std::vector<std::string> extra,
                           std::vector<std::string> env)
  : dsn_(std::move(dsn)), extra_(std::move(extra)) {
  char tpl[] = "/tmp/taskrt-e2e.XXXXXX";
  if (!::mkdtemp(tpl))
    throw std::runtime_error("mkdtemp failed");
  dir_ = tpl;
  start(env);
}

head_process::~head_process() {
  client_.reset();
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    if (!wait_exit(pid_, 30'000, nullptr)) {
      ::kill(pid_, SIGKILL);
      wait_exit(pid_, 5'000, nullptr);
    }
  }
  if (std::getenv("TASKRT_TEST_KEEP")) // the logs of a failure, to read
    std::fprintf(stderr, "kept %s\n", dir_.c_str());
  else
    std::system(("rm -rf " + quote(dir_)).c_str());
}

void head_process::start(const std::vector<std::string>& env) {
  ::unlink((dir_ + "/head.json").c_str());
  std::vector<std::string> args{taskrt_bin(), "start", "--head", "--db", dsn_,
                                "--data-dir", dir_};
  args.insert(args.end(), extra_.begin(), extra_.end());
  // Any free port unless the test names one (the default, 7400, is shared).
  if (std::find(extra_.begin(), extra_.end(), "--port") == extra_.end()) {
    args.push_back("--port");
    args.push_back("0");
  }
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto environment = child_environment(env);
  std::vector<char*> envp;
  for (auto& e : environment)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  auto log = dir_ + "/head.log";
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  for (int i = 0; i < 300; ++i) {
    std::ifstream f{dir_ + "/head.json"};
    if (f) {
      auto j = nlohmann::json::parse(f, nullptr, false);
      if (j.is_object()) {
        port_ = j.value("port", uint16_t{0});
        host_ = j.value("host", "127.0.0.1");
        return;
      }
    }
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("the head exited at start:\n" + this->log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("the head did not write its state file in 30 s:\n" + this->log());
}

void head_process::kill9() {
  client_.reset();
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_exit(pid_, 10'000, nullptr);
    pid_ = -1;
  }
}

void head_process::restart(const std::vector<std::string>& more,
                           const std::vector<std::string>& env) {
  client_.reset();
  auto saved = extra_;
  extra_.insert(extra_.end(), more.begin(), more.end());
  start(env);
  extra_ = std::move(saved);
}

int head_process::terminate(int timeout_s) {
  client_.reset();
  if (pid_ <= 0)
    return -1;
  ::kill(pid_, SIGTERM);
  int st = 0;
  if (!wait_exit(pid_, timeout_s * 1000, &st))
    return -1;
  pid_ = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int head_process::wait_exit_code(int timeout_s) {
  if (pid_ <= 0)
    return -1;
  int st = 0;
  if (!wait_exit(pid_, timeout_s * 1000, &st))
    return -1;
  client_.reset();
  pid_ = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

client& head_process::connect() {
  if (!client_) {
    // A head started with --tls-dir DIR is reached over mutual TLS as the
    // identity "client" of that directory.
    tls_options tls;
    for (size_t i = 0; i + 1 < extra_.size(); ++i)
      if (extra_[i] == "--tls-dir")
        tls.dir = extra_[i + 1];
    client_ = std::make_unique<client>(host_, port_, tls);
    if (!client_->connected())
      throw std::runtime_error(client_->connect_error());
  }
  return *client_;
}

std::string head_process::address() const {
  return host_ + ":" + std::to_string(port_);
}

std::string head_process::log() const {
  return slurp(dir_ + "/head.log");
}

} // namespace taskrt::test

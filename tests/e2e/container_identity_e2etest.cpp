// Two containers on one host network, as podman runs an image whose
// ENTRYPOINT is taskrt: a head and a worker node, each PID 1 of a PID
// namespace of its own (`unshare --pid --fork`), sharing the network
// namespace (loopback) and the disk. CAF 0.17 derives a node id from the
// process id and a hash of the hardware addresses and root disk, so without
// cluster/node_identity.cpp both get the same id and the node retries
// "no_actor_published_at_port" forever. With it, the node joins.

#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;

namespace {

const std::vector<std::string> pid1_prefix{"unshare", "--pid", "--fork", "--kill-child"};

/// The pid (in our namespace) of the one child of `parent`, or -1.
int child_of(int parent) {
  std::ifstream f{"/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) +
                  "/children"};
  int child = -1;
  f >> child;
  return child;
}

/// The process id `pid` has inside its own PID namespace (the last NSpid
/// field), or -1.
int pid_inside(int pid) {
  std::ifstream f{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("NSpid:", 0) != 0)
      continue;
    std::istringstream in{line.substr(6)};
    int v = -1, last = -1;
    while (in >> v)
      last = v;
    return last;
  }
  return -1;
}

/// `taskrt start --head` as PID 1 of a PID namespace of its own; SIGKILL of
/// unshare (which ignores SIGTERM) takes the head with it (--kill-child).
struct pid1_head {
  int pid = -1; ///< unshare's
  std::string dir;
  uint16_t port = 0;

  explicit pid1_head(const std::string& dsn) {
    char tpl[] = "/tmp/taskrt-e2e-pid1.XXXXXX";
    REQUIRE(::mkdtemp(tpl) != nullptr);
    dir = tpl;
    std::vector<std::string> args = pid1_prefix;
    for (const auto& a : {taskrt_bin(), std::string{"start"}, std::string{"--head"},
                          std::string{"--db"}, dsn, std::string{"--data-dir"}, dir,
                          std::string{"--workers"}, std::string{"0"}})
      args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    const auto log = dir + "/head.log";
    pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    const bool up = eventually(
      [&] {
        std::ifstream f{dir + "/head.json"};
        auto j = nlohmann::json::parse(f, nullptr, false);
        if (j.is_object())
          port = j.value("port", uint16_t{0});
        return port != 0;
      },
      30'000);
    INFO(slurp(log));
    REQUIRE(up);
  }

  ~pid1_head() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    std::system(("rm -rf '" + dir + "'").c_str());
  }
};

} // namespace

TEST_CASE("container identity: a head and a node, both PID 1 on one host network - the node "
          "joins", "[e2e][netns][identity]") {
  if (std::system("unshare --pid --fork true >/dev/null 2>&1") != 0) {
    std::puts("SKIPPED: unshare --pid --fork is not possible here (needs root or user "
              "namespaces): the PID-1 identity test cannot run");
    return;
  }
  auto dsn = fresh_schema_dsn("e2e_pid1");
  pid1_head head{dsn};
  const auto t0 = std::chrono::steady_clock::now();
  node_process n1{"127.0.0.1:" + std::to_string(head.port), "n1", head.dir, {"--workers", "1"},
                  pid1_prefix};

  // Both really are PID 1 inside their namespaces.
  int head_inner = -1, node_inner = -1;
  REQUIRE(eventually([&] { return (head_inner = child_of(head.pid)) > 0; }, 5'000));
  REQUIRE(eventually([&] { return (node_inner = child_of(n1.pid)) > 0; }, 5'000));
  CHECK(pid_inside(head_inner) == 1);
  CHECK(pid_inside(node_inner) == 1);

  client c{"127.0.0.1", head.port};
  REQUIRE(c.connected());
  const bool joined = eventually([&] { return node_state(c, "n1") == "ALIVE"; }, 20'000);
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
  INFO("head log:\n" << slurp(head.dir + "/head.log") << "\nnode log:\n" << n1.output());
  REQUIRE(joined);
  std::printf("container identity: the PID-1 node was ALIVE at the PID-1 head %.0f ms after it started\n",
              ms);

  // And it runs work there.
  auto id = c.submit(spec("echo", nlohmann::json{{"x", 1}}));
  REQUIRE(id);
  auto out = c.await(*id, std::chrono::seconds(30));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
  CHECK(result_nodes(dsn, *id) == std::vector<std::string>{"n1"});
}

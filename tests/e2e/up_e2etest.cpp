// `taskrt up --nodes 2` and `taskrt down` with real processes: two ALIVE
// nodes run a submitted task, down leaves no process (nor any worker process
// of a node) running and the nodes LEFT in the registry.

#include "taskrt/persistence/journal_store.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// State letter and parent pid of `pid` from /proc/PID/stat ('\0' if gone).
char proc_state(int pid, int* ppid = nullptr) {
  std::ifstream f{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!f || !std::getline(f, line))
    return '\0';
  std::istringstream rest{line.substr(line.rfind(')') + 1)};
  std::string state;
  int parent = 0;
  rest >> state >> parent;
  if (ppid)
    *ppid = parent;
  return state.empty() ? '\0' : state[0];
}

bool running(int pid) {
  auto s = proc_state(pid);
  return s != '\0' && s != 'Z' && s != 'X';
}

/// The pids whose parent is `pid` (a node's worker processes).
std::vector<int> children_of(int pid) {
  std::vector<int> out;
  DIR* d = ::opendir("/proc");
  if (!d)
    return out;
  while (auto* e = ::readdir(d)) {
    const int p = std::atoi(e->d_name);
    int ppid = 0;
    if (p > 0 && proc_state(p, &ppid) != '\0' && ppid == pid)
      out.push_back(p);
  }
  ::closedir(d);
  return out;
}

/// A data dir for the cluster; on the way out (also after a failed check)
/// SIGKILLs whatever the record still lists and removes the dir.
struct cluster_dir {
  std::string path;
  cluster_dir() {
    char tpl[] = "/tmp/taskrt-e2e-up.XXXXXX";
    REQUIRE(::mkdtemp(tpl) != nullptr);
    path = tpl;
  }
  ~cluster_dir() {
    std::ifstream f{path + "/cluster.json"};
    auto j = json::parse(f, nullptr, false);
    if (j.is_object())
      for (const auto& p : j.value("processes", json::array()))
        if (running(p.value("pid", 0)))
          ::kill(p.value("pid", 0), SIGKILL);
    std::system(("rm -rf '" + path + "'").c_str());
  }
};

std::map<std::string, std::string> node_states(const std::string& dsn) {
  auto r = run_cli({"nodes", "-o", "json", "--db", dsn});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::map<std::string, std::string> out;
  for (const auto& n : json::parse(r.out))
    out[n.at("id").get<std::string>()] = n.at("state").get<std::string>();
  return out;
}

} // namespace

TEST_CASE("up --nodes 2 - a task runs on a node - down stops every process and the nodes are LEFT",
          "[e2e][up]") {
  auto dsn = fresh_schema_dsn("e2e_up");
  cluster_dir dir;
  auto up = run_cli({"up", "--nodes", "2", "--workers", "1", "--port", "0", "--data-dir", dir.path, "--db", dsn,
                     "--timeout", "60", "-o", "json"});
  INFO("up stderr:\n" << up.err);
  REQUIRE(up.exit_code == 0);
  CHECK(up.err.find("up: 2/2 node(s) ALIVE") != std::string::npos);
  auto doc = json::parse(up.out);
  REQUIRE(doc.at("processes").size() == 3);
  std::map<std::string, int> pids;
  for (const auto& p : doc["processes"]) {
    pids[p.at("id").get<std::string>()] = p.at("pid").get<int>();
    CHECK(running(p.at("pid").get<int>()));
    CHECK(p.at("log").get<std::string>() == dir.path + "/" + p.at("id").get<std::string>() + ".log");
  }
  CHECK(pids.count("head") == 1);
  CHECK(doc["processes"][0]["role"] == "head");
  CHECK(doc.at("address").get<std::string>().rfind("127.0.0.1:", 0) == 0);

  auto states = node_states(dsn);
  CHECK(states["node-1"] == "ALIVE");
  CHECK(states["node-2"] == "ALIVE");

  // A second up on the same data dir refuses and starts nothing.
  auto again = run_cli({"up", "--data-dir", dir.path, "--db", dsn});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("already up") != std::string::npos);

  // The head has no workers of its own: the task runs on a node.
  auto sub = run_cli({"submit", "echo", "--args", R"({"x":1})", "--wait", "-o", "json",
                      "--data-dir", dir.path});
  INFO("submit: " << sub.out << sub.err);
  REQUIRE(sub.exit_code == 0);
  auto out = json::parse(sub.out);
  CHECK(out.at("state") == "SUCCEEDED");
  journal_store store{dsn};
  auto task = store.get_task(out.at("id").get<int64_t>());
  REQUIRE(task);
  CHECK((task->node == "node-1" || task->node == "node-2"));

  std::set<int> workers;
  for (auto id : {"node-1", "node-2"})
    for (int c : children_of(pids[id]))
      workers.insert(c);
  CHECK(workers.size() == 2); // one worker process per node

  auto down = run_cli({"down", "--data-dir", dir.path, "--timeout", "30"});
  INFO("down stderr:\n" << down.err);
  CHECK(down.exit_code == 0);
  CHECK(down.out.find("stopped the head and 2 worker node(s)") != std::string::npos);
  CHECK(down.err.find("SIGKILL") == std::string::npos); // drained, not killed
  for (const auto& [id, pid] : pids) {
    INFO(id << " pid " << pid);
    CHECK_FALSE(running(pid));
  }
  for (int w : workers) {
    INFO("worker process " << w);
    CHECK_FALSE(running(w));
  }
  states = node_states(dsn);
  CHECK(states["node-1"] == "LEFT");
  CHECK(states["node-2"] == "LEFT");
  CHECK(::access((dir.path + "/cluster.json").c_str(), F_OK) != 0);

  // Idempotent: a second down finds nothing to stop.
  auto down2 = run_cli({"down", "--data-dir", dir.path});
  CHECK(down2.exit_code == 0);
  CHECK(down2.out.find("no cluster") != std::string::npos);
}

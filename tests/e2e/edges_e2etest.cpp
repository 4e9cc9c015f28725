// The edges of a real head process: bad input of every class reaching the
// head (refused with a message naming it, nothing journaled for it), task
// values that break the limits (the attempt ends FAILED taskrt.bad_result),
// malformed fields from a peer, garbage and oversized frames on the cluster
// port (refused and logged by the frame guard), a first start in an empty home, and a second process under a live
// node id. After each, the same head keeps serving.

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/runtime/limits.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// A submit sent straight to the head actor, past the client's own checks:
/// what the head itself answers.
caf::expected<int64_t> raw_submit(client& c, const task_spec& s) {
  caf::scoped_actor self{c.system()};
  caf::expected<int64_t> out{caf::error{}};
  self->request(c.head(), std::chrono::seconds(30), submit_atom::value, s)
    .receive([&](int64_t id) { out = id; }, [&](caf::error& e) { out = std::move(e); });
  return out;
}

/// Submits echo and waits for it: the head still serves.
void head_serves(client& c) {
  auto id = c.submit(spec("echo", {{"still", "serving"}}));
  REQUIRE(id);
  auto out = c.await(*id, std::chrono::seconds(60));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
}

/// Microseconds of the first journal event of `kind` of a task (0: none).
int64_t event_at(journal_store& store, int64_t id, const std::string& kind) {
  for (const auto& e : store.events(id))
    if (to_string(e.kind) == kind)
      return e.at_us;
  return 0;
}

/// A TCP connection to 127.0.0.1:port (-1 on failure).
int tcp_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Reads until the peer closes (true) or `timeout_ms` passes (false).
bool closed_by_peer(int fd, int timeout_ms) {
  char buf[4096];
  for (int waited = 0; waited < timeout_ms; waited += 100) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      auto n = ::read(fd, buf, sizeof(buf));
      if (n <= 0)
        return true;
    }
  }
  return false;
}

/// Resident memory of a process in MiB (from /proc).
long rss_mib(int pid) {
  std::ifstream f{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6)) / 1024;
  return -1;
}

int head_pid(const head_process& head) {
  auto j = json::parse(slurp(head.data_dir() + "/head.json"), nullptr, false);
  return j.is_object() ? j.value("pid", 0) : 0;
}

} // namespace

TEST_CASE("edges - bad submits reaching the head are refused naming the problem - the head "
          "keeps serving",
          "[e2e][limits]") {
  auto dsn = fresh_schema_dsn("e2e_edges_submit");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  journal_store store{dsn};
  const auto before = store.list_tasks({}).size();
  struct bad {
    const char* what;
    std::function<void(task_spec&)> change;
    const char* says;
  };
  const std::vector<bad> cases{
    {"NUL in args", [](task_spec& s) { s.args = R"({"a":"\u0000"})"; }, "args: contains \\u0000"},
    {"invalid UTF-8", [](task_spec& s) { s.args = "{\"a\":\"\xff\"}"; }, "args: invalid UTF-8 at byte 6"},
    {"2 MiB args", [](task_spec& s) { s.args = json{{"x", std::string(2u << 20, 'x')}}.dump(); },
     "args: 2097160 bytes, more than the limit of 1048576"},
    {"deep args", [](task_spec& s) { s.args = std::string(100, '[') + std::string(100, ']'); },
     "args: nested deeper than 64 levels"},
    {"unknown task", [](task_spec& s) { s.name = "no_such_task"; }, "unknown task 'no_such_task'"},
    {"long name", [](task_spec& s) { s.name = std::string(300, 'n'); }, "task name: 300 bytes"},
    {"empty name", [](task_spec& s) { s.name = ""; }, "task name: empty"},
    {"long lock", [](task_spec& s) { s.lock = std::string(256, 'l'); }, "lock: 256 bytes"},
    {"NUL in queue", [](task_spec& s) { s.queue = std::string("q\0", 2); }, "queue: control character 0x00"},
    {"NaN time limit", [](task_spec& s) { s.time_limit_s = std::nan(""); }, "time limit: not a number"},
    {"inf time limit", [](task_spec& s) { s.time_limit_s = INFINITY; }, "time limit: must be finite"},
    {"absurd policy", [](task_spec& s) { s.policy = R"({"wait":1e300})"; }, "\"wait\" must be at most"},
    {"policy of wrong type", [](task_spec& s) { s.policy = R"({"retries":"x"})"; }, "\"retries\" must be"},
    {"policy overflow", [](task_spec& s) { s.policy = R"({"wait":1e400})"; }, "number overflow"},
  };
  // Non-finite doubles never go over the wire: CAF 0.17 serializes a double
  // with detail::pack754, which loops forever on an infinity (the sending
  // thread hangs) and turns a NaN into an arbitrary number. The client
  // refuses them before sending.
  for (const auto& b : cases) {
    auto s = spec("echo", {{"ok", 1}});
    b.change(s);
    if (!std::isfinite(s.time_limit_s)) {
      auto local = c.submit(s);
      REQUIRE_FALSE(local);
      CHECK(error_message(local.error()).find(b.says) != std::string::npos);
      continue;
    }
    auto r = raw_submit(c, s);
    INFO(b.what);
    REQUIRE_FALSE(r);
    const auto msg = error_message(r.error());
    INFO("head said: " << msg);
    CHECK(taskrt_code(r.error()) == static_cast<uint8_t>(errc::bad_request));
    CHECK(msg.find(b.says) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    // The C++ client refuses the same spec before sending it.
    if (std::string{b.what} != "unknown task") {
      auto local = c.submit(s);
      REQUIRE_FALSE(local);
      CHECK(error_message(local.error()).find(b.says) != std::string::npos);
    }
  }
  CHECK(store.list_tasks({}).size() == before); // nothing journaled for them
  head_serves(c);
  CHECK(head.log().find("died") == std::string::npos);
}

TEST_CASE("edges - results, checkpoints and progress values that break the limits end the "
          "attempt FAILED taskrt.bad_result - a bad child task is refused",
          "[e2e][limits]") {
  auto dsn = fresh_schema_dsn("e2e_edges_results");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  journal_store store{dsn};
  const std::vector<std::pair<std::string, std::string>> whats{
    {"nul", "contains \\u0000"},
    {"utf8", "invalid UTF-8"},
    {"big", "bytes, more than the limit of 1048576"},
    {"deep", "nested deeper than 64 levels"},
    {"nan", "not finite"}};
  std::vector<std::tuple<int64_t, std::string, std::string>> ids; // id, via, expected
  for (const auto* via : {"result", "progress", "checkpoint"})
    for (const auto& [what, says] : whats) {
      auto id = c.submit(spec("bad_output", {{"what", what}, {"via", via}}, R"({"retries":0})"));
      REQUIRE(id);
      ids.emplace_back(*id, std::string{via} + "/" + what, says);
    }
  for (const auto& [id, label, says] : ids) {
    INFO(label);
    auto out = c.await(id, std::chrono::seconds(120));
    REQUIRE(out);
    CHECK(out->state == task_state::failed);
    auto err = json::parse(out->error, nullptr, false);
    REQUIRE(err.is_object());
    INFO("error: " << out->error);
    CHECK(err.value("kind", "") == bad_result_kind);
    CHECK(err.value("message", "").find(says) != std::string::npos);
    CHECK(out->result.empty());
    CHECK(event_at(store, id, "fail") > 0); // journaled as the attempt's end
  }
  // A child task with invalid UTF-8 args: ctx.submit throws before sending.
  auto child = c.submit(spec("bad_output", {{"what", "utf8"}, {"via", "child"}}, R"({"retries":0})"));
  REQUIRE(child);
  auto out = c.await(*child, std::chrono::seconds(60));
  REQUIRE(out);
  CHECK(out->state == task_state::failed);
  auto err = json::parse(out->error, nullptr, false);
  INFO("error: " << out->error);
  CHECK(err.value("kind", "") == "taskrt.bad_request");
  CHECK(err.value("message", "").find("child task: args: invalid UTF-8") != std::string::npos);
  head_serves(c);
  CHECK(head.log().find("died") == std::string::npos);
}

TEST_CASE("edges - a peer's result with fields of the wrong type ends that attempt, never the "
          "head",
          "[e2e][limits]") {
  auto dsn = fresh_schema_dsn("e2e_edges_peer");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  journal_store store{dsn};
  auto id = c.submit(spec("sleep", {{"ms", 3000}}, R"({"retries":0})"));
  REQUIRE(id);
  REQUIRE(eventually([&] { return store.get_task(*id)->state == task_state::running; }));
  auto rec = *store.get_task(*id);
  // What a broken or hostile node could send: CAF checks the C++ types, not
  // the JSON inside ("kind" a number, "ancestors" an object, "handback" a
  // number, the result with a NUL).
  attempt_done_msg bad;
  bad.task_id = *id;
  bad.attempt = rec.attempt;
  bad.lease_epoch = rec.lease_epoch;
  bad.outcome = task_state::succeeded;
  bad.result = R"({"x":"\u0000"})";
  bad.error = R"({"kind":5,"ancestors":{"a":1}})";
  bad.detail = R"({"handback":7,"node":[]})";
  caf::anon_send(caf::actor_cast<caf::actor>(c.head()), bad);
  auto out = c.await(*id, std::chrono::seconds(60));
  REQUIRE(out);
  // Either the malformed result counted as the attempt's end (FAILED
  // taskrt.bad_result) or the head fenced it as not coming from the lease
  // holder (then the real result wins and a stale_result note is journaled).
  INFO("state " << to_string(out->state) << " error " << out->error);
  if (out->state == task_state::failed) {
    auto err = json::parse(out->error, nullptr, false);
    CHECK(err.value("kind", "") == bad_result_kind);
  } else {
    CHECK(out->state == task_state::succeeded);
    CHECK(event_at(store, *id, "stale_result") > 0);
  }
  auto st = c.status();
  REQUIRE(st); // the scheduler is alive
  head_serves(c);
  CHECK(head.log().find("died") == std::string::npos);
}

TEST_CASE("edges - garbage bytes and an oversized frame on the cluster port - the peer is "
          "disconnected and logged - nothing is allocated for the frame - the head keeps serving",
          "[e2e][limits]") {
  auto dsn = fresh_schema_dsn("e2e_edges_frames");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  const auto address = head.address();
  const auto port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  // 1. Garbage: CAF's BASP finds no valid header and closes the connection;
  //    the frame guard logs it with the peer's address.
  for (int round = 0; round < 3; ++round) {
    int fd = tcp_connect(port);
    REQUIRE(fd >= 0);
    std::string junk(4096, '\0');
    for (size_t i = 0; i < junk.size(); ++i)
      junk[i] = static_cast<char>((i * 7919 + round * 31) & 0xff);
    junk[0] = '\x7f'; // not a BASP operation
    REQUIRE(::write(fd, junk.data(), junk.size()) == static_cast<ssize_t>(junk.size()));
    CHECK(closed_by_peer(fd, 10'000));
    ::close(fd);
  }
  REQUIRE(eventually([&] {
    return head.log().find("cluster port: closed the connection from 127.0.0.1:")
             != std::string::npos
           && head.log().find("not a taskrt peer") != std::string::npos;
  }));
  head_serves(c);
  // 2. A valid BASP header (direct_message, dest actor 1) announcing a
  //    256 MiB payload: CAF 0.17 alone would allocate the announced size at
  //    once; the frame guard (cluster/frame_guard.hpp, limit 64 MiB + 2 x
  //    max_json_bytes) closes the connection before that and logs it.
  const int pid = head_pid(head);
  const long rss_before = rss_mib(pid);
  int fd = tcp_connect(port);
  REQUIRE(fd >= 0);
  unsigned char hdr[32] = {0};
  hdr[0] = 0x02;                       // direct_message
  const uint32_t len = htonl(256u << 20);
  std::memcpy(hdr + 4, &len, 4);       // payload_len (after op, 2 pads, flags)
  hdr[23] = 1;                         // source_actor = 1
  hdr[31] = 1;                         // dest_actor = 1
  REQUIRE(::write(fd, hdr, sizeof(hdr)) == static_cast<ssize_t>(sizeof(hdr)));
  CHECK(closed_by_peer(fd, 10'000));
  ::close(fd);
  const long rss_after = rss_mib(pid);
  CHECK(rss_after < rss_before + 64);
  REQUIRE(eventually([&] {
    return head.log().find("it announced a frame of 268435456 bytes, over the limit of 69206016")
           != std::string::npos;
  }));
  WARN("head RSS around a 256 MiB BASP frame header: before " << rss_before << " MiB, after "
       "the guard closed the connection " << rss_after << " MiB");
  head_serves(c);
  CHECK(head.log().find("died") == std::string::npos);
}

TEST_CASE("edges - first start in an empty home - with --db the state file is written - with "
          "the embedded Postgres too - an unwritable data dir fails loudly",
          "[e2e][home]") {
  auto dsn = fresh_schema_dsn("e2e_edges_home");
  char tpl[] = "/tmp/taskrt-home.XXXXXX";
  REQUIRE(::mkdtemp(tpl) != nullptr);
  const std::string home = tpl;
  // A shell line in a home without ~/.local, with no TASKRT_DATA_DIR or
  // XDG_DATA_HOME to hide the default.
  auto in_home = [&](const std::string& h, const std::string& args) {
    return "env -u TASKRT_DATA_DIR -u XDG_DATA_HOME -u TASKRT_DATABASE_URL -u TASKRT_ADDRESS "
           "HOME='" + h + "' '" + taskrt_bin() + "' " + args;
  };
  auto run = [&](const std::string& line) {
    int st = std::system(line.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  };
  auto start_and_use = [&](const std::string& h, const std::string& db_args, int wait_s) {
    const auto data = h + "/.local/share/taskrt";
    REQUIRE(::mkdir(h.c_str(), 0700) == 0); // an empty home: no .local at all
    REQUIRE(run(in_home(h, "start --head --workers 1 --port 0 " + db_args) + " >'" + h
                + "/head.log' 2>&1 &")
            == 0);
    const bool up = eventually([&] { return !slurp(data + "/head.json").empty(); },
                               wait_s * 1000);
    INFO("head log: " << slurp(h + "/head.log"));
    REQUIRE(up);
    // The next command finds the head through the state file alone.
    CHECK(run(in_home(h, "submit echo --args '{\"fresh\":1}' --wait >/dev/null 2>&1")) == 0);
    CHECK(run(in_home(h, "stop --timeout 60 >/dev/null 2>&1")) == 0);
  };
  SECTION("--db DSN") {
    start_and_use(home + "/db", "--db '" + dsn + "'", 60);
  }
  SECTION("embedded Postgres") {
    start_and_use(home + "/embedded", "", 180);
    std::system(("'" + pg_script() + "' stop '" + home
                 + "/embedded/.local/share/taskrt/postgres' --remove >/dev/null 2>&1")
                  .c_str());
  }
  SECTION("a data dir that cannot be created") {
    const auto file = home + "/a-file";
    std::ofstream{file} << "x";
    auto r = run_cli({"start", "--head", "--db", dsn, "--data-dir", file + "/taskrt"});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err == "taskrt: data dir: cannot create the directory " + file
                     + "/taskrt: Not a directory\n");
  }
  std::system(("rm -rf '" + home + "'").c_str());
}

TEST_CASE("edges - a second process under a live node id is refused and exits 1 - the first "
          "keeps its attempt and its lock",
          "[e2e][cluster]") {
  auto dsn = fresh_schema_dsn("e2e_edges_dup");
  head_process head{dsn, {"--workers", "0"}};
  auto& c = head.connect();
  journal_store store{dsn};
  node_process n1{head.address(), "n1", head.data_dir(), {"--workers", "1"}};
  REQUIRE(eventually([&] { return node_state(c, "n1") == "ALIVE"; }, 30'000));
  auto first = spec("sleep", {{"ms", 4000}}, R"({"retries":0})");
  first.lock = "L";
  auto id1 = c.submit(first);
  REQUIRE(id1);
  REQUIRE(eventually([&] { return store.get_task(*id1)->state == task_state::running; }));
  // The impostor: same id, its own process, a free slot to run tasks on.
  const auto other_dir = head.data_dir() + "/second";
  ::mkdir(other_dir.c_str(), 0700);
  node_process n1b{head.address(), "n1", other_dir, {"--workers", "1"}};
  auto second = spec("echo", {{"after", "first"}}, R"({"retries":0})");
  second.lock = "L";
  auto id2 = c.submit(second);
  REQUIRE(id2);
  REQUIRE(eventually([&] { return !n1b.running(); }, 30'000));
  INFO("second process: " << n1b.output());
  CHECK(n1b.exit_code == 1);
  CHECK(n1b.output().find("taskrt: the head refused node n1: node id 'n1' is already "
                          "registered by a live node")
        != std::string::npos);
  auto out1 = c.await(*id1, std::chrono::seconds(60));
  auto out2 = c.await(*id2, std::chrono::seconds(60));
  REQUIRE(out1);
  REQUIRE(out2);
  CHECK(out1->state == task_state::succeeded);
  CHECK(out1->attempt == 1);
  CHECK(event_at(store, *id1, "lose") == 0); // never LOST while it ran
  CHECK(out2->state == task_state::succeeded);
  // Lock L: the second began only after the first ended.
  CHECK(event_at(store, *id2, "start") >= event_at(store, *id1, "succeed"));
  CHECK(node_state(c, "n1") == "ALIVE");
  CHECK(head.log().find("declared dead") == std::string::npos);
}

// A journal that hangs is an outage (issue 19, item 5), with a real head
// process and a private Postgres. The fault window: "journal frozen while
// submits and a running task are in flight": every process of the server
// (postmaster, backends, background workers) is stopped with SIGSTOP for
// 40 s, as a frozen VM, a storage stall or a black-holed network looks. A
// stopped server enforces no timeout and the kernel keeps acknowledging
// what the head sends, so only client-side deadlines can end the waits.
// Then SIGCONT: every acknowledged task must reach its final state, and no
// acknowledged submit may be lost.

#include "taskrt/persistence/journal_store.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/proc_children.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>
#include <set>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

double since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

/// The postmaster's pid (first line of DATA/postmaster.pid).
int postmaster_pid(const private_postgres& pg) {
  std::ifstream f{pg.dir() + "/data/postmaster.pid"};
  int pid = -1;
  f >> pid;
  return pid;
}

/// Sends `sig` to every process of the server: the postmaster first (so it
/// forks nothing new meanwhile), then each of its children. How many got
/// it (0: no postmaster found).
size_t signal_postgres(const private_postgres& pg, int sig) {
  const int pm = postmaster_pid(pg);
  if (pm <= 0 || ::kill(pm, sig) != 0)
    return 0;
  auto kids = children_of(pm);
  for (int k : kids)
    ::kill(k, sig);
  return kids.size() + 1;
}

/// Continues a stopped server when the test leaves early (else stopping it
/// would hang).
struct thaw_at_exit {
  const private_postgres& pg;
  bool frozen = false;
  ~thaw_at_exit() {
    if (frozen)
      signal_postgres(pg, SIGCONT);
  }
};

int readyz(const std::string& port) {
  httplib::Client probe{"127.0.0.1", std::stoi(port)};
  probe.set_connection_timeout(2);
  probe.set_read_timeout(2);
  auto r = probe.Get("/readyz");
  return r ? r->status : -1;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto i = text.find(what); i != std::string::npos; i = text.find(what, i + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("Postgres frozen (SIGSTOP of every process) for 40 s: submits refused within the"
          " bound, status answers, the head recovers, nothing acknowledged is lost",
          "[e2e][outage][freeze]") {
  private_postgres pg;
  const auto http = free_port();
  head_process head{pg.dsn(), {"--workers", "2", "--http-port", http}};
  const auto addr = head.address();
  std::vector<int64_t> acked;
  {
    auto& c = head.connect();
    // Two long attempts running across the freeze, short ones queued behind.
    for (int i = 0; i < 2; ++i) {
      auto id = c.submit(spec("sleep", {{"ms", 6000}}, R"({"retries":3})"));
      REQUIRE(id);
      acked.push_back(*id);
    }
    for (int i = 0; i < 6; ++i) {
      auto id = c.submit(spec("sleep", {{"ms", 200}}, R"({"retries":3})"));
      REQUIRE(id);
      acked.push_back(*id);
    }
  }
  {
    journal_store store{pg.dsn()};
    REQUIRE(eventually([&] {
      for (auto& t : store.list_tasks({}))
        if (t.state == task_state::running)
          return true;
      return false;
    }));
  }
  REQUIRE(readyz(http) == 200);

  // The window. A submit goes out the moment the server stops, so one is in
  // flight when it freezes.
  // /readyz every 100 ms: when the head went not ready, and ready again.
  std::atomic<bool> probing{true};
  std::atomic<int64_t> first_503_ms{-1}, last_503_ms{-1};
  const auto frozen_at = steady::now();
  auto ms_since_freeze = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - frozen_at)
      .count();
  };
  std::thread prober{[&] {
    while (probing) {
      if (readyz(http) == 503) {
        const auto t = ms_since_freeze();
        if (first_503_ms < 0)
          first_503_ms = t;
        last_503_ms = t;
      }
      std::this_thread::sleep_for(100ms);
    }
  }};
  struct stop_prober {
    std::atomic<bool>& on;
    std::thread& t;
    ~stop_prober() {
      on = false;
      if (t.joinable())
        t.join();
    }
  } stop_prober_at_exit{probing, prober};
  thaw_at_exit thaw{pg};
  const auto stopped = signal_postgres(pg, SIGSTOP);
  thaw.frozen = true;
  REQUIRE(stopped > 1);
  auto in_flight = std::async(std::launch::async, [&] {
    const auto t = steady::now();
    auto r = run_cli({"submit", "sleep", "--args", R"({"ms":50})", "--address", addr});
    return std::make_pair(r, since(t));
  });
  int refused = 0, accepted = 0, other = 0, status_runs = 0, status_bad = 0;
  double max_refusal_s = 0, max_status_s = 0;
  auto classify = [&](const cli_result& r, double took, const char* what) {
    if (r.exit_code == 1 && r.err.find("journal unavailable") != std::string::npos) {
      ++refused;
      max_refusal_s = std::max(max_refusal_s, took);
    } else if (r.exit_code == 0) {
      ++accepted; // acknowledged: it must be journaled and end like the others
      acked.push_back(std::stoll(r.out));
    } else {
      ++other;
    }
    std::printf("freeze +%5.1f s: %s exit %d after %.2f s: %s%s", since(frozen_at), what,
                r.exit_code, took, r.out.c_str(), r.err.c_str());
  };
  // Bounded: about one submit, one status and one probe a second for 40 s.
  while (since(frozen_at) < 40) {
    auto t = steady::now();
    auto r = run_cli({"submit", "sleep", "--args", R"({"ms":50})", "--address", addr});
    classify(r, since(t), "submit");
    t = steady::now();
    auto st = run_cli({"status", "--address", addr, "--db", pg.dsn()});
    const auto took = since(t);
    ++status_runs;
    max_status_s = std::max(max_status_s, took);
    // It answers (the head's part from the head) and says Postgres is not
    // answering; exit 1.
    if (st.exit_code != 1 || st.out.find("Postgres  UNREACHABLE") == std::string::npos) {
      ++status_bad;
      std::printf("status exit %d after %.2f s:\n%s%s\n", st.exit_code, took, st.out.c_str(),
                  st.err.c_str());
    }
    std::this_thread::sleep_for(1s);
  }
  const auto last_status = run_cli({"status", "--address", addr, "--db", pg.dsn()});
  // Other read commands fail with a message, and changes are refused at
  // once: a cancel and a retry could not be recorded.
  auto t = steady::now();
  const auto list = run_cli({"tasks", "list", "--db", pg.dsn()});
  const auto list_s = since(t);
  t = steady::now();
  const auto cancel = run_cli({"tasks", "cancel", std::to_string(acked.back()), "--address", addr});
  const auto cancel_s = since(t);
  const auto retry = run_cli({"tasks", "retry", std::to_string(acked.back()), "--address", addr});
  std::printf("during the freeze: tasks list exit %d after %.2f s: %s; tasks cancel exit %d"
              " after %.2f s: %s%s; tasks retry exit %d: %s%s",
              list.exit_code, list_s, list.err.c_str(), cancel.exit_code, cancel_s,
              cancel.out.c_str(), cancel.err.c_str(), retry.exit_code, retry.out.c_str(),
              retry.err.c_str());
  CHECK(list.exit_code == 1);
  CHECK(list.err.find("cannot open the journal") != std::string::npos);
  CHECK(list_s < 10);
  CHECK(cancel.exit_code == 1);
  CHECK((cancel.out + cancel.err).find("the cancel was not recorded") != std::string::npos);
  CHECK(cancel_s < 5);
  CHECK(retry.exit_code == 1);
  CHECK((retry.out + retry.err).find("the retry was not recorded") != std::string::npos);
  REQUIRE(in_flight.wait_for(0s) == std::future_status::ready);
  auto [first, first_took] = in_flight.get();
  classify(first, first_took, "submit in flight at the freeze");
  std::printf("taskrt status during the freeze (exit %d):\n%s%s\n", last_status.exit_code,
              last_status.out.c_str(), last_status.err.c_str());
  const int ready_during = readyz(http);

  REQUIRE(signal_postgres(pg, SIGCONT) > 1);
  thaw.frozen = false;
  const auto thawed_at = steady::now();
  const auto thawed_ms = ms_since_freeze();
  double ready_again_s = -1;
  if (eventually([&] { return readyz(http) == 200; }, 60'000))
    ready_again_s = since(thawed_at);
  probing = false;
  prober.join();
  const double not_ready_after_s = static_cast<double>(first_503_ms) / 1000.0;
  const double not_ready_until_s = static_cast<double>(last_503_ms - thawed_ms) / 1000.0;

  std::printf("freeze of %zu Postgres processes for %.1f s: %d submits refused (slowest %.2f s,"
              " the one in flight %.2f s), %d accepted, %d other; status x%d, slowest %.2f s;"
              " readyz 503 from %.1f s after the SIGSTOP until %.1f s after the SIGCONT; ready"
              " again %.1f s after SIGCONT\n",
              stopped, since(frozen_at) - since(thawed_at), refused, max_refusal_s, first_took,
              accepted, other, status_runs, max_status_s, not_ready_after_s, not_ready_until_s,
              ready_again_s);
  CHECK(other == 0);
  CHECK(refused >= 5);
  // The documented bounds (docs/reliability.md): a submit is refused within
  // the call deadline (1.5 s) plus its round trip; status answers within the
  // CLI's connect timeout (3 s). Generous sanity limits here, figures above.
  CHECK(max_refusal_s < 5);
  CHECK(max_status_s < 10);
  CHECK(status_bad == 0);
  CHECK(last_status.out.find("Journal   UNAVAILABLE") != std::string::npos);
  CHECK(not_ready_after_s >= 0);
  CHECK(not_ready_after_s < 10);
  CHECK(ready_during == 503);
  CHECK(ready_again_s >= 0);

  // Every acknowledged task reaches its final state.
  auto& c = head.connect();
  // The refused cancel did not happen: every acknowledged task SUCCEEDED.
  for (auto id : acked) {
    auto out = c.await(id, 120s);
    INFO("task " << id << ": " << (out ? std::string{"ok"} : error_message(out.error())));
    REQUIRE(out);
    CHECK(out->state == task_state::succeeded);
  }
  auto after = c.submit(spec("sleep", {{"ms", 10}}));
  REQUIRE(after);
  acked.push_back(*after);
  CHECK(c.await(*after, 60s)->state == task_state::succeeded);

  // From the journal: exactly the acknowledged tasks, all SUCCEEDED, one
  // submit event each.
  journal_store store{pg.dsn()};
  std::set<int64_t> want(acked.begin(), acked.end()), have;
  for (auto& t : store.list_tasks({})) {
    have.insert(t.id);
    CHECK(t.state == task_state::succeeded);
  }
  CHECK(have == want);
  // The head noticed once, recovered once, and never exited.
  const auto log = head.log();
  CHECK(count_of(log, "submits refused, dispatch paused") == 1);
  CHECK(count_of(log, "journal available again: dispatch resumes") == 1);
  CHECK(log.find("client-side deadline") != std::string::npos);
  CHECK(log.find("exiting") == std::string::npos);
}

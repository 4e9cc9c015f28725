/// `taskrt retry-plan` run as a process: the documented examples in JSON,
/// the table, and exit code 2 with one line on stderr for bad input. Needs no
/// database.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using json = nlohmann::json;

namespace {

/// What one run of the binary gave.
struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_all(const std::string& path) {
  std::ifstream f{path};
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// Runs `taskrt ARGS` through the shell; ARGS is shell text.
run_result taskrt(const std::string& args) {
  char err_path[] = "/tmp/taskrt_cli_test_XXXXXX";
  const int fd = ::mkstemp(err_path);
  REQUIRE(fd >= 0);
  ::close(fd);
  const std::string cmd = std::string{"'"} + TASKRT_BIN + "' " + args + " 2>" + err_path;
  run_result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;)
    r.out.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = read_all(err_path);
  std::remove(err_path);
  return r;
}

/// Runs a plan with -o json from a fixed start and returns the document.
json plan(const std::string& args) {
  auto r = taskrt("retry-plan " + args + " --start 2026-01-01T00:00:00Z -o json");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  auto doc = json::parse(r.out, nullptr, false); // exactly one JSON document
  REQUIRE_FALSE(doc.is_discarded());
  REQUIRE(doc.is_object());
  REQUIRE(doc.at("attempts").is_array());
  return doc;
}

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s)
    n += c == '\n';
  return n;
}

/// Expects a usage error: exit 2, nothing on stdout, one "taskrt: " line on
/// stderr that contains `needle`.
void expect_usage_error(const std::string& args, const std::string& needle) {
  auto r = taskrt(args);
  INFO("args: " << args << "\nstdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.rfind("taskrt: ", 0) == 0);
  CHECK_THAT(r.err, Catch::Contains(needle));
}

} // namespace

TEST_CASE("retry-plan: wait=5 gives 5, 5, 5 then gives up", "[cli][retry-plan]") {
  auto doc = plan(R"(--policy '{"retries":3,"wait":5}' --failures 5 --errors ValueError)");
  const auto& a = doc.at("attempts");
  REQUIRE(a.size() == 4); // stops at the first give-up
  const char* failed_at[] = {"2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z",
                             "2026-01-01T00:00:10Z", "2026-01-01T00:00:15Z"};
  const char* retry_at[] = {"2026-01-01T00:00:05Z", "2026-01-01T00:00:10Z",
                            "2026-01-01T00:00:15Z"};
  for (size_t i = 0; i < 3; ++i) {
    INFO("attempt " << i + 1);
    CHECK(a[i].at("attempt") == i + 1);
    CHECK(a[i].at("error") == "ValueError");
    CHECK(a[i].at("decision") == "retry");
    CHECK(a[i].at("delay_s").is_number());
    CHECK(a[i].at("delay_s") == 5);
    CHECK(a[i].at("retry_at") == retry_at[i]);
    CHECK(a[i].at("failed_at") == failed_at[i]);
  }
  CHECK(a[0].at("reason") == "attempt 1 of 4 failed; retry in 5s");
  CHECK(a[3].at("attempt") == 4);
  CHECK(a[3].at("decision") == "give_up");
  CHECK(a[3].at("failed_at") == failed_at[3]);
  CHECK(a[3].at("reason") == "no attempts left (4 of 4 used)");
  CHECK_FALSE(a[3].contains("retry_at"));
  CHECK(doc.at("policy").at("max_attempts") == 4);
  CHECK(doc.at("policy").at("wait") == 5);
}

TEST_CASE("retry-plan: the series of each delay term", "[cli][retry-plan]") {
  auto delays = [](const std::string& policy) {
    std::vector<double> out;
    const auto doc = plan("--policy '" + policy + "' --failures 3");
    for (const auto& a : doc.at("attempts"))
      out.push_back(a.at("delay_s").get<double>());
    return out;
  };
  using doubles = std::vector<double>;
  CHECK(delays(R"({"retries":5,"linear_wait":5})") == doubles{5, 10, 15});
  CHECK(delays(R"({"retries":5,"exponential_wait":5})") == doubles{5, 25, 125});
  CHECK(delays(R"({"retries":5,"backoff":60})") == doubles{60, 120, 240});
  CHECK(delays(R"({"retries":5,"backoff":60,"max_delay":100})") == doubles{60, 100, 100});
}

TEST_CASE("retry-plan: the cluster default", "[cli][retry-plan]") {
  auto a = plan("--policy default --failures 5").at("attempts");
  REQUIRE(a.size() == 3);
  CHECK(a[0].at("delay_s") == 60);
  CHECK(a[0].at("retry_at") == "2026-01-01T00:01:00Z");
  CHECK(a[1].at("delay_s") == 120);
  CHECK(a[1].at("retry_at") == "2026-01-01T00:03:00Z");
  CHECK(a[2].at("decision") == "give_up");
  CHECK(a[2].at("error") == "error"); // the default kind
}

TEST_CASE("retry-plan: K failures when the policy allows more", "[cli][retry-plan]") {
  auto a = plan(R"(--policy '{"retries":true,"wait":1}' --failures 1000)").at("attempts");
  REQUIRE(a.size() == 1000);
  CHECK(a[999].at("decision") == "retry");
  CHECK(a[999].at("attempt") == 1000);
}

TEST_CASE("retry-plan: error kinds in order, the last repeating, std ancestry",
          "[cli][retry-plan]") {
  auto a = plan(R"(--policy '{"retries":5}' --failures 4 --errors ValueError,KeyError)")
             .at("attempts");
  REQUIRE(a.size() == 4);
  CHECK(a[0].at("error") == "ValueError");
  CHECK(a[1].at("error") == "KeyError");
  CHECK(a[3].at("error") == "KeyError");

  auto denied = plan(R"(--policy '{"retries":5,"no_retry_on":["std::logic_error"]}')"
                     " --failures 3 --errors std::runtime_error,std::invalid_argument")
                  .at("attempts");
  REQUIRE(denied.size() == 2);
  CHECK(denied[0].at("decision") == "retry");
  CHECK(denied[1].at("decision") == "give_up");
  CHECK(denied[1].at("reason")
        == "error kind std::invalid_argument matches no_retry_on entry std::logic_error");

  // A kind named on the command line has no ancestors unless it is a std type.
  auto allowed = plan(R"(--policy '{"retries":5,"retry_on":["TransientError"]}')"
                      " --failures 2 --errors TransientError.Db")
                   .at("attempts");
  REQUIRE(allowed.size() == 1);
  CHECK(allowed[0].at("reason") == "error kind TransientError.Db is not in retry_on");
}

TEST_CASE("retry-plan: the example strategy escalate", "[cli][retry-plan]") {
  auto a = plan(R"(--policy '{"retries":true,"strategy":"escalate"}' --failures 10)")
             .at("attempts");
  REQUIRE(a.size() == 5);
  CHECK(a[0].at("delay_s") == 1);
  CHECK_FALSE(a[0].contains("queue"));
  CHECK(a[1].at("delay_s") == 2);
  CHECK(a[1].at("queue") == "slow");
  CHECK(a[1].at("priority") == -1);
  CHECK(a[2].at("delay_s") == 4);
  CHECK(a[3].at("delay_s") == 8);
  CHECK(a[3].at("retry_at") == "2026-01-01T00:00:15Z"); // 1 + 2 + 4 + 8
  CHECK(a[4].at("decision") == "give_up");
  CHECK_THAT(a[4].at("reason").get<std::string>(), Catch::Contains("strategy declined"));

  auto unknown = plan(R"(--policy '{"strategy":"nope"}' --failures 2)").at("attempts");
  REQUIRE(unknown.size() == 1);
  CHECK(unknown[0].at("reason") == "unknown retry strategy 'nope'");
}

TEST_CASE("retry-plan: jitter is seeded by --task-id", "[cli][retry-plan]") {
  const std::string p = R"(--policy '{"retries":5,"wait":100,"jitter":0.5}' --failures 3)";
  auto a1 = plan(p + " --task-id 7").at("attempts");
  auto a2 = plan(p + " --task-id 7").at("attempts");
  auto b = plan(p + " --task-id 8").at("attempts");
  CHECK(a1 == a2);
  CHECK(a1 != b);
  for (const auto& e : a1) {
    CHECK(e.at("delay_s").get<double>() >= 50);
    CHECK(e.at("delay_s").get<double>() <= 100);
  }
}

TEST_CASE("retry-plan: --policy @FILE", "[cli][retry-plan]") {
  char path[] = "/tmp/taskrt_policy_XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream{path} << R"({"max_attempts":2,"linear_wait":7})";
  auto a = plan(std::string{"--policy @"} + path + " --failures 3").at("attempts");
  std::remove(path);
  REQUIRE(a.size() == 2);
  CHECK(a[0].at("delay_s") == 7);
  CHECK(a[1].at("decision") == "give_up");
}

TEST_CASE("retry-plan: the table is for people", "[cli][retry-plan]") {
  auto r = taskrt(R"(retry-plan --policy '{"retries":2,"wait":5}' --failures 3)"
                  " --start 2026-01-01T00:00:00Z");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  std::istringstream lines{r.out};
  std::string header, columns;
  std::getline(lines, header);
  std::getline(lines, columns);
  CHECK_THAT(header, Catch::Contains("\"max_attempts\":3") && Catch::Contains("\"wait\":5"));
  for (const char* col : {"ATTEMPT", "ERROR", "DECISION", "DELAY", "RETRY AT", "REASON"})
    CHECK_THAT(columns, Catch::Contains(col));
  // Columns are aligned: every row starts its DECISION cell where the header does.
  const auto at = columns.find("DECISION");
  std::vector<std::string> rows;
  for (std::string row; std::getline(lines, row);)
    rows.push_back(row);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].substr(at, 5) == "retry");
  CHECK(rows[2].substr(at, 7) == "give_up");
  CHECK_THAT(rows[0], Catch::Contains("2026-01-01T00:00:05Z") && Catch::Contains("5s"));
}

TEST_CASE("retry-plan: bad input exits 2 with one line on stderr", "[cli][retry-plan]") {
  expect_usage_error(R"(retry-plan --policy '{"wait":"5"}' --failures 3)",
                     R"(retry policy: "wait" must be a non-negative number, got "5")");
  expect_usage_error(R"(retry-plan --policy '{"wait":' --failures 3)",
                     "retry policy: invalid JSON");
  expect_usage_error(R"(retry-plan --policy '{"retries":1,"max_attempts":2}' --failures 3)",
                     "not both");
  expect_usage_error(R"(retry-plan --policy '[]' --failures 3)", "JSON object");
  expect_usage_error("retry-plan --policy default --failures 0", "--failures");
  expect_usage_error("retry-plan --policy default --failures 10001", "--failures");
  expect_usage_error("retry-plan --policy default --failures -3", "failures");
  expect_usage_error("retry-plan --policy default --failures many", "failures");
  expect_usage_error("retry-plan --policy default --failures 3 --start yesterday", "--start");
  expect_usage_error("retry-plan --policy default --failures 3 --start 2026-02-30T00:00:00Z",
                     "--start");
  expect_usage_error("retry-plan --policy @/nonexistent/policy.json --failures 3",
                     "/nonexistent/policy.json");
  expect_usage_error("retry-plan --failures 3", "--policy");
  expect_usage_error("retry-plan --policy default", "--failures");
  expect_usage_error("retry-plan --policy default --failures 3 -o xml", "xml");
  expect_usage_error("retry-plan --policy default --failures 3 --frobnicate", "frobnicate");
  expect_usage_error("no-such-command", "no-such-command");
}

TEST_CASE("retry-plan: --help exits 0 and shows examples", "[cli][retry-plan]") {
  auto top = taskrt("--help");
  CHECK(top.exit_code == 0);
  CHECK_THAT(top.out, Catch::Contains("Examples:") && Catch::Contains("retry-plan"));
  auto sub = taskrt("retry-plan --help");
  CHECK(sub.exit_code == 0);
  CHECK_THAT(sub.out, Catch::Contains("Examples:") && Catch::Contains("--failures"));
}

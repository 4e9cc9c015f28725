// Bad input to `taskrt submit` and `taskrt start`, refused before anything
// is sent: exit 2 and one line on stderr naming the problem. No head or
// database is needed (the address points at a closed port, so a check that
// let a value through would fail with exit 1 "cannot reach", not 2).

#include "tests/e2e/head_process.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

using namespace taskrt::test;

namespace {

const std::vector<std::string> no_head{"TASKRT_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none",
                                       "TASKRT_ADDRESS=127.0.0.1:1"};

/// Runs taskrt and checks: exit 2, exactly one line, which contains `says`.
void refused(const std::vector<std::string>& args, const std::string& says) {
  auto r = run_cli(args, no_head);
  std::string line;
  for (const auto& a : args)
    line += (a.size() > 60 ? a.substr(0, 60) + "..." : a) + " ";
  INFO("taskrt " << line << "\nstderr: " << r.err << "\nstdout: " << r.out);
  CHECK(r.exit_code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.rfind("taskrt: ", 0) == 0);
  CHECK(r.err.find(says) != std::string::npos);
}

std::string temp_file(const std::string& content) {
  char tpl[] = "/tmp/taskrt-args.XXXXXX";
  int fd = ::mkstemp(tpl);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  ::close(fd);
  return tpl;
}

std::string nested(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

} // namespace

TEST_CASE("submit: bad args are refused naming the problem", "[cli][limits]") {
  refused({"submit", "echo", "--args", "{nope"}, "--args: not valid JSON (");
  refused({"submit", "echo", "--args", R"({"a":"x\u0000y"})"}, "--args: contains \\u0000");
  refused({"submit", "echo", "--args", "{\"a\":\"\xff\"}"}, "--args: invalid UTF-8 at byte 6");
  refused({"submit", "echo", "--args", nested(65)},
          "--args: nested deeper than 64 levels (--max-json-depth)");
  refused({"submit", "echo", "--args", "[1e400]"}, "--args: not valid JSON (number overflow");
  refused({"submit", "echo", "--args", R"({"x":"0123456789"})", "--max-json-bytes", "10"},
          "--args: 18 bytes, more than the limit of 10 (--max-json-bytes)");
}

TEST_CASE("submit: --args @FILE and --args - read big values, checked the same way",
          "[cli][limits]") {
  // 2 MiB: more than a shell argument can carry, more than the 1 MiB default.
  const auto big = temp_file("{\"x\":\"" + std::string(2u << 20, 'x') + "\"}");
  const auto big_size = std::to_string((2u << 20) + 8); // the file's real size
  refused({"submit", "echo", "--args", "@" + big},
          "--args @" + big + ": " + big_size + " bytes, more than the limit of 1048576");
  refused({"submit", "echo", "--args", "@/nonexistent/args.json"},
          "--args @/nonexistent/args.json: cannot read the file: No such file or directory");
  const auto nul = temp_file(R"({"a":"\u0000"})");
  refused({"submit", "echo", "--args", "@" + nul}, "contains \\u0000");
  // stdin: run through the shell with the file as stdin.
  auto cmd = no_head[0] + " " + no_head[1] + " '" + taskrt_bin() + "' submit echo --args - <'"
             + big + "' 2>&1 >/dev/null";
  std::string err;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p))
    err += buf;
  const int st = ::pclose(p);
  INFO(err);
  CHECK(WEXITSTATUS(st) == 2);
  CHECK(err == "taskrt: --args - (stdin): " + big_size + " bytes, more than the limit of 1048576 "
               "(--max-json-bytes)\n");
  // From a pipe the size is unknown: it says "more than" the limit.
  auto piped = "cat '" + big + "' | " + no_head[0] + " " + no_head[1] + " '" + taskrt_bin()
               + "' submit echo --args - 2>&1 >/dev/null";
  std::string perr;
  FILE* pp = ::popen(piped.c_str(), "r");
  REQUIRE(pp);
  while (std::fgets(buf, sizeof(buf), pp))
    perr += buf;
  ::pclose(pp);
  CHECK(perr == "taskrt: --args - (stdin): more than the limit of 1048576 bytes "
                "(--max-json-bytes)\n");
  ::unlink(big.c_str());
  ::unlink(nul.c_str());
}

TEST_CASE("submit: names, locks, queues and keys are bounded and never empty when given",
          "[cli][limits]") {
  refused({"submit", std::string(256, 'n')}, "task name: 256 bytes, longer than the limit of 255");
  refused({"submit", "echo", "--lock", ""}, "--lock: empty (an empty lock would silently drop");
  refused({"submit", "echo", "--queue", ""}, "--queue: empty");
  refused({"submit", "echo", "--queue", std::string(300, 'q')}, "queue: 300 bytes");
  refused({"submit", "echo", "--lock", "a\tb"}, "lock: control character 0x09 at byte 1");
  refused({"submit", "echo", "--key", std::string(256, 'k')}, "key: 256 bytes");
  refused({"submit", "echo", "--queue", "q\xff"}, "queue: invalid UTF-8 at byte 1");
}

TEST_CASE("submit: times that are not finite numbers say so", "[cli][limits]") {
  refused({"submit", "echo", "--in", "nan"}, "--in: not a number");
  refused({"submit", "echo", "--in", "inf"}, "--in: must be finite, got infinity");
  refused({"submit", "echo", "--in", "-5"}, "--in: must not be negative");
  refused({"submit", "echo", "--in", "1e300"}, "--in: more than 100 years");
  refused({"submit", "echo", "--time-limit", "nan"}, "--time-limit: not a number");
  refused({"submit", "echo", "--time-limit", "-1"}, "--time-limit: must not be negative");
  refused({"submit", "echo", "--priority", "2000000"}, "--priority: must be from -1000000");
}

TEST_CASE("submit: absurd or malformed policies are refused", "[cli][limits]") {
  refused({"submit", "echo", "--policy", R"({"wait":1e300})"},
          "\"wait\" must be at most 3153600000 (100 years)");
  refused({"submit", "echo", "--policy", R"({"retries":"many"})"}, "\"retries\" must be");
  refused({"submit", "echo", "--policy", R"({"backoff":1,"backoff_factor":1e9})"},
          "\"backoff_factor\" must be at most 1000");
}

TEST_CASE("start: limits and options out of range are refused", "[cli][limits]") {
  refused({"start", "--head", "--max-json-bytes", "0"}, "--max-json-bytes must be from 1 to");
  refused({"start", "--head", "--max-json-depth", "100000"}, "--max-json-depth must be from 1");
  refused({"start", "--head", "--max-name-bytes", "5000"}, "--max-name-bytes must be from 1");
  refused({"start", "--head", "--stuck-timeout", "inf"}, "--stuck-timeout: must be finite, got infinity");
  refused({"start", "--head", "--stuck-timeout", "0"}, "--stuck-timeout: must be more than 0");
  refused({"start", "--head", "--drain-grace", "nan"}, "--drain-grace: not a number");
  refused({"start", "--head", "--node-id", ""}, "--node-id: empty");
  refused({"start", "--address", "127.0.0.1:1", "--queues", "a,,b"},
          "--queues: a queue name: empty");
}

TEST_CASE("start --config: a bad config file is a usage error", "[cli][limits]") {
  refused({"start", "--head", "--config", "/nonexistent/taskrt.toml"}, "/nonexistent/taskrt.toml");
  const auto garbage = temp_file("[start\nworkers = = 4\n\x01\x02\n");
  refused({"start", "--head", "--config", garbage}, garbage);
  const auto wrong_type = temp_file("[start]\nworkers = \"many\"\n");
  refused({"start", "--head", "--config", wrong_type}, "workers");
  const auto unknown = temp_file("[start]\nworkerz = 4\n");
  refused({"start", "--head", "--config", unknown}, "workerz");
  const auto bad_limit = temp_file("[start]\nmax-json-bytes = 0\n");
  refused({"start", "--head", "--config", bad_limit}, "--max-json-bytes must be from 1");
  for (const auto& f : {garbage, wrong_type, unknown, bad_limit})
    ::unlink(f.c_str());
}

TEST_CASE("submit and tasks retry: --at is bounded like --in and names itself", "[cli][limits]") {
  refused({"submit", "echo", "--at", "9999-12-31T23:59:59Z"},
          "--at: more than 100 years ahead: 9999-12-31T23:59:59Z");
  refused({"submit", "echo", "--at", "0001-01-01T00:00:00Z"},
          "--at: before 1970: 0001-01-01T00:00:00Z");
  refused({"submit", "echo", "--at", "tomorrow"}, "--at: not an RFC 3339 time: tomorrow");
  refused({"tasks", "retry", "1", "--at", "9999-12-31T23:59:59Z"},
          "--at: more than 100 years ahead");
  refused({"tasks", "retry", "1", "--at", "1969-12-31T23:59:59Z"}, "--at: before 1970");
  refused({"tasks", "retry", "1", "--in", "1e10"}, "--in: more than 100 years");
}

TEST_CASE("tasks purge: --older-than over 100 years is refused", "[cli][limits]") {
  refused({"tasks", "purge", "--older-than", "1e30", "--yes"}, "--older-than: more than 100 years");
  refused({"tasks", "purge", "--older-than", "5300w", "--yes"}, "--older-than: more than 100 years");
}

TEST_CASE("tasks: filters with invalid UTF-8 are refused at the edge, naming the option",
          "[cli][limits]") {
  refused({"tasks", "list", "--queue", "\xff"}, "--queue: invalid UTF-8 at byte 0");
  refused({"tasks", "list", "--name", "ok\xc3"}, "--name: invalid UTF-8 at byte 2");
  refused({"tasks", "list", "--lock", "a\x01"}, "--lock: control character 0x01 at byte 1");
  refused({"tasks", "retry", "--in-queue", "\xfe", "--yes"}, "--in-queue: invalid UTF-8 at byte 0");
  refused({"tasks", "purge", "--older-than", "7d", "--error-kind", "\xc0\xaf", "--yes"},
          "--error-kind: invalid UTF-8 at byte 0");
  refused({"summary", "--queue", "\xed\xa0\x80"}, "--queue: invalid UTF-8 at byte 0");
  refused({"tasks", "cancel", "--node", "n\xff", "--yes"}, "--node: invalid UTF-8 at byte 1");
}

TEST_CASE("tasks: an id that is not a task id is a usage error, never clamped", "[cli][limits]") {
  refused({"tasks", "cancel", "99999999999999999999999"},
          "99999999999999999999999 is out of range (task ids go up to 9223372036854775807)");
  refused({"tasks", "retry", "1", "99999999999999999999999"}, "is out of range");
  refused({"tasks", "wait", "99999999999999999999999"}, "is out of range");
  refused({"tasks", "describe", "0"}, "'0' is not a task id");
  refused({"tasks", "events", "1e3"}, "'1e3' is not a task id");
  refused({"tasks", "cancel", "12abc"}, "'12abc' is not a task id");
}

// Bad arguments of every command: exit 2 and exactly one line on stderr.
// No database is needed: arguments are checked before any connection.

#include "tests/e2e/head_process.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace taskrt::test;

namespace {

void check_usage(const std::vector<std::string>& args) {
  auto r = run_cli(args, {"TASKRT_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none",
                          "TASKRT_ADDRESS=127.0.0.1:1"});
  std::string line;
  for (const auto& a : args)
    line += a + " ";
  INFO("taskrt " << line << "\nstderr: " << r.err << "\nstdout: " << r.out);
  CHECK(r.exit_code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.rfind("taskrt: ", 0) == 0);
}

} // namespace

TEST_CASE("bad arguments: exit 2 with one line on stderr", "[cli]") {
  const std::vector<std::vector<std::string>> cases{
    {"tasks"},
    {"tasks", "bogus"},
    {"tasks", "list", "--state", "BOGUS"},
    {"tasks", "list", "--sort", "colour"},
    {"tasks", "list", "--since", "yesterday"},
    {"tasks", "list", "--until", "-5h"},
    {"tasks", "list", "--limit", "0"},
    {"tasks", "list", "-o", "xml"},
    {"tasks", "list", "--nope"},
    {"tasks", "describe"},
    {"tasks", "describe", "abc"},
    {"tasks", "describe", "1", "-o", "wide"},
    {"tasks", "events"},
    {"tasks", "events", "1", "-o", "xml"},
    {"tasks", "watch"},
    {"tasks", "watch", "1", "--timeout", "-1"},
    {"tasks", "watch", "1", "-o", "yaml"},
    {"tasks", "wait"},
    {"tasks", "wait", "1", "--timeout", "0"},
    {"tasks", "retry"},
    {"tasks", "retry", "1", "--state", "FAILED"},
    {"tasks", "retry", "1", "--at", "tomorrow"},
    {"tasks", "retry", "1", "--in", "5", "--at", "2026-01-01T00:00:00Z"},
    {"tasks", "retry", "--state", "NOPE"},
    {"tasks", "retry", "--name", "x", "--since", "soon"},
    {"tasks", "cancel"},
    {"tasks", "cancel", "x"},
    {"tasks", "cancel", "1", "--name", "x"},
    {"tasks", "purge"},
    {"tasks", "purge", "--older-than", "7x"},
    {"tasks", "purge", "--older-than", "7d", "--state", "QUEUED"},
    {"tasks", "purge", "--older-than", "7d", "--state", "NOPE"},
    {"summary", "--since", "nope"},
    {"summary", "--bogus"},
    {"summary", "-o", "wide"},
    {"status", "--bogus"},
    {"status", "-o", "xml"},
    {"nodes", "--state", "WEIRD"},
    {"nodes", "-o", "xml"},
    {"up", "--nodes", "-1"},
    {"up", "--nodes", "many"},
    {"up", "--workers", "0"},
    {"up", "--port", "70000"},
    {"up", "--timeout", "0"},
    {"up", "-o", "xml"},
    {"up", "extra"},
    {"down", "--timeout", "-5"},
    {"down", "--bogus"},
    {"bogus"},
  };
  for (const auto& c : cases)
    check_usage(c);
}

TEST_CASE("every command has --help with examples", "[cli]") {
  for (const auto& c : std::vector<std::vector<std::string>>{
         {"tasks", "list"}, {"tasks", "describe"}, {"tasks", "events"}, {"tasks", "watch"},
         {"tasks", "wait"}, {"tasks", "retry"}, {"tasks", "cancel"}, {"tasks", "purge"},
         {"summary"}, {"status"}, {"nodes"}, {"up"}, {"down"}}) {
    auto args = c;
    args.push_back("--help");
    auto r = run_cli(args);
    INFO(c.front() << " " << c.back());
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Examples:") != std::string::npos);
  }
}

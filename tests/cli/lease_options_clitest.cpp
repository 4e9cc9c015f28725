// `taskrt start --lease/--lease-margin` out of range: exit 2 and one line
// on stderr naming the option, before anything starts (no database needed:
// the DSN points at a closed port, so a value let through would fail with
// exit 1, not 2).

#include "tests/e2e/head_process.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace taskrt::test;

namespace {

void refused(const std::vector<std::string>& args, const std::string& says) {
  auto r = run_cli(args, {"TASKRT_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none"});
  INFO("stderr: " << r.err << "\nstdout: " << r.out);
  CHECK(r.exit_code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(says) != std::string::npos);
}

} // namespace

TEST_CASE("start: a lease shorter than 3 s, or a margin over a quarter of it, is refused",
          "[cli][lease]") {
  refused({"start", "--head", "--lease", "2"}, "--lease: must be between 3 and 3600");
  refused({"start", "--head", "--lease", "nan"}, "--lease: must be between 3 and 3600");
  refused({"start", "--head", "--lease", "1e9"}, "--lease: must be between 3 and 3600");
  refused({"start", "--head", "--lease-margin", "0"}, "--lease-margin: must be more than 0");
  refused({"start", "--head", "--lease", "10", "--lease-margin", "2.6"},
          "--lease-margin: must be more than 0 and at most a quarter of --lease");
  // Head options: a worker node takes the terms from its head.
  auto r = run_cli({"start", "--address", "127.0.0.1:1", "--lease", "10"},
                   {"TASKRT_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--head") != std::string::npos);
}

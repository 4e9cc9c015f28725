#include "tests/pg/store_helpers.hpp"

#include "taskrt/persistence/detail/pqxx.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>

using namespace taskrt::test;

namespace {

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int select_one(const std::string& dsn) {
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  return tx.exec1("SELECT 1")[0].as<int>();
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  return line;
}

} // namespace

TEST_CASE("the test Postgres answers a query", "[pg]") {
  CHECK(select_one(test_dsn()) == 1);
}

TEST_CASE("private_postgres starts a cluster and removes it", "[pg]") {
  std::string dir;
  {
    private_postgres pg;
    dir = pg.dir();
    CHECK(pg.dsn().rfind("postgresql://postgres@127.0.0.1:", 0) == 0);
    CHECK(select_one(pg.dsn()) == 1);
    CHECK(exists(dir + "/data/PG_VERSION"));
  }
  CHECK_FALSE(exists(dir));
}

TEST_CASE("scripts/pg start, status, start again, stop --remove", "[pg]") {
  char tmpl[] = "/tmp/taskrt-pgscript.XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  const std::string dir = tmpl;
  const auto script = pg_script();
  REQUIRE(run(script + " start " + dir + " > " + dir + ".out") == 0);
  const auto dsn = read_file(dir + ".out");
  CHECK(dsn == read_file(dir + "/dsn"));
  CHECK(select_one(dsn) == 1);
  CHECK(run(script + " status " + dir + " >/dev/null") == 0);
  // Idempotent: a second start prints the same DSN.
  REQUIRE(run(script + " start " + dir + " > " + dir + ".out") == 0);
  CHECK(read_file(dir + ".out") == dsn);
  CHECK(run(script + " dsn " + dir + " >/dev/null") == 0);
  CHECK(run(script + " stop " + dir + " --remove") == 0);
  CHECK_FALSE(exists(dir));
  CHECK(run(script + " status " + dir + " >/dev/null") == 3);
  CHECK(run(script + " dsn " + dir + " 2>/dev/null") == 1);
  std::remove((dir + ".out").c_str());
}

TEST_CASE("a store survives a Postgres restart", "[pg][journal]") {
  private_postgres pg;
  taskrt::journal_store s{pg.dsn()};
  s.migrate();
  taskrt::journal_store::batch b;
  b.submits.push_back(submit_of("before"));
  REQUIRE(s.commit(b).submitted_ids.size() == 1);
  REQUIRE(run(pg_script() + " stop " + pg.dir() + " >/dev/null") == 0);
  b.submits[0].spec.name = "during";
  try {
    s.commit(b);
    FAIL("committed while Postgres was down");
  } catch (const taskrt::store_error& e) {
    CHECK(e.transient());
  }
  REQUIRE(run(pg_script() + " start " + pg.dir() + " >/dev/null") == 0);
  b.submits[0].spec.name = "after";
  CHECK(s.commit(b).submitted_ids.size() == 1); // reconnected by itself
  taskrt::task_filter f;
  CHECK(s.list_tasks(f).size() == 2);
}

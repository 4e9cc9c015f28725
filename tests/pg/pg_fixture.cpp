#include "tests/pg/pg_fixture.hpp"

#include "taskrt/persistence/detail/pqxx.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <unistd.h>
#include <vector>

namespace taskrt::test {

namespace {

std::string run_capture(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p)
    throw std::runtime_error("popen failed: " + cmd);
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), buf.size(), p))
    out += buf.data();
  if (::pclose(p) != 0)
    throw std::runtime_error("command failed: " + cmd);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
    out.pop_back();
  return out;
}

/// Drops the schemas fresh_schema_dsn() created when the process ends. Uses
/// psql: libpqxx's own function-local statics may be gone by then.
struct schema_janitor {
  std::string dsn;
  std::vector<std::string> schemas;

  ~schema_janitor() {
    if (schemas.empty())
      return;
    // A script on stdin: one transaction per DROP (a single -c would be one
    // transaction for all, past max_locks_per_transaction after ~100 schemas).
    const auto cmd = "psql -X -q -v ON_ERROR_STOP=1 '" + dsn + "' >/dev/null";
    FILE* p = ::popen(cmd.c_str(), "w");
    if (!p) {
      std::fprintf(stderr, "pg_fixture: could not drop the test schemas\n");
      return;
    }
    std::fputs("SET client_min_messages = warning;\n", p);
    for (const auto& s : schemas)
      std::fprintf(p, "DROP SCHEMA IF EXISTS \"%s\" CASCADE;\n", s.c_str());
    if (::pclose(p) != 0)
      std::fprintf(stderr, "pg_fixture: could not drop the test schemas\n");
  }
};

} // namespace

std::string pg_script() {
  return std::string{TASKRT_SOURCE_DIR} + "/scripts/pg";
}

private_postgres::private_postgres() {
  char tmpl[] = "/tmp/taskrt-pgtest.XXXXXX";
  if (!::mkdtemp(tmpl))
    throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  dsn_ = run_capture(pg_script() + " start '" + dir_ + "'");
}

private_postgres::~private_postgres() {
  const auto cmd = pg_script() + " stop '" + dir_ + "' --remove >/dev/null";
  if (std::system(cmd.c_str()) != 0)
    std::fprintf(stderr, "pg_fixture: could not stop/remove %s\n", dir_.c_str());
}

void private_postgres::crash_stop() {
  run_capture(pg_script() + " crash '" + dir_ + "'");
}

void private_postgres::start_again() {
  const auto dsn = run_capture(pg_script() + " start '" + dir_ + "'");
  if (dsn != dsn_)
    throw std::runtime_error("postgres came back as " + dsn + ", not " + dsn_);
}

const std::string& test_dsn() {
  static const std::string from_env = [] {
    const char* v = std::getenv("TASKRT_TEST_DSN");
    return std::string{v ? v : ""};
  }();
  if (!from_env.empty())
    return from_env;
  static private_postgres pg;
  return pg.dsn();
}

std::string fresh_schema_dsn(const std::string& name) {
  const auto& base = test_dsn();
  // Constructed after test_dsn()'s cluster, so destroyed before it stops.
  static schema_janitor janitor{base, {}};
  const auto schema = "t_" + name + "_" + std::to_string(::getpid());
  janitor.schemas.push_back(schema);
  {
    pqxx::connection c{base};
    pqxx::nontransaction tx{c};
    tx.exec0("DROP SCHEMA IF EXISTS " + tx.quote_name(schema) + " CASCADE");
    tx.exec0("CREATE SCHEMA " + tx.quote_name(schema));
  }
  if (base.rfind("postgres", 0) == 0 && base.find("://") != std::string::npos)
    return base + (base.find('?') == std::string::npos ? "?" : "&")
           + "options=-csearch_path%3D" + schema;
  return base + " options='-csearch_path=" + schema + "'";
}

int64_t query_count(const std::string& dsn, const std::string& sql) {
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  return tx.exec1(sql)[0].as<int64_t>();
}

void exec_sql(const std::string& dsn, const std::string& sql) {
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  tx.exec(sql);
}

} // namespace taskrt::test

#pragma once
/// Postgres for the pg tests: $TASKRT_TEST_DSN, or a private cluster that
/// scripts/pg starts in a temp dir and removes again.

#include <cstdint>
#include <string>

namespace taskrt::test {

/// A private Postgres cluster in a fresh mkdtemp directory, started with
/// scripts/pg on construction, stopped and removed on destruction.
class private_postgres {
public:
  /// Starts the cluster; throws std::runtime_error when scripts/pg fails.
  private_postgres();

  /// Stops the cluster and removes its directory.
  ~private_postgres();

  private_postgres(const private_postgres&) = delete;
  private_postgres& operator=(const private_postgres&) = delete;

  /// postgresql://postgres@127.0.0.1:PORT/taskrt
  const std::string& dsn() const { return dsn_; }

  /// The cluster's directory.
  const std::string& dir() const { return dir_; }

  /// Crash-stops the server (pg_ctl stop -m immediate).
  void crash_stop();

  /// Starts it again on the same port (crash recovery runs first); throws
  /// when it comes back under another DSN.
  void start_again();

private:
  std::string dir_;
  std::string dsn_;
};

/// The path of scripts/pg in the source tree.
std::string pg_script();

/// $TASKRT_TEST_DSN if set, else the DSN of one private_postgres per test
/// process (started on first use, removed at exit).
const std::string& test_dsn();

/// test_dsn() with search_path set to a freshly (re)created schema named
/// after `name`, so tests running in parallel do not see each other's rows.
std::string fresh_schema_dsn(const std::string& name);

/// The first column of the first row of `sql` run on `dsn`, as a number
/// (a count, a max id).
int64_t query_count(const std::string& dsn, const std::string& sql);

/// Runs `sql` on `dsn` on a connection of its own, outside a transaction
/// block (set-up and tampering a test does behind the store's back).
void exec_sql(const std::string& dsn, const std::string& sql);

} // namespace taskrt::test

#include "cli/cli_store.hpp"

namespace taskrt::cli {

void add_db_options(CLI::App* cmd, common_opts& o) {
  cmd->add_option("--db", o.db, "Postgres DSN (default: $TASKRT_DATABASE_URL, else the head's)");
  cmd->add_option("--data-dir", o.data_dir, "Where the head's state file is");
}

void add_head_options(CLI::App* cmd, common_opts& o) {
  cmd->add_option("--address", o.address, "Head HOST:PORT (default: $TASKRT_ADDRESS, else the state file)");
  cmd->add_option("--data-dir", o.data_dir, "Where the head's state file is");
}

std::unique_ptr<journal_store> open_store(const common_opts& o, int& exit_code) {
  auto dsn = resolve_dsn(o.db, o.data_dir);
  if (dsn.empty()) {
    exit_code = fail(failed, "no database known: pass --db DSN, set "
                             "TASKRT_DATABASE_URL, or start a head first");
    return nullptr;
  }
  try {
    return std::make_unique<journal_store>(dsn);
  } catch (const std::exception& e) {
    exit_code = fail(failed, std::string{"cannot open the journal: "} + e.what());
    return nullptr;
  }
}

std::string head_address(const common_opts& o) {
  return resolve_address(o.address, o.data_dir);
}

std::unique_ptr<client> open_head(const common_opts& o, int& exit_code) {
  auto addr = head_address(o);
  std::string host;
  uint16_t port = 0;
  if (addr.empty() || !split_address(addr, host, port)) {
    exit_code = fail(failed, addr.empty() ? "no head found: start one with `taskrt "
                                            "start --head` or pass --address HOST:PORT"
                                          : "bad address '" + addr + "': expected HOST:PORT");
    return nullptr;
  }
  auto c = std::make_unique<client>(host, port);
  if (!c->connected()) {
    exit_code = fail(failed, c->connect_error());
    return nullptr;
  }
  return c;
}

int head_error(const caf::error& e, const std::string& what) {
  return fail(failed, what + ": " + error_message(e));
}

} // namespace taskrt::cli

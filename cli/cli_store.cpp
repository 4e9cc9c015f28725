#include "taskrt/cli/cli_store.hpp"

#include "taskrt/cluster/head_addresses.hpp"
#include "taskrt/cluster/head_node.hpp"
#include "taskrt/persistence/leader_lock.hpp"
#include "taskrt/persistence/store_result.hpp"

#include <cstdio>
#include <cstdlib>

namespace taskrt::cli {

void add_db_options(CLI::App* cmd, common_opts& o) {
  cmd->add_option("--db", o.db, "Postgres DSN (default: $TASKRT_DATABASE_URL, else the head's)");
  cmd->add_option("--data-dir", o.data_dir, "Where the head's state file is");
}

void add_head_options(CLI::App* cmd, common_opts& o) {
  cmd->add_option("--address", o.address, "Head HOST:PORT, or a comma-separated list of the active head and its "
                  "standbys (default: $TASKRT_ADDRESS, else the state file)");
  cmd->add_option("--data-dir", o.data_dir, "Where the head's state file is");
  add_tls_options(cmd, o.tls);
}

journal_options cli_journal_options() {
  journal_options o;
  o.connect_timeout_s = 3;
  o.call_deadline_ms = 10'000;
  if (const auto& t = process_env().db_timeout; !t.empty()) {
    const char* v = t.c_str();
    char* end = nullptr;
    const double s = std::strtod(v, &end);
    if (end && *end == '\0' && s > 0 && s <= 86'400)
      o.call_deadline_ms = static_cast<int>(s * 1000);
    else
      std::fprintf(stderr,
                   "taskrt: ignoring TASKRT_DB_TIMEOUT=%s (seconds, more than 0 and at most "
                   "86400); reads wait at most 10 s\n",
                   v);
  }
  return o;
}

std::string store_dsn(const common_opts& o, int& exit_code) {
  auto dsn = resolve_dsn(o.db, o.data_dir);
  if (dsn.empty())
    exit_code = fail(failed, "no database known: pass --db DSN, set "
                             "TASKRT_DATABASE_URL, or start a head first");
  return dsn;
}

std::string api_store_failure(const caf::error& err) {
  if (store_table_missing(err))
    return "the journal has no API tables yet: start a head of this version once (it migrates "
           "the schema)";
  return store_message(err);
}

std::unique_ptr<journal_store> open_store(const common_opts& o, int& exit_code) {
  auto dsn = store_dsn(o, exit_code);
  if (dsn.empty())
    return nullptr;
  try {
    return std::make_unique<journal_store>(dsn, cli_journal_options());
  } catch (const std::exception& e) {
    exit_code = fail(failed, std::string{"cannot open the journal: "} + e.what());
    return nullptr;
  }
}

std::string head_address(const common_opts& o) {
  return resolve_address(o.address, o.data_dir);
}

std::unique_ptr<client> connect_to_head(const std::string& address_flag,
                                        const std::string& data_dir, const tls_flags& tls,
                                        const cli_env& env, std::string& err) {
  bool defaulted = false;
  auto addr = resolve_address(address_flag, data_dir, &defaulted);
  if (auto addrs = parse_head_addresses(addr); !addrs) {
    err = "bad address '" + addr + "': " + error_message(addrs.error());
    return nullptr;
  }
  auto t = resolve_tls_options(tls, env);
  const bool from_state_file = address_flag.empty() && process_env().address.empty();
  std::optional<head_state_file> sf;
  if (from_state_file)
    sf = read_state_file(data_dir.empty() ? default_data_dir() : data_dir);
  if (t.dir.empty() && sf && sf->tls)
    t.dir = sf->tls_dir;
  auto c = std::make_unique<client>(addr, t);
  if (!c->connected() && sf && !sf->dsn.empty()) {
    // The head of this data dir stands by (or stepped down): the database
    // knows the active head of the journal.
    try {
      for (const auto& s : leader_lock::sessions(sf->dsn))
        if (s.role == "active")
          c = std::make_unique<client>(s.address, t);
    } catch (const std::exception&) {
    }
  }
  if (!c->connected()) {
    err = c->connect_error();
    if (defaulted) // nothing named a head: say where we looked
      err = "no head found: none at " + addr + " (the default port), and no state file in "
            + (data_dir.empty() ? default_data_dir() : data_dir)
            + "; start one with `" + env.program + " start --head`, or pass --address "
              "HOST:PORT (or set TASKRT_ADDRESS, or TASKRT_DATA_DIR for a head's data dir): "
            + err;
    return nullptr;
  }
  return c;
}

std::unique_ptr<client> open_head(const common_opts& o, cli_env& env) {
  std::string err;
  auto c = connect_to_head(o.address, o.data_dir, o.tls, env, err);
  if (!c)
    env.exit_code = fail(failed, err);
  return c;
}

int head_error(const caf::error& e, const std::string& what) {
  return fail(failed, what + ": " + error_message(e));
}

} // namespace taskrt::cli

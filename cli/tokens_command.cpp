// `taskrt tokens add|list|revoke`: the bearer tokens of the HTTP API.

#include "taskrt/cli/access_commands.hpp"

#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/cli/table.hpp"
#include "taskrt/persistence/access_store.hpp"
#include "taskrt/persistence/store_result.hpp"
#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/time.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

/// The store of the options' database, or nothing after printing why.
std::unique_ptr<access_store> open_access(const common_opts& o, int& exit_code) {
  const auto dsn = resolve_dsn(o.db, o.data_dir);
  if (dsn.empty()) {
    exit_code = fail(failed, "no database: pass --db DSN, set TASKRT_DATABASE_URL, or run a "
                             "head with this --data-dir first");
    return nullptr;
  }
  return std::make_unique<access_store>(dsn, cli_journal_options());
}

} // namespace

void add_tokens_command(CLI::App& app, cli_env& env) {
  auto* tokens = app.add_subcommand("tokens", "Bearer tokens of the HTTP API (viewer or operator)");
  tokens->require_subcommand(1);
  tokens->footer(R"(A token is printed once, when it is added; Postgres keeps only its SHA-256,
so every head of the database (a standby too) accepts it. Send it as
`Authorization: Bearer TOKEN`. Viewers may GET; operators may also submit,
cancel and retry. Examples:
  taskrt tokens add ci --role operator
  taskrt tokens list
  taskrt tokens revoke ci
  curl -H "Authorization: Bearer $TOKEN" localhost:9090/api/v1/status)");

  auto o = std::make_shared<common_opts>();
  auto name = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>();
  auto* add = tokens->add_subcommand("add", "Add a token and print it (once)");
  add->add_option("name", *name, "Name of the token (journaled with every action it takes)")
    ->required();
  add->add_option("--role", *role, "viewer (GET only) or operator (also submit, cancel, retry)")
    ->required()->check(CLI::IsMember({"viewer", "operator"}));
  add->add_option("-o,--output", o->output, "table (the token alone) or json")
    ->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  add_db_options(add, *o);
  add->callback([&env, o, name, role] {
    if (auto e = check_name(*name, "NAME", true)) {
      env.exit_code = fail(usage, *e);
      return;
    }
    auto store = open_access(*o, env.exit_code);
    if (!store)
      return;
    try {
      const auto added = store_call([&] { return store->add_token(*name, *parse_api_role(*role), origin()); });
      if (!added) {
        env.exit_code = fail(failed, "tokens add: " + api_store_failure(added.error()));
        return;
      }
      const auto& secret = *added;
      if (o->output == "json")
        std::printf("%s\n", json{{"name", *name}, {"role", *role}, {"token", secret}}.dump().c_str());
      else
        std::printf("%s\n", secret.c_str());
      std::fprintf(stderr, "token '%s' (%s) added; it is shown only now\n", name->c_str(),
                   role->c_str());
      env.exit_code = ok;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, std::string{"tokens add: "} + e.what());
    }
  });

  auto lo = std::make_shared<common_opts>();
  auto* list = tokens->add_subcommand("list", "List the tokens (names and roles; never secrets)");
  list->add_option("-o,--output", lo->output, "table, json or yaml")
    ->check(CLI::IsMember({"table", "json", "yaml"}))->capture_default_str();
  add_db_options(list, *lo);
  list->callback([&env, lo] {
    auto store = open_access(*lo, env.exit_code);
    if (!store)
      return;
    try {
      const auto all = store_call([&] { return store->tokens(); });
      if (!all) {
        env.exit_code = fail(failed, "tokens list: " + api_store_failure(all.error()));
        return;
      }
      json rows = json::array();
      for (const auto& t : *all)
        rows.push_back({{"name", t.name},
                        {"role", to_string(t.role)},
                        {"created_at", to_rfc3339(from_micros(t.created_us))},
                        {"created_by", t.created_by},
                        {"revoked_at", t.revoked_us ? json(to_rfc3339(from_micros(t.revoked_us)))
                                                    : json(nullptr)}});
      if (lo->output == "table") {
        table t{{"NAME", "ROLE", "CREATED", "BY", "REVOKED"}, {}};
        for (const auto& r : rows)
          t.rows.push_back({cell(r["name"]), cell(r["role"]), cell(r["created_at"]),
                            cell(r["created_by"]), cell(r["revoked_at"])});
        t.print(terminal_width(), use_colour());
      } else {
        print_doc(rows, parse_output(lo->output));
      }
      env.exit_code = ok;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, std::string{"tokens list: "} + e.what());
    }
  });

  auto ro = std::make_shared<common_opts>();
  auto rname = std::make_shared<std::string>();
  auto* revoke = tokens->add_subcommand("revoke", "Revoke a token: refused from the next request on");
  revoke->add_option("name", *rname, "Name of the token")->required();
  add_db_options(revoke, *ro);
  revoke->callback([&env, ro, rname] {
    auto store = open_access(*ro, env.exit_code);
    if (!store)
      return;
    try {
      const auto revoked = store_call([&] { return store->revoke_token(*rname); });
      if (!revoked) {
        env.exit_code = fail(failed, "tokens revoke: " + api_store_failure(revoked.error()));
        return;
      }
      if (!*revoked) {
        env.exit_code = fail(failed, "tokens revoke: no valid token named '" + *rname + "'");
        return;
      }
      std::fprintf(stderr, "token '%s' revoked\n", rname->c_str());
      env.exit_code = ok;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, std::string{"tokens revoke: "} + e.what());
    }
  });
}

} // namespace taskrt::cli

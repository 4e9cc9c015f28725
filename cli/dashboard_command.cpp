// `taskrt dashboard`: a login link for the head's HTTP port with a one-time
// login token in it, as Jupyter prints one.

#include "taskrt/cli/access_commands.hpp"

#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/time_arg.hpp"
#include "taskrt/cluster/head_node.hpp"
#include "taskrt/persistence/access_store.hpp"
#include "taskrt/persistence/store_result.hpp"
#include "taskrt/runtime/limits.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

namespace taskrt::cli {

void add_dashboard_command(CLI::App& app, cli_env& env) {
  struct args_t {
    common_opts o;
    std::string role = "operator", name, url, valid = "10m", session = "12h";
  };
  auto a = std::make_shared<args_t>();
  auto* cmd = app.add_subcommand("dashboard", "Print a login link for the head's dashboard");
  cmd->footer(R"(The link holds a one-time login token (valid for --valid, used once). Opening
it sets an HttpOnly, SameSite=Strict session cookie (lasting --session) and
goes on to the dashboard at /. The head must serve HTTP (start --head
--http-port N); its address comes from the state file, or --url. The
session acts as --name (journaled with every action) with --role.
Examples:
  taskrt dashboard
  taskrt dashboard --role viewer --session 1h
  taskrt dashboard --url http://10.0.0.5:9090 --db postgresql://taskrt@db/taskrt)");
  cmd->add_option("--role", a->role, "viewer or operator")
    ->check(CLI::IsMember({"viewer", "operator"}))->capture_default_str();
  cmd->add_option("--name", a->name, "Who the session acts as (default: dashboard:USER@HOST)");
  cmd->add_option("--url", a->url, "The head's HTTP address (default: from the state file)");
  cmd->add_option("--valid", a->valid, "How long the link may be used: 90s, 10m, 1h")
    ->capture_default_str();
  cmd->add_option("--session", a->session, "How long the browser session lasts: 30m, 12h, 7d")
    ->capture_default_str();
  cmd->add_option("-o,--output", a->o.output, "table (the link) or json")
    ->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  add_db_options(cmd, a->o);
  cmd->callback([&env, a] {
    std::optional<double> valid = parse_duration(a->valid), session = parse_duration(a->session);
    if (!valid || *valid <= 0) {
      env.exit_code = fail(usage, "--valid: not a duration like 10m: " + a->valid);
      return;
    }
    if (!session || *session <= 0) {
      env.exit_code = fail(usage, "--session: not a duration like 12h: " + a->session);
      return;
    }
    for (auto [v, flag] : {std::pair{*valid, "--valid"}, std::pair{*session, "--session"}})
      if (auto e = check_seconds(v, flag)) {
        env.exit_code = fail(usage, *e);
        return;
      }
    auto url = a->url;
    if (url.empty()) {
      auto sf = read_state_file(a->o.data_dir.empty() ? default_data_dir() : a->o.data_dir);
      if (!sf) {
        env.exit_code = fail(failed, "no head runs on this data dir (no state file): pass --url");
        return;
      }
      if (sf->http_url.empty()) {
        env.exit_code = fail(failed, "the head serves no HTTP: start it with --http-port N "
                                     "(or pass --url)");
        return;
      }
      url = sf->http_url;
    }
    while (!url.empty() && url.back() == '/')
      url.pop_back();
    const auto name = a->name.empty() ? "dashboard:" + origin().substr(origin().find(' ') + 1)
                                      : a->name;
    if (auto e = check_name(name, "--name", true)) {
      env.exit_code = fail(usage, *e);
      return;
    }
    const auto dsn = resolve_dsn(a->o.db, a->o.data_dir);
    if (dsn.empty()) {
      env.exit_code = fail(failed, "no database: pass --db DSN, set TASKRT_DATABASE_URL, or run a "
                                   "head with this --data-dir first");
      return;
    }
    try {
      const auto secret = store_call([&] {
        access_store store{dsn, cli_journal_options()};
        return store.add_login(name, *parse_api_role(a->role), *valid, *session);
      });
      if (!secret) {
        env.exit_code = fail(failed, "dashboard: " + api_store_failure(secret.error()));
        return;
      }
      const auto link = url + "/login?token=" + *secret;
      if (a->o.output == "json")
        std::printf("%s\n", nlohmann::json{{"url", link}, {"name", name}, {"role", a->role},
                                           {"valid_s", *valid}, {"session_s", *session}}
                              .dump()
                              .c_str());
      else
        std::printf("%s\n", link.c_str());
      std::fprintf(stderr, "open the link within %s (once); it logs in as %s (%s)\n",
                   human_duration(*valid).c_str(), name.c_str(), a->role.c_str());
      env.exit_code = ok;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, std::string{"dashboard: "} + e.what());
    }
  });
}

} // namespace taskrt::cli

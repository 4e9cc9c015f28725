#include "cli/inspect_commands.hpp"

#include "cli/cli_store.hpp"
#include "cli/heads_block.hpp"
#include "cli/output.hpp"
#include "runtime/time.hpp"

#include <memory>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

json time_or_null(int64_t us) {
  return us == 0 ? json(nullptr) : json(to_rfc3339(from_micros(us)));
}

} // namespace

void add_nodes_command(CLI::App& app, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto state = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand("nodes", "The node registry as journaled in Postgres");
  cmd->footer(R"(Reads the nodes table (works while the head is down): each node's state as
last journaled (ALIVE, SUSPECT, DEAD, DRAINING, LEFT), slots, running attempts and
last heartbeat.
Examples:
  taskrt nodes
  taskrt nodes --state ALIVE -o json)");
  cmd->add_option("--state", *state, "Only nodes in these states (comma-separated)")
    ->delimiter(',')->check(CLI::IsMember({"ALIVE", "SUSPECT", "DEAD", "DRAINING", "LEFT"}, CLI::ignore_case));
  add_output_option(cmd, o->output);
  add_db_options(cmd, *o);
  cmd->callback([&env, o, state] {
    auto store = open_store(*o, env.exit_code);
    if (!store)
      return;
    try {
      json rows = json::array();
      for (const auto& n : store->nodes()) {
        if (!state->empty()
            && std::find_if(state->begin(), state->end(), [&](const std::string& s) {
                 return CLI::detail::to_lower(s) == CLI::detail::to_lower(n.state);
               }) == state->end())
          continue;
        json j = json::object();
        j["id"] = n.id;
        j["state"] = n.state;
        j["slots"] = n.slots;
        j["running"] = n.running;
        j["last_heartbeat"] = time_or_null(n.last_heartbeat_us);
        j["address"] = n.address;
        j["started_at"] = time_or_null(n.started_us);
        rows.push_back(std::move(j));
      }
      static const std::vector<column> cols{
        {"ID", "id"},           {"STATE", "state"},         {"SLOTS", "slots"},
        {"RUNNING", "running"}, {"LAST HEARTBEAT", "last_heartbeat"},
        {"ADDRESS", "address", true}, {"STARTED", "started_at", true}};
      print_list(rows, cols, parse_output(o->output));
      if (o->output == "table") // which head is active, which stand by
        print_heads(read_heads(resolve_dsn(o->db, o->data_dir)));
      env.exit_code = ok;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, e.what());
    }
  });
}

} // namespace taskrt::cli

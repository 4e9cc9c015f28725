#include "taskrt/cli/inspect_commands.hpp"

#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/heads_block.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/time.hpp"

#include <caf/scoped_actor.hpp>

#include <map>
#include <memory>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

json time_or_null(int64_t us) {
  return us == 0 ? json(nullptr) : json(to_rfc3339(from_micros(us)));
}

/// The taskrt version of each node the live head knows (by node id); empty
/// when no head address is known or the head does not answer.
std::map<std::string, std::string> live_versions(const common_opts& o, const cli_env& env) {
  std::map<std::string, std::string> out;
  if (head_address(o).empty())
    return out;
  std::string err;
  auto c = connect_to_head(o.address, o.data_dir, o.tls, env, err);
  if (!c)
    return out;
  caf::scoped_actor self{c->system()};
  self->request(c->head(), std::chrono::seconds(5), nodes_atom::value)
    .receive(
      [&](const std::vector<node_view>& views) {
        for (const auto& n : views)
          out[n.id] = n.version;
      },
      [](caf::error&) {});
  return out;
}

} // namespace

void add_nodes_command(CLI::App& app, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto state = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand("nodes", "The node registry as journaled in Postgres");
  cmd->footer(R"(Reads the nodes table (works while the head is down): each node's state as
last journaled (ALIVE, SUSPECT, DEAD, DRAINING, LEFT), slots, running attempts and
last heartbeat; each node's taskrt version as it registered with the head (asked
from the live head; null while it is down).
Examples:
  taskrt nodes
  taskrt nodes --state ALIVE -o json)");
  cmd->add_option("--state", *state, "Only nodes in these states (comma-separated)")
    ->delimiter(',')->check(CLI::IsMember({"ALIVE", "SUSPECT", "DEAD", "DRAINING", "LEFT"}, CLI::ignore_case));
  add_output_option(cmd, o->output);
  add_head_options(cmd, *o);
  cmd->add_option("--db", o->db, "Postgres DSN (default: $TASKRT_DATABASE_URL, else the head's)");
  cmd->callback([&env, o, state] {
    auto store = open_store(*o, env.exit_code);
    if (!store)
      return;
    try {
      json rows = json::array();
      const auto versions = live_versions(*o, env);
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
        const auto v = versions.find(n.id);
        j["version"] = v == versions.end() || v->second.empty() ? json(nullptr)
                                                                : json(v->second);
        j["address"] = n.address;
        j["started_at"] = time_or_null(n.started_us);
        rows.push_back(std::move(j));
      }
      static const std::vector<column> cols{
        {"ID", "id"},           {"STATE", "state"},         {"SLOTS", "slots"},
        {"RUNNING", "running"}, {"LAST HEARTBEAT", "last_heartbeat"}, {"VERSION", "version"},
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

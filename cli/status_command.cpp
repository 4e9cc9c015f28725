#include "taskrt/cli/inspect_commands.hpp"

#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/heads_block.hpp"
#include "taskrt/cluster/head_addresses.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/cli/time_arg.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/time.hpp"
#include "taskrt/runtime/version.hpp"

#include <caf/scoped_actor.hpp>

#include <cstdio>
#include <memory>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

/// The head part: reachable or why not.
json head_part(const common_opts& o, const cli_env& env) {
  json h = json::object();
  const auto addr = head_address(o);
  h["address"] = addr.empty() ? json(nullptr) : json(addr);
  h["reachable"] = false;
  std::string err;
  if (addr.empty() || !parse_head_addresses(addr)) {
    h["error"] = addr.empty() ? "no head address known" : "bad address";
    return h;
  }
  auto c = connect_to_head(o.address, o.data_dir, o.tls, env, err);
  if (!c) {
    h["error"] = err;
    return h;
  }
  h["address"] = c->address(); // the one that answered: the active head
  auto st = c->status();
  if (!st) {
    h["error"] = error_message(st.error());
    return h;
  }
  const auto now_us = to_micros(now());
  h["reachable"] = true;
  h["node_id"] = st->node_id;
  h["version"] = st->version;
  h["started_at"] = st->started_us ? json(to_rfc3339(from_micros(st->started_us))) : json(nullptr);
  h["uptime_s"] = st->started_us ? json(static_cast<double>(now_us - st->started_us) / 1e6)
                                 : json(nullptr);
  h["workers"] = st->workers;
  h["busy"] = st->busy;
  h["free"] = st->workers - st->busy;
  h["queued"] = st->queued;
  h["running"] = st->running;
  h["draining"] = st->draining;
  h["journal_up"] = st->journal_up;
  h["journal_error"] = st->journal_up ? json(nullptr) : json(st->journal_error);
  h["journal_down_for_s"]
    = !st->journal_up && st->journal_down_since_us != 0
        ? json(static_cast<double>(now_us - st->journal_down_since_us) / 1e6)
        : json(nullptr);
  // The head's own view of its nodes: the rows in Postgres are rewritten
  // only every 2 s (and not at all while the head is down), so their running
  // counts lag ("slots 1 used" with nothing running).
  caf::scoped_actor self{c->system()};
  self->request(c->head(), std::chrono::seconds(5), nodes_atom::value)
    .receive(
      [&](const std::vector<node_view>& views) {
        json nodes = json::object();
        for (const char* s : {"ALIVE", "SUSPECT", "DEAD", "DRAINING"})
          nodes[s] = 0;
        int64_t slots = 0, running = 0;
        for (const auto& n : views) {
          if (n.state == node_status::left)
            continue;
          const std::string state = to_string(n.state);
          nodes[state] = nodes.value(state, 0) + 1;
          if (n.state == node_status::alive || n.state == node_status::draining) {
            slots += n.slots;
            running += n.running;
          }
        }
        h["live_nodes"] = nodes;
        h["live_node_slots"] = {{"total", slots}, {"used", running}, {"free", slots - running},
                                {"source", "head"}};
      },
      [](caf::error&) {});
  return h;
}

/// Node counts and slots from the head when it answered, else from the
/// journal's rows as the head last wrote them.
void merge_live_nodes(json& s) {
  auto& h = s["head"];
  if (h.contains("live_node_slots") && s.contains("node_slots")) {
    s["nodes"] = h["live_nodes"];
    s["node_slots"] = h["live_node_slots"];
  }
  h.erase("live_nodes");
  h.erase("live_node_slots");
}

/// The Postgres part: reachability, latency, counts and recent activity.
json db_part(const common_opts& o, json& out) {
  json pg = json::object();
  pg["reachable"] = false;
  const auto dsn = resolve_dsn(o.db, o.data_dir);
  if (dsn.empty()) {
    pg["error"] = "no database known";
    return pg;
  }
  try {
    json acc = json::object(); // merged into `out` only when every read worked
    journal_store store{dsn, cli_journal_options()};
    pg["ping_ms"] = store.ping_ms();
    pg["reachable"] = true;
    // No full scan (docs/performance.md): live tasks are counted through
    // their index, final ones estimated from Postgres' statistics once the
    // table is big; events are read only for the last minute (BRIN index
    // on their time) and, for the rare kinds, the last hour (their own index).
    const auto counts = store.count_by_state();
    json states = json::object();
    states["QUEUED"] = counts.queued;
    states["RUNNING"] = counts.running;
    states["SUCCEEDED"] = counts.succeeded;
    states["FAILED"] = counts.failed;
    states["CANCELLED"] = counts.cancelled;
    states["LOST"] = counts.lost;
    states["WAITING"] = counts.waiting;
    acc["tasks"] = states;
    acc["tasks_total"] = counts.queued + counts.running + counts.succeeded + counts.failed
                         + counts.cancelled + counts.lost + counts.waiting;
    acc["tasks_estimated"] = counts.estimated;
    const auto now_t = now();
    const auto now_us = to_micros(now_t);
    int64_t succeeded_1m = 0;
    for (const auto& c : store.event_counts_since(to_micros(add_seconds_clamped(now_t, -60)),
                                                  {transition_kind::succeed}))
      succeeded_1m = c.events;
    int64_t retries_1h = 0, lost_1h = 0, failed_1h = 0;
    for (const auto& c : store.event_counts_since(to_micros(add_seconds_clamped(now_t, -3600)),
                                                  {transition_kind::retry,
                                                   transition_kind::manual_retry,
                                                   transition_kind::lose, transition_kind::fail})) {
      if (c.kind == transition_kind::retry || c.kind == transition_kind::manual_retry)
        retries_1h += c.events;
      else if (c.kind == transition_kind::lose)
        lost_1h = c.events;
      else if (c.kind == transition_kind::fail)
        failed_1h = c.events;
    }
    acc["succeeded_last_minute"] = succeeded_1m;
    acc["throughput_per_s"] = static_cast<double>(succeeded_1m) / 60.0;
    acc["retries_last_hour"] = retries_1h;
    acc["failed_last_hour"] = failed_1h;
    acc["lost_last_hour"] = lost_1h;
    // Queue age counts only tasks ready to run now; scheduled ones (a retry
    // delay, --in/--at) are reported apart.
    const auto q = store.queued_age(now_us);
    acc["queued_ready"] = q.ready;
    acc["queued_scheduled"] = q.scheduled;
    acc["oldest_queued_age_s"]
      = q.oldest_ready_since_us
          ? json(static_cast<double>(now_us - *q.oldest_ready_since_us) / 1e6)
          : json(nullptr);
    acc["next_scheduled_in_s"]
      = q.next_scheduled_us ? json(static_cast<double>(*q.next_scheduled_us - now_us) / 1e6)
                            : json(nullptr);
    json nodes = json::object();
    for (const char* s : {"ALIVE", "SUSPECT", "DEAD", "DRAINING"})
      nodes[s] = 0;
    int64_t slots = 0, running = 0;
    for (const auto& n : store.nodes()) {
      nodes[n.state] = nodes.value(n.state, 0) + 1;
      if (n.state == "ALIVE" || n.state == "DRAINING") {
        slots += n.slots;
        running += n.running;
      }
    }
    acc["nodes"] = nodes;
    acc["node_slots"] = {{"total", slots}, {"used", running}, {"free", slots - running},
                         {"source", "journal"}};
    out.update(acc);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    pg["error"] = msg.substr(0, msg.find('\n'));
  }
  return pg;
}

std::string opt_age(const json& v) {
  return v.is_null() ? "-" : human_duration(v.get<double>());
}

void print_status(const json& s) {
  const auto& h = s["head"];
  if (h["reachable"].get<bool>())
    std::printf("Head      %s  node %s  up %s  workers %s (busy %s)  queued %s  running %s%s\n",
                cell(h["address"]).c_str(), cell(h["node_id"]).c_str(),
                opt_age(h["uptime_s"]).c_str(), cell(h["workers"]).c_str(),
                cell(h["busy"]).c_str(), cell(h["queued"]).c_str(), cell(h["running"]).c_str(),
                h["draining"].get<bool>() ? "  DRAINING" : "");
  if (h["reachable"].get<bool>())
    std::printf("Version   head %s, this CLI %s\n", cell(h["version"]).c_str(),
                s["cli_version"].get<std::string>().c_str());
  else
    std::printf("Head      %s  DOWN (%s)\n", cell(h["address"]).c_str(), cell(h["error"]).c_str());
  if (h["reachable"].get<bool>() && !h["journal_up"].get<bool>())
    std::printf("Journal   UNAVAILABLE for %s (%s): submits are refused, work resumes when"
                " Postgres is back\n",
                opt_age(h["journal_down_for_s"]).c_str(), cell(h["journal_error"]).c_str());
  const auto& pg = s["postgres"];
  if (!pg["reachable"].get<bool>()) {
    std::printf("Postgres  UNREACHABLE (%s)\n", cell(pg["error"]).c_str());
    return;
  }
  std::printf("Postgres  reachable, ping %.2f ms\n", pg["ping_ms"].get<double>());
  if (!s.contains("tasks")) {
    std::printf("          cannot read the journal: %s\n", cell(pg["error"]).c_str());
    return;
  }
  // "~": estimated from Postgres' statistics (a big table; see --help).
  const bool est = s.value("tasks_estimated", false);
  std::string states;
  for (const char* st :
       {"WAITING", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "LOST"}) {
    const bool live = std::string{st} == "QUEUED" || std::string{st} == "RUNNING";
    states += std::string{"  "} + st + " " + (est && !live ? "~" : "") + cell(s["tasks"][st]);
  }
  std::printf("Tasks    %s  (total %s%s)\n", states.c_str(), est ? "~" : "",
              cell(s["tasks_total"]).c_str());
  std::printf("Activity  %s succeeded in the last minute (%.2f/s); last hour: %s retries, "
              "%s failed, %s lost\n",
              cell(s["succeeded_last_minute"]).c_str(), s["throughput_per_s"].get<double>(),
              cell(s["retries_last_hour"]).c_str(), cell(s["failed_last_hour"]).c_str(),
              cell(s["lost_last_hour"]).c_str());
  std::printf("Queue     %s ready, oldest waiting %s; %s scheduled for later%s\n",
              cell(s["queued_ready"]).c_str(),
              s["oldest_queued_age_s"].is_null() ? "-" : opt_age(s["oldest_queued_age_s"]).c_str(),
              cell(s["queued_scheduled"]).c_str(),
              s["next_scheduled_in_s"].is_null()
                ? ""
                : (" (next in " + opt_age(s["next_scheduled_in_s"]) + ")").c_str());
  std::string nodes;
  for (const char* st : {"ALIVE", "SUSPECT", "DEAD", "DRAINING"})
    nodes += std::string{"  "} + st + " " + cell(s["nodes"][st]);
  std::printf("Nodes    %s  slots %s used / %s%s\n", nodes.c_str(),
              cell(s["node_slots"]["used"]).c_str(), cell(s["node_slots"]["total"]).c_str(),
              s["node_slots"].value("source", "") == "journal"
                ? "  (as the head last wrote them)"
                : "");
}

} // namespace

void add_status_command(CLI::App& app, cli_env& env) {
  auto o = std::make_shared<common_opts>();
  auto* cmd = app.add_subcommand(
    "status", "The head (address, uptime), Postgres (latency) and recent activity");
  cmd->footer(R"(Asks the head for its status and reads the rest from Postgres; with the head
down it says so and still prints the Postgres part. Exit 0 when both are
reachable and the head can write its journal, 1 otherwise. While the head's
journal is unavailable (Postgres down) a "Journal UNAVAILABLE" line says since
when and why. The queue line counts QUEUED tasks ready to run now (and how long
the oldest has waited) apart from those scheduled for later (retry delays,
--in/--at). It reads no whole table: QUEUED and RUNNING are exact; the final
states are exact up to a tasks table of 32 MB, estimated above (Postgres'
statistics, marked "~", "tasks_estimated": true in JSON).
Examples:
  taskrt status
  taskrt status -o json | jq .throughput_per_s
  taskrt status --address 10.0.0.5:7400 --db postgresql://taskrt@db/taskrt)");
  cmd->add_option("-o,--output", o->output, "table (text), json or yaml")
    ->check(CLI::IsMember({"table", "json", "yaml"}))->capture_default_str();
  add_head_options(cmd, *o);
  cmd->add_option("--db", o->db, "Postgres DSN (default: $TASKRT_DATABASE_URL, else the head's)");
  cmd->callback([&env, o] {
    json s = json::object();
    s["head"] = head_part(*o, env);
    s["cli_version"] = version_line();
    s["postgres"] = db_part(*o, s);
    merge_live_nodes(s);
    if (const auto dsn = resolve_dsn(o->db, o->data_dir);
        !dsn.empty() && s["postgres"]["reachable"].get<bool>())
      s["heads"] = read_heads(dsn); // active and standing by, from Postgres
    if (o->output == "table") {
      print_status(s);
      if (s.contains("heads"))
        print_heads(s["heads"]);
    }
    else
      print_doc(s, parse_output(o->output));
    const bool healthy = s["head"]["reachable"].get<bool>()
                         && s["head"].value("journal_up", true)
                         && s["postgres"]["reachable"].get<bool>();
    env.exit_code = healthy ? ok : failed;
  });
}

} // namespace taskrt::cli

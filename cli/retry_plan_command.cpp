#include "taskrt/cli/commands.hpp"

#include "taskrt/cli/table.hpp"
#include "taskrt/runtime/time.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iomanip>
#include <memory>
#include <sstream>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

struct plan_args {
  std::string policy, errors, start, output = "table";
  int64_t failures = 0;
  int64_t task_id = 0;
};

/// Reads --policy: inline JSON, @FILE, or "default".
bool load_policy(const std::string& arg, retry_policy& out, std::string& err) {
  if (arg == "default") {
    out = retry_policy::cluster_default();
    return true;
  }
  std::string text = arg;
  if (!arg.empty() && arg[0] == '@') {
    std::ifstream f{arg.substr(1)};
    if (!f) {
      err = "--policy: cannot read " + arg.substr(1);
      return false;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  auto parsed = parse_retry_policy(text);
  if (auto e = std::get_if<std::string>(&parsed)) {
    err = *e;
    return false;
  }
  out = std::get<retry_policy>(parsed);
  return true;
}


} // namespace

void add_retry_plan_command(CLI::App& app, cli_env& env) {
  auto a = std::make_shared<plan_args>();
  auto* cmd = app.add_subcommand("retry-plan",
                                 "Simulate K failures in a row and print each retry decision");
  cmd->footer(R"(Policy keys: retries (N|true|false) or max_attempts, wait, linear_wait,
exponential_wait, backoff, backoff_factor (2), max_delay, jitter (0..1),
retry_on, no_retry_on, strategy. Delay after failed attempt n (a = n-1):
  wait + linear_wait*(a+1) + exponential_wait^(a+1) + backoff*backoff_factor^a
Examples:
  taskrt retry-plan --policy '{"retries":3,"wait":5}' --failures 4
  taskrt retry-plan --policy '{"retries":5,"no_retry_on":["std::logic_error"]}' \
      --failures 3 --errors std::runtime_error,std::invalid_argument
  taskrt retry-plan --policy default --failures 3 --start 2026-01-01T00:00:00Z -o json
  taskrt retry-plan --policy '{"retries":true,"strategy":"escalate"}' --failures 6
  taskrt retry-plan --policy @policy.json --failures 10)");
  cmd->add_option("--policy", a->policy, "Policy JSON, @FILE, or \"default\"")->required();
  cmd->add_option("--failures", a->failures, "How many failures in a row (1..10000)")
    ->required();
  cmd->add_option("--errors", a->errors,
                  "Error kinds of the failures in order, comma-separated; the last repeats");
  cmd->add_option("--start", a->start, "Time of the first failure (RFC 3339; default now)");
  cmd->add_option("--task-id", a->task_id, "Task id that seeds the jitter")->capture_default_str();
  cmd->add_option("-o,--output", a->output, "table or json")
    ->check(CLI::IsMember({"table", "json"}));
  cmd->callback([&env, a] {
    retry_policy policy;
    std::string err;
    if (!load_policy(a->policy, policy, err)) {
      env.exit_code = fail(usage, err);
      return;
    }
    if (a->failures < 1 || a->failures > 10000) {
      env.exit_code = fail(usage, "--failures must be between 1 and 10000, got "
                                    + std::to_string(a->failures));
      return;
    }
    timestamp t = now();
    if (!a->start.empty()) {
      auto parsed = parse_rfc3339(a->start);
      if (!parsed) {
        env.exit_code = fail(usage, "--start: not an RFC 3339 time: " + a->start);
        return;
      }
      t = *parsed;
    }
    std::vector<std::string> kinds;
    std::stringstream ss{a->errors};
    for (std::string k; std::getline(ss, k, ',');)
      if (!k.empty())
        kinds.push_back(k);
    if (kinds.empty())
      kinds.push_back("error");
    json attempts = json::array();
    table tbl{{"ATTEMPT", "ERROR", "DECISION", "DELAY", "RETRY AT", "REASON"}, {}};
    failure_input in;
    in.task_id = a->task_id;
    in.queue = default_queue;
    for (int32_t n = 1; n <= a->failures; ++n) {
      const auto& kind = kinds[std::min<size_t>(static_cast<size_t>(n - 1), kinds.size() - 1)];
      in.attempt = n;
      in.error = error_info_for_kind(kind);
      in.failed_at = t;
      auto d = decide_retry(policy, in, env.strategies);
      json row = {{"attempt", n}, {"error", kind}, {"failed_at", to_rfc3339(t)}};
      row.update(d.to_json());
      attempts.push_back(row);
      tbl.rows.push_back({std::to_string(n), kind, d.retry ? "retry" : "give_up",
                          d.retry ? seconds_text(d.delay_s) : "-",
                          d.retry ? to_rfc3339(d.retry_at) : "-", d.reason});
      if (!d.retry)
        break;
      if (d.priority)
        in.priority = *d.priority;
      if (d.queue)
        in.queue = *d.queue;
      if (d.lock)
        in.lock = *d.lock;
      in.history.push_back({n, "failed", kind});
      t = d.retry_at; // the retried attempt fails as soon as it starts
    }
    if (a->output == "json") {
      std::printf("%s\n", json{{"policy", policy.to_json()}, {"attempts", attempts}}.dump().c_str());
    } else {
      std::printf("retry plan for %s\n", policy.to_json().dump().c_str());
      tbl.print(terminal_width());
    }
    env.exit_code = ok;
  });
}

} // namespace taskrt::cli

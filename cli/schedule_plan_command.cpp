#include "taskrt/cli/commands.hpp"

#include "taskrt/cli/table.hpp"
#include "taskrt/runtime/time.hpp"
#include "taskrt/sched/schedule_spec.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

namespace taskrt::cli {

namespace {

struct plan_args {
  std::string cron, every, tz, from, output = "table";
  int64_t count = 10;
};

} // namespace

void add_schedule_plan_command(CLI::App& app, cli_env& env) {
  auto a = std::make_shared<plan_args>();
  auto* cmd = app.add_subcommand(
    "schedule-plan", "Print the next fire times of a cron or interval schedule (no head needed)");
  cmd->footer(R"(A cron local time that does not exist (spring forward) fires once, at the
first instant after the gap; one that occurs twice (fall back) fires once, at
its first occurrence. --every is a fixed interval in absolute time, aligned
to the Unix epoch. Times print in UTC (RFC 3339).
Examples:
  taskrt schedule-plan --cron '30 2 * * *' --tz Europe/Berlin --from 2026-03-28T00:00:00Z --count 3
  taskrt schedule-plan --cron '*/10 * * * * *' --from 2026-01-01T00:00:00Z --count 5 -o json
  taskrt schedule-plan --every 1h30m --from 2026-01-01T00:00:00Z --count 4)");
  auto* cron = cmd->add_option("--cron", a->cron,
                               "Cron expression: 5 fields, or 6 with seconds first");
  auto* every = cmd->add_option("--every", a->every, "Fixed interval: 1s, 90s, 5m, 1h30m");
  cron->excludes(every);
  cmd->add_option("--tz", a->tz, "IANA time zone of the cron fields (default UTC)");
  cmd->add_option("--from", a->from, "Print fire times after this instant (RFC 3339; default now)");
  cmd->add_option("--count", a->count, "How many fire times (1..10000)")->capture_default_str();
  cmd->add_option("-o,--output", a->output, "table or json")
    ->check(CLI::IsMember({"table", "json"}));
  cmd->callback([&env, a] {
    auto made = sched::schedule_spec::make(a->cron, a->every, a->tz);
    if (auto e = std::get_if<std::string>(&made)) {
      env.exit_code = fail(usage, *e);
      return;
    }
    const auto& spec = std::get<sched::schedule_spec>(made);
    if (a->count < 1 || a->count > 10000) {
      env.exit_code = fail(usage, "--count must be between 1 and 10000, got "
                                    + std::to_string(a->count));
      return;
    }
    timestamp from = now();
    if (!a->from.empty()) {
      auto parsed = parse_rfc3339(a->from);
      if (!parsed) {
        env.exit_code = fail(usage, "--from: not an RFC 3339 time: " + a->from);
        return;
      }
      from = *parsed;
    }
    // Strictly after --from: a fractional --from rounds down first.
    int64_t t = std::chrono::floor<std::chrono::seconds>(from.time_since_epoch()).count();
    nlohmann::json out = nlohmann::json::array();
    table tbl{{"#", "FIRES AT (UTC)"}, {}};
    const int64_t last = to_micros(max_timestamp()) / 1'000'000;
    for (int64_t i = 1; i <= a->count; ++i) {
      auto next = spec.next_after(t);
      if (!next || *next > last)
        break;
      t = *next;
      const auto text = to_rfc3339(from_micros(t * 1'000'000));
      out.push_back(text);
      tbl.rows.push_back({std::to_string(i), text});
    }
    if (a->output == "json") {
      std::printf("%s\n", out.dump().c_str());
    } else {
      std::printf("%s %s in %s\n",
                  spec.rule_kind() == sched::schedule_spec::kind::cron ? "cron" : "every",
                  spec.rule_text().c_str(), spec.tz().c_str());
      tbl.print(terminal_width());
    }
    env.exit_code = ok;
  });
}

} // namespace taskrt::cli

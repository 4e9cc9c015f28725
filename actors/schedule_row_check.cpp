#include "taskrt/actors/schedule_row_check.hpp"

#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/retry_policy.hpp"
#include "taskrt/runtime/time.hpp"
#include "taskrt/sched/duration_text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace taskrt {

std::variant<sched::schedule_spec, std::string> spec_of(const schedule_row& row) {
  return sched::schedule_spec::make(row.cron,
                                    row.every_s > 0 ? sched::duration_text(row.every_s) : "",
                                    row.tz);
}

std::string tick_key(const std::string& name, int64_t tick_us) {
  return "schedule:" + name + ":" + to_rfc3339(from_micros(tick_us));
}

std::variant<schedule_row, std::string> make_schedule_row(const schedule_definition& def,
                                                          int64_t now_s) {
  const auto bad = [&](const std::string& why) {
    return "schedule '" + def.name + "': " + why;
  };
  if (def.name.empty() || def.name.size() > 100
      || !std::all_of(def.name.begin(), def.name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
         }))
    return bad("the name must be 1-100 letters, digits, '.', '_' or '-'");
  if (def.task.empty())
    return bad("no task");
  auto spec = sched::schedule_spec::make(def.cron, def.every, def.tz);
  if (auto e = std::get_if<std::string>(&spec))
    return bad(*e);
  const auto& s = std::get<sched::schedule_spec>(spec);
  schedule_row row;
  row.name = def.name;
  row.task = def.task;
  auto args = nlohmann::json::parse(def.args.empty() ? "{}" : def.args, nullptr, false);
  if (args.is_discarded())
    return bad("--args is not JSON: " + def.args);
  row.args = args.dump();
  row.cron = s.rule_kind() == sched::schedule_spec::kind::cron ? s.rule_text() : "";
  row.every_s = s.rule_kind() == sched::schedule_spec::kind::every ? s.every_seconds() : 0;
  row.tz = s.tz();
  if (def.missed != "skip" && def.missed != "latest" && def.missed != "all")
    return bad("--missed must be skip, latest or all, got \"" + def.missed + "\"");
  row.missed = def.missed;
  if (def.overlap != "allow" && def.overlap != "skip" && def.overlap != "buffer-one")
    return bad("--overlap must be allow, skip or buffer-one, got \"" + def.overlap + "\"");
  row.overlap = def.overlap;
  if (!def.catchup_window.empty()) {
    auto w = sched::parse_duration(def.catchup_window, "--catchup-window");
    if (auto e = std::get_if<std::string>(&w))
      return bad(*e);
    row.catchup_window_s = std::get<int64_t>(w);
    if (def.missed != "all")
      return bad("--catchup-window applies to --missed all only");
  }
  if (!def.jitter.empty()) {
    auto j = sched::parse_duration(def.jitter, "--jitter");
    if (auto e = std::get_if<std::string>(&j))
      return bad(*e);
    row.jitter_s = std::get<int64_t>(j);
  }
  if (auto e = check_name(def.queue, "queue", false))
    return bad(*e);
  if (auto e = check_name(def.lock, "lock", false))
    return bad(*e);
  if (!def.lock.empty() && def.overlap == "buffer-one")
    return bad("--overlap buffer-one uses the lock schedule:" + def.name
               + " for its tasks; it cannot be combined with --lock");
  if (auto e = check_seconds(def.time_limit_s, "time_limit_s"))
    return bad(*e);
  if (!def.policy.empty()) {
    auto parsed = parse_retry_policy(def.policy);
    if (auto p = std::get_if<std::string>(&parsed))
      return bad("--policy: " + *p);
  }
  row.queue = def.queue;
  row.priority = def.priority;
  row.policy = def.policy;
  row.time_limit_s = def.time_limit_s;
  row.lock = def.lock;
  if (auto next = s.next_after(now_s))
    row.next_tick_us = *next * 1'000'000;
  return row;
}

} // namespace taskrt

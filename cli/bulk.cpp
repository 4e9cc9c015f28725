#include "taskrt/cli/bulk.hpp"

#include "taskrt/cli/arg_checks.hpp"
#include "taskrt/cli/yaml.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>

#include <unistd.h>

namespace taskrt::cli {

using json = nlohmann::json;

void add_bulk_options(CLI::App* cmd, bulk_opts& b) {
  cmd->add_option("ids", b.ids, "Task ids (or select tasks with the filter options)")
    ->check(task_id_check());
  cmd->add_flag("-y,--yes", b.yes, "Do not ask for confirmation");
}

std::optional<std::vector<int64_t>> select_ids(const bulk_opts& b, const filter_opts& fo,
                                               const std::vector<task_state>& allowed,
                                               const common_opts& o, int& exit_code) {
  const bool filtered = has_filter(fo);
  if (b.ids.empty() == !filtered) {
    exit_code = fail(usage, filtered ? "give task ids or filter options, not both"
                                     : "give task ids or filter options (e.g. --state FAILED)");
    return std::nullopt;
  }
  if (!filtered)
    return b.ids;
  auto f = make_filter(fo, exit_code);
  if (!f)
    return std::nullopt;
  std::vector<task_state> states;
  for (auto s : allowed)
    if (f->states.empty() || std::find(f->states.begin(), f->states.end(), s) != f->states.end())
      states.push_back(s);
  if (states.empty()) {
    std::vector<int64_t> none;
    return none;
  }
  f->states = states;
  f->order = task_order::id_asc;
  auto store = open_store(o, exit_code);
  if (!store)
    return std::nullopt;
  try {
    std::vector<int64_t> ids;
    for (const auto& t : store->list_tasks(*f))
      ids.push_back(t.id);
    return ids;
  } catch (const std::exception& e) {
    exit_code = fail(failed, e.what());
    return std::nullopt;
  }
}

bool confirm(const bulk_opts& b, const std::string& verb, size_t n) {
  if (b.yes || !::isatty(STDIN_FILENO) || !::isatty(STDERR_FILENO))
    return true;
  std::fprintf(stderr, "%s %zu task(s)? [y/N] ", verb.c_str(), n);
  std::fflush(stderr);
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

int run_bulk(const std::vector<int64_t>& ids, const std::string& action,
             const std::string& past_tense, const std::string& output, const bulk_op& op) {
  const bool progress = ids.size() > 1 && ::isatty(STDERR_FILENO);
  json oks = json::array();
  json fails = json::array();
  size_t done = 0;
  for (auto id : ids) {
    json result = json::object();
    auto err = op(id, result);
    if (err.empty()) {
      result["id"] = id;
      oks.push_back(std::move(result));
    } else {
      fails.push_back({{"id", id}, {"error", err}});
    }
    if (progress)
      std::fprintf(stderr, "\r%s: %zu/%zu", action.c_str(), ++done, ids.size());
  }
  if (progress)
    std::fprintf(stderr, "\n");
  json summary = json::object();
  summary["action"] = action;
  summary["requested"] = ids.size();
  summary["ok"] = oks;
  summary["failed"] = fails;
  if (output == "json") {
    std::printf("%s\n", summary.dump(2).c_str());
  } else if (output == "yaml") {
    std::fputs(to_yaml(summary).c_str(), stdout);
  } else {
    for (const auto& r : oks)
      std::printf("task %lld %s%s\n", static_cast<long long>(r["id"].get<int64_t>()),
                  past_tense.c_str(),
                  r.contains("note") ? (" (" + r["note"].get<std::string>() + ")").c_str() : "");
    std::printf("%zu %s, %zu failed\n", oks.size(), past_tense.c_str(), fails.size());
  }
  // Errors go to stderr one per line whatever the format.
  // The head's messages often name the task already ("task 14 is already
  // SUCCEEDED"): then the line is that message, not "task 14: task 14 ...".
  for (const auto& f : fails) {
    const auto task = "task " + std::to_string(f["id"].get<int64_t>());
    const auto err = f["error"].get<std::string>();
    const bool named = err.rfind(task, 0) == 0
                       && (err.size() == task.size() || err[task.size()] == ' '
                           || err[task.size()] == ':');
    std::fprintf(stderr, "taskrt: %s\n", (named ? err : task + ": " + err).c_str());
  }
  return fails.empty() ? 0 : 1;
}

} // namespace taskrt::cli

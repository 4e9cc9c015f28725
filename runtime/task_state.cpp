#include "taskrt/runtime/task_state.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>

namespace taskrt {

namespace {

struct transition_rule {
  transition_kind kind;
  std::initializer_list<task_state> from; // empty: only a new task
};

// The whole table. Anything not listed here is illegal.
const transition_rule rules[] = {
  {transition_kind::submit, {}},
  {transition_kind::start, {task_state::queued}},
  {transition_kind::succeed, {task_state::running}},
  {transition_kind::fail, {task_state::running}},
  {transition_kind::cancel, {task_state::queued, task_state::running, task_state::waiting}},
  {transition_kind::lose, {task_state::running}},
  {transition_kind::retry, {task_state::failed, task_state::lost}},
  {transition_kind::manual_retry,
   {task_state::failed, task_state::lost, task_state::cancelled, task_state::queued}},
  {transition_kind::requeue, {task_state::running}},
  {transition_kind::release, {task_state::waiting}},
  {transition_kind::rewait, {task_state::cancelled}},
};

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  return s;
}

} // namespace

const char* to_string(task_state s) {
  switch (s) {
    case task_state::queued: return "QUEUED";
    case task_state::running: return "RUNNING";
    case task_state::succeeded: return "SUCCEEDED";
    case task_state::failed: return "FAILED";
    case task_state::cancelled: return "CANCELLED";
    case task_state::lost: return "LOST";
    case task_state::waiting: return "WAITING";
  }
  return "UNKNOWN";
}

const char* to_string(transition_kind k) {
  switch (k) {
    case transition_kind::submit: return "submit";
    case transition_kind::start: return "start";
    case transition_kind::succeed: return "succeed";
    case transition_kind::fail: return "fail";
    case transition_kind::cancel: return "cancel";
    case transition_kind::lose: return "lose";
    case transition_kind::retry: return "retry";
    case transition_kind::manual_retry: return "manual_retry";
    case transition_kind::requeue: return "requeue";
    case transition_kind::release: return "release";
    case transition_kind::rewait: return "rewait";
  }
  return "unknown";
}

const char* to_string(trigger_rule r) {
  switch (r) {
    case trigger_rule::all_success: return "all_success";
    case trigger_rule::all_done: return "all_done";
    case trigger_rule::any_success: return "any_success";
  }
  return "unknown";
}

std::optional<trigger_rule> parse_trigger_rule(const std::string& name) {
  for (auto r : {trigger_rule::all_success, trigger_rule::all_done, trigger_rule::any_success})
    if (name == to_string(r))
      return r;
  return std::nullopt;
}

std::optional<task_state> parse_task_state(const std::string& name) {
  const auto u = upper(name);
  for (auto s : {task_state::queued, task_state::running, task_state::succeeded,
                 task_state::failed, task_state::cancelled, task_state::lost,
                 task_state::waiting})
    if (u == to_string(s))
      return s;
  return std::nullopt;
}

std::optional<transition_kind> parse_transition_kind(const std::string& name) {
  for (const auto& r : rules)
    if (name == to_string(r.kind))
      return r.kind;
  return std::nullopt;
}

std::vector<transition_kind> all_transition_kinds() {
  std::vector<transition_kind> out;
  for (const auto& r : rules)
    out.push_back(r.kind);
  return out;
}

bool is_terminal(task_state s) {
  return s != task_state::queued && s != task_state::running && s != task_state::waiting;
}

task_state target_state(transition_kind k) {
  switch (k) {
    case transition_kind::submit:
    case transition_kind::retry:
    case transition_kind::manual_retry:
    case transition_kind::requeue:
    case transition_kind::release: return task_state::queued;
    case transition_kind::rewait: return task_state::waiting;
    case transition_kind::start: return task_state::running;
    case transition_kind::succeed: return task_state::succeeded;
    case transition_kind::fail: return task_state::failed;
    case transition_kind::cancel: return task_state::cancelled;
    case transition_kind::lose: return task_state::lost;
  }
  return task_state::queued;
}

std::optional<std::string> check_transition(std::optional<task_state> from,
                                            transition_kind kind) {
  for (const auto& r : rules) {
    if (r.kind != kind)
      continue;
    if (r.from.size() == 0) {
      if (!from)
        return std::nullopt;
      return std::string{"illegal transition: "} + to_string(kind)
             + " applies only to a new task, this one is " + to_string(*from);
    }
    if (from && std::find(r.from.begin(), r.from.end(), *from) != r.from.end())
      return std::nullopt;
    return std::string{"illegal transition: "} + to_string(kind) + " from "
           + (from ? to_string(*from) : "a task that does not exist") + " to "
           + to_string(target_state(kind));
  }
  return std::string{"illegal transition: unknown kind"};
}

} // namespace taskrt

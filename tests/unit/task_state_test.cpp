/// The transition table: every (from, kind) pair against the expected
/// legality, plus names and parsing.

#include "taskrt/runtime/task_state.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <utility>
#include <vector>

using namespace taskrt;

namespace {

const std::vector<task_state> all_states = {
  task_state::queued, task_state::running,   task_state::succeeded,
  task_state::failed, task_state::cancelled, task_state::lost,
};

const std::vector<transition_kind> all_kinds = {
  transition_kind::submit, transition_kind::start,  transition_kind::succeed,
  transition_kind::fail,   transition_kind::cancel, transition_kind::lose,
  transition_kind::retry,  transition_kind::manual_retry, transition_kind::requeue,
};

using from_t = std::optional<task_state>;

/// The legal pairs, written out independently of the implementation.
const std::set<std::pair<from_t, transition_kind>>& legal() {
  static const std::set<std::pair<from_t, transition_kind>> pairs = {
    {std::nullopt, transition_kind::submit},
    {task_state::queued, transition_kind::start},
    {task_state::running, transition_kind::succeed},
    {task_state::running, transition_kind::fail},
    {task_state::queued, transition_kind::cancel},
    {task_state::running, transition_kind::cancel},
    {task_state::running, transition_kind::lose},
    {task_state::failed, transition_kind::retry},
    {task_state::lost, transition_kind::retry},
    {task_state::failed, transition_kind::manual_retry},
    {task_state::lost, transition_kind::manual_retry},
    {task_state::cancelled, transition_kind::manual_retry},
    {task_state::queued, transition_kind::manual_retry},
    {task_state::running, transition_kind::requeue},
  };
  return pairs;
}

} // namespace

TEST_CASE("every (from, kind) pair matches the transition table", "[task_state]") {
  std::vector<from_t> froms{std::nullopt};
  for (auto s : all_states)
    froms.emplace_back(s);
  size_t legal_count = 0;
  for (auto from : froms) {
    for (auto kind : all_kinds) {
      const bool expected = legal().count({from, kind}) > 0;
      auto err = check_transition(from, kind);
      INFO("from " << (from ? to_string(*from) : "(none)") << " by " << to_string(kind));
      CHECK(err.has_value() == !expected);
      if (expected) {
        ++legal_count;
        continue;
      }
      REQUIRE(err);
      // The message names both ends.
      CHECK_THAT(*err, Catch::Contains(to_string(kind)));
      if (from)
        CHECK_THAT(*err, Catch::Contains(to_string(*from)));
      if (kind != transition_kind::submit)
        CHECK_THAT(*err, Catch::Contains(to_string(target_state(kind))));
    }
  }
  CHECK(legal_count == legal().size());
  CHECK(froms.size() * all_kinds.size() == 63);
}

TEST_CASE("illegal transition messages are readable", "[task_state]") {
  auto err = check_transition(task_state::succeeded, transition_kind::retry);
  REQUIRE(err);
  CHECK(*err == "illegal transition: retry from SUCCEEDED to QUEUED");
  err = check_transition(std::nullopt, transition_kind::start);
  REQUIRE(err);
  CHECK_THAT(*err, Catch::Contains("does not exist") && Catch::Contains("RUNNING"));
  err = check_transition(task_state::queued, transition_kind::submit);
  REQUIRE(err);
  CHECK_THAT(*err, Catch::Contains("submit") && Catch::Contains("QUEUED"));
}

TEST_CASE("target states", "[task_state]") {
  CHECK(target_state(transition_kind::submit) == task_state::queued);
  CHECK(target_state(transition_kind::start) == task_state::running);
  CHECK(target_state(transition_kind::succeed) == task_state::succeeded);
  CHECK(target_state(transition_kind::fail) == task_state::failed);
  CHECK(target_state(transition_kind::cancel) == task_state::cancelled);
  CHECK(target_state(transition_kind::lose) == task_state::lost);
  CHECK(target_state(transition_kind::retry) == task_state::queued);
  CHECK(target_state(transition_kind::manual_retry) == task_state::queued);
  CHECK(target_state(transition_kind::requeue) == task_state::queued);
}

TEST_CASE("terminal states", "[task_state]") {
  CHECK_FALSE(is_terminal(task_state::queued));
  CHECK_FALSE(is_terminal(task_state::running));
  CHECK(is_terminal(task_state::succeeded));
  CHECK(is_terminal(task_state::failed));
  CHECK(is_terminal(task_state::cancelled));
  CHECK(is_terminal(task_state::lost));
}

TEST_CASE("state and kind names round-trip", "[task_state]") {
  for (auto s : all_states) {
    CHECK(parse_task_state(to_string(s)) == s);
    std::string lower = to_string(s);
    for (auto& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(parse_task_state(lower) == s);
  }
  for (auto k : all_kinds)
    CHECK(parse_transition_kind(to_string(k)) == k);
  CHECK_FALSE(parse_task_state("DONE"));
  CHECK_FALSE(parse_task_state(""));
  CHECK_FALSE(parse_transition_kind("explode"));
}

TEST_CASE("stored state values never change", "[task_state]") {
  CHECK(static_cast<int>(task_state::queued) == 1);
  CHECK(static_cast<int>(task_state::running) == 2);
  CHECK(static_cast<int>(task_state::succeeded) == 3);
  CHECK(static_cast<int>(task_state::failed) == 4);
  CHECK(static_cast<int>(task_state::cancelled) == 5);
  CHECK(static_cast<int>(task_state::lost) == 6);
}

TEST_CASE("WAITING and its edges: submit with parents, release, cancel, rewait", "[task_state]") {
  // Every edge into and out of WAITING, and nothing else from it.
  CHECK_FALSE(check_transition(task_state::waiting, transition_kind::release));
  CHECK_FALSE(check_transition(task_state::waiting, transition_kind::cancel));
  CHECK_FALSE(check_transition(task_state::cancelled, transition_kind::rewait));
  CHECK(target_state(transition_kind::release) == task_state::queued);
  CHECK(target_state(transition_kind::rewait) == task_state::waiting);
  for (auto k : {transition_kind::start, transition_kind::succeed, transition_kind::fail,
                 transition_kind::lose, transition_kind::retry, transition_kind::manual_retry,
                 transition_kind::requeue, transition_kind::rewait, transition_kind::submit}) {
    INFO(to_string(k));
    CHECK(check_transition(task_state::waiting, k));
  }
  for (auto s : all_states) {
    INFO(to_string(s));
    CHECK(check_transition(s, transition_kind::release));
    CHECK(check_transition(s, transition_kind::rewait).has_value()
          == (s != task_state::cancelled));
  }
  CHECK_FALSE(is_terminal(task_state::waiting));
  CHECK(static_cast<int>(task_state::waiting) == 7);
  CHECK(static_cast<int>(transition_kind::release) == 10);
  CHECK(static_cast<int>(transition_kind::rewait) == 11);
  CHECK(parse_task_state("waiting") == task_state::waiting);
  CHECK(parse_transition_kind("release") == transition_kind::release);
  CHECK(parse_transition_kind("rewait") == transition_kind::rewait);
}

TEST_CASE("trigger rule names round-trip", "[task_state]") {
  for (auto r : {trigger_rule::all_success, trigger_rule::all_done, trigger_rule::any_success})
    CHECK(parse_trigger_rule(to_string(r)) == r);
  CHECK(to_string(trigger_rule::all_success) == std::string{"all_success"});
  CHECK_FALSE(parse_trigger_rule("ALL_SUCCESS"));
  CHECK_FALSE(parse_trigger_rule("one_success"));
}

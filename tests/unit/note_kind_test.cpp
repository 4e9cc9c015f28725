#include "taskrt/runtime/event_kind.hpp"
#include "taskrt/runtime/note_kind.hpp"
#include "taskrt/runtime/task_state.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace taskrt;

TEST_CASE("note kinds round-trip by name and unknown names parse to nothing", "[note_kind]") {
  for (int i = 1; i <= 9; ++i) {
    const auto k = static_cast<note_kind>(i);
    CHECK(parse_note_kind(to_string(k)) == k);
  }
  CHECK(!parse_note_kind("Rejected"));
  CHECK(!parse_note_kind(""));
  CHECK(!parse_note_kind("start")); // a transition, not a note
}

TEST_CASE("event kinds are the transitions and the notes, each once", "[note_kind]") {
  const auto all = all_event_kinds();
  // Every transition (11, release and rewait included) and every note (9):
  // the list of task_events_kind_check (schema migration 11).
  CHECK(all.size() == 20);
  std::set<std::string> names;
  for (const auto& k : all)
    names.insert(to_string(k));
  CHECK(names.size() == all.size());
  for (const auto& k : names)
    CHECK(is_event_kind(k));
  CHECK(is_event_kind("requeue"));
  CHECK(is_event_kind("stale_result"));
  CHECK(is_event_kind("release"));
  CHECK(is_event_kind("rewait"));
  CHECK_FALSE(is_event_kind("QUEUED"));
  CHECK_FALSE(is_event_kind("bogus"));
}

TEST_CASE("event kinds round-trip by name - a transition and a note never compare equal",
          "[note_kind]") {
  for (const auto& k : all_event_kinds()) {
    const auto back = parse_event_kind(to_string(k));
    REQUIRE(back);
    CHECK(*back == k);
    CHECK(back->is_note() == k.note().has_value());
    CHECK(back->is_note() != k.transition().has_value());
  }
  CHECK(parse_event_kind("start") == event_kind{transition_kind::start});
  CHECK(parse_event_kind("progress") == event_kind{note_kind::progress});
  CHECK(to_string(event_kind{transition_kind::manual_retry}) == std::string{"manual_retry"});
  CHECK(to_string(event_kind{note_kind::fenced_attempt}) == std::string{"fenced_attempt"});
  // Same underlying value (2), different kinds.
  CHECK(event_kind{transition_kind::start} != event_kind{note_kind::cancel_requested});
  CHECK_FALSE(parse_event_kind("Start"));
  CHECK_FALSE(parse_event_kind(""));
  CHECK_FALSE(parse_event_kind("fired")); // a schedule event, not a task event
}

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
  CHECK(all.size() == 18);
  CHECK(std::set<std::string>(all.begin(), all.end()).size() == all.size());
  for (const auto& k : all)
    CHECK(is_event_kind(k));
  CHECK(is_event_kind("requeue"));
  CHECK(is_event_kind("stale_result"));
  CHECK_FALSE(is_event_kind("QUEUED"));
  CHECK_FALSE(is_event_kind("bogus"));
}

#pragma once
/// The kind of a journal event (persistence/event_row.hpp): either a
/// transition (runtime/task_state.hpp) or a note (runtime/note_kind.hpp).
/// task_events.kind holds its name (to_string); Postgres refuses any other
/// text (CHECK constraint task_events_kind_check, schema migration 11), and a
/// name this taskrt cannot parse is a read error, never a default. The names
/// are the ones the CLI and the HTTP API print.

#include "taskrt/runtime/note_kind.hpp"
#include "taskrt/runtime/task_state.hpp"

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// A transition kind or a note kind; converts implicitly from either, so
/// `e.kind == transition_kind::start` and `e.kind == note_kind::progress`
/// read as they should.
class event_kind {
public:
  /// The event of a transition.
  constexpr event_kind(transition_kind t) noexcept // NOLINT: implicit on purpose
    : note_(false), value_(static_cast<uint8_t>(t)) {}
  /// A note.
  constexpr event_kind(note_kind n) noexcept // NOLINT: implicit on purpose
    : note_(true), value_(static_cast<uint8_t>(n)) {}

  /// True for a note (an event without a state change).
  constexpr bool is_note() const noexcept { return note_; }

  /// The transition, or nothing for a note.
  constexpr std::optional<transition_kind> transition() const noexcept {
    if (note_)
      return std::nullopt;
    return static_cast<transition_kind>(value_);
  }

  /// The note kind, or nothing for a transition.
  constexpr std::optional<note_kind> note() const noexcept {
    if (!note_)
      return std::nullopt;
    return static_cast<note_kind>(value_);
  }

  friend constexpr bool operator==(event_kind a, event_kind b) noexcept {
    return a.note_ == b.note_ && a.value_ == b.value_;
  }
  friend constexpr bool operator!=(event_kind a, event_kind b) noexcept { return !(a == b); }

private:
  bool note_;
  uint8_t value_;
};

/// The name task_events.kind stores: "submit", "start", ..., "stale_result", ...
const char* to_string(event_kind k);

/// Writes to_string(k) (for test failure messages and logs).
std::ostream& operator<<(std::ostream& os, event_kind k);

/// Parses a name as printed by to_string(event_kind); nothing for any other
/// text (it never defaults).
std::optional<event_kind> parse_event_kind(const std::string& name);

/// True for a name task_events.kind may hold: a transition or a note kind.
bool is_event_kind(const std::string& name);

/// Every event kind: the transitions, then the notes (the list of
/// task_events_kind_check).
std::vector<event_kind> all_event_kinds();

} // namespace taskrt

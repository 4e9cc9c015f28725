#pragma once
/// The kinds of journal events that change no state (notes), beside the
/// transitions of runtime/task_state.hpp; runtime/event_kind.hpp is the one
/// or the other. task_events.kind holds its name; Postgres refuses any other
/// text (CHECK constraint task_events_kind_check, schema migration 11).
/// Adding a kind: a value here, its name in to_string and in all_notes
/// (note_kind.cpp), and a migration that widens that constraint
/// (CONTRIBUTING.md).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// A note: an event of a task without a state change.
enum class note_kind : uint8_t {
  rejected = 1,         ///< an illegal transition, refused (the journal writes it)
  cancel_requested = 2, ///< a cancel of a running attempt (sets tasks.cancel_requested)
  retry_decision = 3,   ///< what the retry policy decided after a fail/lose
  stale_result = 4,     ///< a result fenced off (older attempt or lease)
  checkpoint = 5,       ///< a checkpoint saved (data in table checkpoints)
  progress = 6,         ///< progress reported by an attempt
  adopted = 7,          ///< a running attempt adopted by a restarted head
  fenced_attempt = 8,   ///< an attempt a re-registering node must drop
  waiting = 9,          ///< no ALIVE node runs the task's name (read only: written by earlier builds; now the submit event's "waiting")
};

/// "rejected", "cancel_requested", ...
const char* to_string(note_kind k);

/// Parses a note kind as printed by to_string(note_kind).
std::optional<note_kind> parse_note_kind(const std::string& name);

/// Every note kind.
std::vector<note_kind> all_note_kinds();

} // namespace taskrt

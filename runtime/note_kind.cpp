#include "taskrt/runtime/note_kind.hpp"

#include <iterator>

namespace taskrt {

namespace {

constexpr note_kind all_notes[] = {
  note_kind::rejected,     note_kind::cancel_requested, note_kind::retry_decision,
  note_kind::stale_result, note_kind::checkpoint,       note_kind::progress,
  note_kind::adopted,      note_kind::fenced_attempt,   note_kind::waiting,
};

} // namespace

const char* to_string(note_kind k) {
  switch (k) {
    case note_kind::rejected: return "rejected";
    case note_kind::cancel_requested: return "cancel_requested";
    case note_kind::retry_decision: return "retry_decision";
    case note_kind::stale_result: return "stale_result";
    case note_kind::checkpoint: return "checkpoint";
    case note_kind::progress: return "progress";
    case note_kind::adopted: return "adopted";
    case note_kind::fenced_attempt: return "fenced_attempt";
    case note_kind::waiting: return "waiting";
  }
  return "?";
}

std::optional<note_kind> parse_note_kind(const std::string& name) {
  for (auto k : all_notes)
    if (name == to_string(k))
      return k;
  return std::nullopt;
}

std::vector<note_kind> all_note_kinds() {
  return {std::begin(all_notes), std::end(all_notes)};
}

} // namespace taskrt

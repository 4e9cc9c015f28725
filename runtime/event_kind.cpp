#include "taskrt/runtime/event_kind.hpp"

#include <ostream>

namespace taskrt {

const char* to_string(event_kind k) {
  if (auto n = k.note())
    return to_string(*n);
  return to_string(*k.transition());
}

std::ostream& operator<<(std::ostream& os, event_kind k) {
  return os << to_string(k);
}

std::optional<event_kind> parse_event_kind(const std::string& name) {
  if (auto t = parse_transition_kind(name))
    return event_kind{*t};
  if (auto n = parse_note_kind(name))
    return event_kind{*n};
  return std::nullopt;
}

bool is_event_kind(const std::string& name) {
  return parse_event_kind(name).has_value();
}

std::vector<event_kind> all_event_kinds() {
  std::vector<event_kind> out;
  for (auto t : all_transition_kinds())
    out.emplace_back(t);
  for (auto n : all_note_kinds())
    out.emplace_back(n);
  return out;
}

} // namespace taskrt

#include "taskrt/persistence/transition_store_interface.hpp"

namespace taskrt {

nlohmann::json submit_detail(const transition_store_interface::submit_item& it) {
  const auto& s = it.spec;
  nlohmann::json d = nlohmann::json::object();
  if (!s.origin.empty())
    d["origin"] = s.origin;
  if (s.parent_id != 0)
    d["parent_id"] = s.parent_id;
  if (!s.key.empty())
    d["key"] = s.key;
  if (!it.waiting.empty())
    d["waiting"] = it.waiting;
  if (!s.after.empty()) {
    d["after"] = s.after;
    d["trigger"] = to_string(s.trigger);
  }
  return d;
}

} // namespace taskrt

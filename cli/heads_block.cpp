#include "taskrt/cli/heads_block.hpp"

#include "taskrt/persistence/leader_lock.hpp"

#include <cstdio>

namespace taskrt::cli {

nlohmann::json read_heads(const std::string& dsn) {
  try {
    auto rows = nlohmann::json::array();
    for (const auto& s : leader_lock::sessions(dsn))
      rows.push_back({{"role", s.role},
                      {"address", s.address},
                      {"since", s.since},
                      {"backend_pid", s.backend_pid}});
    return rows;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    return {{"error", msg.substr(0, msg.find('\n'))}};
  }
}

void print_heads(const nlohmann::json& heads) {
  if (heads.is_object()) {
    std::printf("Heads     unknown (%s)\n", heads.value("error", "").c_str());
    return;
  }
  std::string line;
  bool active = false;
  for (const auto& h : heads) {
    active = active || h["role"] == "active";
    line += "  " + h["role"].get<std::string>() + " " + h["address"].get<std::string>()
            + " (since " + h["since"].get<std::string>() + ")";
  }
  if (!active)
    line = "  none active" + line;
  std::printf("Heads   %s\n", line.c_str());
}

} // namespace taskrt::cli

#pragma once
/// A small JSON → YAML emitter for `-o yaml` (block style, strings quoted
/// whenever a plain scalar could be misread).

#include <nlohmann/json.hpp>

#include <string>

namespace taskrt::cli {

/// `j` as a YAML document (ends with a newline).
std::string to_yaml(const nlohmann::json& j);

} // namespace taskrt::cli

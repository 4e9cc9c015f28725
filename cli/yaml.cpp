#include "taskrt/cli/yaml.hpp"

#include <cctype>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

/// True when `s` can be written as a plain YAML scalar and reads back as
/// the same string (not as a number, bool, null, or with special syntax).
bool plain_ok(const std::string& s) {
  if (s.empty())
    return false;
  static const char* reserved[] = {"null", "Null", "NULL", "~", "true", "True", "TRUE",
                                   "false", "False", "FALSE", "yes", "Yes", "YES", "no",
                                   "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
                                   "y", "Y", "n", "N"};
  for (const char* r : reserved)
    if (s == r)
      return false;
  const unsigned char first = static_cast<unsigned char>(s[0]);
  if (!std::isalpha(first) && first != '_' && first != '/')
    return false; // digits, signs, dots, indicators: quote
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (!(std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '/' || c == '@'
          || c == '(' || c == ')' || c == '+'))
      return false;
  }
  return true;
}

std::string scalar(const json& j) {
  if (j.is_null())
    return "null";
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    // A JSON string literal is a valid YAML double-quoted scalar.
    return plain_ok(s) ? s : j.dump();
  }
  return j.dump(); // numbers, booleans
}

std::string key(const std::string& k) {
  return plain_ok(k) ? k : json(k).dump();
}

bool is_leaf(const json& j) {
  return !j.is_structured() || j.empty();
}

std::string leaf(const json& j) {
  if (j.is_array())
    return "[]";
  if (j.is_object())
    return "{}";
  return scalar(j);
}

void emit(const json& j, size_t indent, std::string& out);

/// Writes the members of object `j`, the first one without indentation when
/// `inline_first` (it follows "- " of a sequence item).
void emit_object(const json& j, size_t indent, bool inline_first, std::string& out) {
  bool first = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!(first && inline_first))
      out += std::string(indent, ' ');
    first = false;
    out += key(it.key()) + ":";
    if (is_leaf(it.value())) {
      out += " " + leaf(it.value()) + "\n";
    } else {
      out += "\n";
      emit(it.value(), indent + 2, out);
    }
  }
}

void emit(const json& j, size_t indent, std::string& out) {
  if (is_leaf(j)) {
    out += std::string(indent, ' ') + leaf(j) + "\n";
  } else if (j.is_object()) {
    emit_object(j, indent, false, out);
  } else {
    for (const auto& item : j) {
      out += std::string(indent, ' ') + "-";
      if (is_leaf(item)) {
        out += " " + leaf(item) + "\n";
      } else if (item.is_object()) {
        out += " ";
        emit_object(item, indent + 2, true, out);
      } else {
        out += "\n";
        emit(item, indent + 2, out);
      }
    }
  }
}

} // namespace

std::string to_yaml(const json& j) {
  std::string out;
  emit(j, 0, out);
  return out;
}

} // namespace taskrt::cli

#include "taskrt/runtime/limit_keys.hpp"

#include "taskrt/runtime/limits.hpp"

#include <algorithm>

namespace taskrt {

namespace {

/// `tmpl` with every {args.PATH} replaced, or an error.
std::variant<std::string, std::string> fill(const std::string& tmpl, const nlohmann::json& args) {
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    const auto open = tmpl.find('{', i);
    if (open == std::string::npos) {
      out += tmpl.substr(i);
      break;
    }
    out += tmpl.substr(i, open - i);
    const auto close = tmpl.find('}', open);
    if (close == std::string::npos)
      return std::variant<std::string, std::string>{std::in_place_index<1>,
        "limit key '" + tmpl + "': a '{' without '}'"};
    const auto path = tmpl.substr(open + 1, close - open - 1);
    if (path.rfind("args.", 0) != 0 || path.size() == 5)
      return std::variant<std::string, std::string>{std::in_place_index<1>,
        "limit key '" + tmpl + "': only {args.FIELD} may be filled in, not {" + path + "}"};
    const nlohmann::json* v = &args;
    size_t p = 5;
    while (p <= path.size()) {
      const auto dot = std::min(path.find('.', p), path.size());
      const auto field = path.substr(p, dot - p);
      if (!v->is_object() || field.empty() || !v->contains(field))
        return std::variant<std::string, std::string>{std::in_place_index<1>,
          "limit key '" + tmpl + "': args has no '" + path.substr(5) + "'"};
      v = &(*v)[field];
      p = dot + 1;
    }
    if (v->is_string())
      out += v->get<std::string>();
    else if (v->is_number_integer())
      out += v->dump();
    else
      return std::variant<std::string, std::string>{std::in_place_index<1>,
        "limit key '" + tmpl + "': args." + path.substr(5) + " is not a string or an integer"};
    i = close + 1;
  }
  return std::variant<std::string, std::string>{std::in_place_index<0>, out};
}

} // namespace

std::variant<std::vector<std::string>, std::string>
resolve_limit_keys(const std::vector<std::string>& given,
                   const std::vector<std::string>& defaults, const nlohmann::json& args) {
  std::vector<std::string> keys;
  for (const auto* list : {&given, &defaults})
    for (const auto& t : *list) {
      auto f = fill(t, args);
      if (f.index() == 1)
        return std::get<1>(f);
      auto k = std::get<0>(std::move(f));
      if (auto e = check_name(k, "limit key", true))
        return *e;
      if (std::find(keys.begin(), keys.end(), k) == keys.end())
        keys.push_back(std::move(k));
    }
  if (keys.size() > max_limit_keys)
    return "a task carries at most " + std::to_string(max_limit_keys) + " limit keys, not "
           + std::to_string(keys.size());
  return keys;
}

std::string limit_keys_text(const std::vector<std::string>& keys) {
  return keys.empty() ? std::string{} : nlohmann::json(keys).dump();
}

std::vector<std::string> limit_keys_of(const std::string& text) {
  if (text.empty())
    return {};
  auto j = nlohmann::json::parse(text, nullptr, false);
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& k : j)
      if (k.is_string())
        out.push_back(k.get<std::string>());
  return out;
}

} // namespace taskrt

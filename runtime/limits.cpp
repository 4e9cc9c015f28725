#include "taskrt/runtime/limits.hpp"

#include <cmath>
#include <cstdio>

namespace taskrt {

namespace {

using json = nlohmann::json;

limits current; // set once at start, before actors run; read-only after

std::string str(std::string_view s) {
  return std::string{s};
}

std::string too_big(std::string_view what, size_t size, const limits& l) {
  return str(what) + ": " + std::to_string(size) + " bytes, more than the limit of "
         + std::to_string(l.max_json_bytes) + " (--max-json-bytes)";
}

std::string too_deep(std::string_view what, const limits& l) {
  return str(what) + ": nested deeper than " + std::to_string(l.max_json_depth)
         + " levels (--max-json-depth)";
}

std::string has_nul(std::string_view what) {
  return str(what) + ": contains \\u0000 (a NUL character), which Postgres cannot store "
                     "(encode binary data, e.g. as base64)";
}

/// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid.
size_t utf8_seq(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80)
    return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size())
    return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  const bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800)
                        || (n == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

/// Offset of the first invalid UTF-8 byte, or npos.
size_t first_bad_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto n = utf8_seq(s, i);
    if (n == 0)
      return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string bad_utf8(std::string_view what, size_t at) {
  return str(what) + ": invalid UTF-8 at byte " + std::to_string(at);
}

/// Nesting depth of a JSON text, counting brackets outside strings; stops
/// counting past `cap` (the text is refused then).
size_t depth_of(std::string_view text, size_t cap) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > cap)
        return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

/// Walks a parsed value: NUL in strings or keys, non-finite numbers, invalid
/// UTF-8 (values built in C++ may hold any bytes), depth.
std::optional<std::string> walk(const json& v, std::string_view what, size_t depth,
                                const limits& l) {
  switch (v.type()) {
    case json::value_t::object:
    case json::value_t::array: {
      if (depth + 1 > l.max_json_depth)
        return too_deep(what, l);
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (v.is_object()) {
          const auto& k = it.key();
          if (auto bad = first_bad_utf8(k); bad != std::string_view::npos)
            return str(what) + ": a key with invalid UTF-8";
          if (k.find('\0') != std::string::npos)
            return has_nul(what);
        }
        if (auto e = walk(*it, what, depth + 1, l))
          return e;
      }
      return std::nullopt;
    }
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (first_bad_utf8(s) != std::string_view::npos)
        return str(what) + ": a string with invalid UTF-8";
      if (s.find('\0') != std::string::npos)
        return has_nul(what);
      return std::nullopt;
    }
    case json::value_t::number_float:
      if (!std::isfinite(v.get<double>()))
        return str(what) + ": a number that is not finite (JSON has no NaN or Infinity)";
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

} // namespace

const limits& process_limits() {
  return current;
}

std::optional<std::string> check_limits(const limits& l) {
  auto in = [](size_t v, size_t cap, const char* flag) -> std::optional<std::string> {
    if (v < 1 || v > cap)
      return std::string{flag} + " must be from 1 to " + std::to_string(cap) + ", got "
             + std::to_string(v);
    return std::nullopt;
  };
  if (auto e = in(l.max_json_bytes, max_json_bytes_cap, "--max-json-bytes"))
    return e;
  if (auto e = in(l.max_json_depth, max_json_depth_cap, "--max-json-depth"))
    return e;
  return in(l.max_name_bytes, max_name_bytes_cap, "--max-name-bytes");
}

std::optional<std::string> set_process_limits(const limits& l) {
  if (auto e = check_limits(l))
    return e;
  current = l;
  return std::nullopt;
}

bool valid_utf8(std::string_view text) {
  return first_bad_utf8(text) == std::string_view::npos;
}

std::optional<std::string> check_json_text(std::string_view text, std::string_view what,
                                           const limits& l) {
  if (text.size() > l.max_json_bytes)
    return too_big(what, text.size(), l);
  if (auto bad = first_bad_utf8(text); bad != std::string_view::npos)
    return bad_utf8(what, bad);
  if (depth_of(text, l.max_json_depth) > l.max_json_depth)
    return too_deep(what, l);
  json v;
  try {
    v = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, ...": keep the tail.
    std::string detail = e.what();
    if (auto pos = detail.find("] "); pos != std::string::npos)
      detail.erase(0, pos + 2);
    return str(what) + ": not valid JSON (" + detail + ")";
  }
  return walk(v, what, 0, l);
}

std::optional<std::string> check_json_value(const json& value, std::string_view what,
                                            const limits& l) {
  if (auto e = walk(value, what, 0, l))
    return e;
  const auto size = value.dump().size();
  if (size > l.max_json_bytes)
    return too_big(what, size, l);
  return std::nullopt;
}

std::optional<std::string> check_name(std::string_view value, std::string_view what,
                                      bool required, const limits& l) {
  if (value.empty())
    return required ? std::optional<std::string>{str(what) + ": empty"} : std::nullopt;
  if (value.size() > l.max_name_bytes)
    return str(what) + ": " + std::to_string(value.size()) + " bytes, longer than the limit of "
           + std::to_string(l.max_name_bytes) + " (--max-name-bytes)";
  if (auto bad = first_bad_utf8(value); bad != std::string_view::npos)
    return bad_utf8(what, bad);
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", c);
      return str(what) + ": control character " + hex + " at byte " + std::to_string(i);
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_seconds(double value, std::string_view what) {
  if (std::isnan(value))
    return str(what) + ": not a number";
  if (std::isinf(value))
    return str(what) + ": must be finite, got " + (value > 0 ? "infinity" : "-infinity");
  if (value < 0)
    return str(what) + ": must not be negative";
  if (value > max_seconds)
    return str(what) + ": more than 100 years (" + std::to_string(static_cast<int64_t>(max_seconds))
           + " s)";
  return std::nullopt;
}

std::optional<std::string> check_task_spec(const task_spec& spec, const limits& l) {
  if (auto e = check_name(spec.name, "task name", true, l))
    return e;
  if (auto e = check_json_text(spec.args.empty() ? std::string_view{"{}"} : spec.args, "args", l))
    return e;
  if (auto e = check_name(spec.queue, "queue", false, l))
    return e;
  if (auto e = check_name(spec.lock, "lock", false, l))
    return e;
  if (auto e = check_name(spec.key, "key", false, l))
    return e;
  if (!spec.policy.empty())
    if (auto e = check_json_text(spec.policy, "policy", l))
      return e;
  if (auto e = check_seconds(spec.time_limit_s, "time limit"))
    return e;
  if (spec.run_at_us < 0)
    return std::string{"run_at: before 1970"};
  if (spec.origin.size() > 4096 || !valid_utf8(spec.origin)
      || spec.origin.find('\0') != std::string::npos)
    return std::string{"origin: longer than 4096 bytes, invalid UTF-8 or with a NUL"};
  return std::nullopt;
}

} // namespace taskrt

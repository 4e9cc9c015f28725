#include "taskrt/persistence/dsn.hpp"

#include <algorithm>
#include <cctype>

namespace taskrt {

namespace {

bool is_uri(const std::string& dsn) {
  return dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0;
}

bool is_secret_key(std::string key) {
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return key == "password" || key == "sslpassword";
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()
        && std::isxdigit(static_cast<unsigned char>(s[i + 1]))
        && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

/// One parameter of a DSN: its key and where its value sits in the text.
struct param {
  std::string key;
  size_t value_begin = 0;
  size_t value_end = 0;
  std::string value; ///< unquoted / percent-decoded
};

/// The parameters of a keyword/value DSN (values bare or single-quoted with
/// backslash escapes; blanks around '=').
std::vector<param> kv_params(const std::string& s) {
  std::vector<param> out;
  size_t i = 0;
  auto blank = [&](size_t k) { return k < s.size() && std::isspace(static_cast<unsigned char>(s[k])); };
  while (i < s.size()) {
    while (blank(i))
      ++i;
    if (i >= s.size())
      break;
    param p;
    const auto kb = i;
    while (i < s.size() && s[i] != '=' && !blank(i))
      ++i;
    p.key = s.substr(kb, i - kb);
    while (blank(i))
      ++i;
    if (i >= s.size() || s[i] != '=')
      continue; // not key=value: skip the word
    ++i;
    while (blank(i))
      ++i;
    p.value_begin = i;
    if (i < s.size() && s[i] == '\'') {
      for (++i; i < s.size() && s[i] != '\''; ++i) {
        if (s[i] == '\\' && i + 1 < s.size())
          ++i;
        p.value.push_back(s[i]);
      }
      if (i < s.size())
        ++i; // closing quote
    } else {
      for (; i < s.size() && !blank(i); ++i) {
        if (s[i] == '\\' && i + 1 < s.size())
          ++i;
        p.value.push_back(s[i]);
      }
    }
    p.value_end = i;
    out.push_back(std::move(p));
  }
  return out;
}

/// The parameters of a URI DSN: user and password from the userinfo, host,
/// port and dbname where present, and every query parameter.
std::vector<param> uri_params(const std::string& s) {
  std::vector<param> out;
  const auto start = s.find("://") + 3;
  const auto query = s.find('?', start);
  const auto auth_end = std::min(s.find('/', start), query);
  const auto at = s.rfind('@', auth_end == std::string::npos ? s.size() : auth_end);
  size_t host_begin = start;
  if (at != std::string::npos && at >= start) {
    const auto colon = s.find(':', start);
    const auto user_end = colon != std::string::npos && colon < at ? colon : at;
    if (user_end > start)
      out.push_back({"user", start, user_end, percent_decode(s.substr(start, user_end - start))});
    if (colon != std::string::npos && colon < at)
      out.push_back({"password", colon + 1, at, percent_decode(s.substr(colon + 1, at - colon - 1))});
    host_begin = at + 1;
  }
  const auto host_end = auth_end == std::string::npos ? s.size() : auth_end;
  if (host_end > host_begin) {
    out.push_back({"host", host_begin, host_end, s.substr(host_begin, host_end - host_begin)});
    const auto hs = s.substr(host_begin, host_end - host_begin);
    const auto pc = hs.rfind(':');
    if (pc != std::string::npos && hs.find(']', pc) == std::string::npos)
      out.push_back({"port", host_begin + pc + 1, host_end, hs.substr(pc + 1)});
  }
  if (auth_end != std::string::npos && s[auth_end] == '/') {
    const auto db_end = query == std::string::npos ? s.size() : query;
    if (db_end > auth_end + 1)
      out.push_back({"dbname", auth_end + 1, db_end, s.substr(auth_end + 1, db_end - auth_end - 1)});
  }
  if (query == std::string::npos)
    return out;
  size_t i = query + 1;
  while (i <= s.size()) {
    auto amp = s.find('&', i);
    if (amp == std::string::npos)
      amp = s.size();
    const auto eq = s.find('=', i);
    if (eq != std::string::npos && eq < amp)
      out.push_back({percent_decode(s.substr(i, eq - i)), eq + 1, amp,
                     percent_decode(s.substr(eq + 1, amp - eq - 1))});
    i = amp + 1;
  }
  return out;
}

std::vector<param> params_of(const std::string& dsn) {
  return is_uri(dsn) ? uri_params(dsn) : kv_params(dsn);
}

} // namespace

std::string redact_dsn(const std::string& dsn) {
  auto ps = params_of(dsn);
  // Replace from the back so that earlier offsets stay valid.
  std::sort(ps.begin(), ps.end(),
            [](const param& a, const param& b) { return a.value_begin > b.value_begin; });
  std::string out = dsn;
  for (const auto& p : ps)
    if (is_secret_key(p.key) && p.value_end > p.value_begin)
      out.replace(p.value_begin, p.value_end - p.value_begin, "***");
  return out;
}

std::vector<std::string> dsn_secrets(const std::string& dsn) {
  std::vector<std::string> out;
  for (const auto& p : params_of(dsn)) {
    if (!is_secret_key(p.key))
      continue;
    for (auto v : {dsn.substr(p.value_begin, p.value_end - p.value_begin), p.value})
      if (!v.empty() && std::find(out.begin(), out.end(), v) == out.end())
        out.push_back(v);
  }
  // Longest first: a secret that contains another is replaced whole.
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

std::string redact_secrets(std::string text, const std::string& dsn) {
  for (const auto& s : dsn_secrets(dsn))
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  return text;
}

std::vector<std::string> dsn_keys(const std::string& dsn) {
  std::vector<std::string> out;
  for (const auto& p : params_of(dsn))
    out.push_back(p.key);
  return out;
}

std::string dsn_with_defaults(const std::string& dsn,
                              const std::vector<std::pair<std::string, std::string>>& kv) {
  const auto have = dsn_keys(dsn);
  std::string out = dsn;
  const bool uri = is_uri(dsn);
  bool has_query = uri && dsn.find('?') != std::string::npos;
  for (const auto& [k, v] : kv) {
    if (std::find(have.begin(), have.end(), k) != have.end())
      continue;
    if (uri) {
      out += (has_query ? "&" : "?") + k + "=" + v;
      has_query = true;
    } else {
      out += (out.empty() ? "" : " ") + k + "=" + v;
    }
  }
  return out;
}

} // namespace taskrt

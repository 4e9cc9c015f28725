#include "persistence/detail/redact.hpp"

#include <cctype>

namespace taskrt::detail {

namespace {

bool is_uri(const std::string& dsn) {
  return dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1]))
        && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

} // namespace

std::string dsn_password(const std::string& dsn) {
  if (is_uri(dsn)) {
    const auto start = dsn.find("://") + 3;
    const auto at = dsn.find('@', start);
    const auto end_authority = dsn.find_first_of("/?", start);
    if (at == std::string::npos || (end_authority != std::string::npos && at > end_authority))
      return {};
    const auto colon = dsn.find(':', start);
    if (colon == std::string::npos || colon > at)
      return {};
    return dsn.substr(colon + 1, at - colon - 1);
  }
  // key=value form; values may be single-quoted.
  const auto pos = dsn.find("password");
  if (pos == std::string::npos)
    return {};
  auto i = dsn.find('=', pos);
  if (i == std::string::npos)
    return {};
  ++i;
  while (i < dsn.size() && dsn[i] == ' ')
    ++i;
  std::string pw;
  if (i < dsn.size() && dsn[i] == '\'') {
    for (++i; i < dsn.size() && dsn[i] != '\''; ++i) {
      if (dsn[i] == '\\' && i + 1 < dsn.size())
        ++i;
      pw.push_back(dsn[i]);
    }
  } else {
    for (; i < dsn.size() && dsn[i] != ' '; ++i)
      pw.push_back(dsn[i]);
  }
  return pw;
}

std::string redact(std::string text, const std::string& secret) {
  if (secret.empty())
    return text;
  for (const auto& s : {secret, percent_decode(secret)}) {
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  }
  return text;
}

std::string redacted_dsn(const std::string& dsn) {
  return redact(dsn, dsn_password(dsn));
}

} // namespace taskrt::detail

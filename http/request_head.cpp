#include "taskrt/http/request_head.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace taskrt::http {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view{"!#$%&'*+-.^_`|~"}.find(c)
                                                          != std::string_view::npos;
}

} // namespace

head_status parse_request_head(std::string_view buf, size_t max_bytes, request_head& out,
                               size_t& consumed) {
  const auto end = buf.substr(0, std::min(buf.size(), max_bytes)).find("\r\n\r\n");
  if (end == std::string_view::npos)
    return buf.size() >= max_bytes ? head_status::too_large : head_status::incomplete;
  consumed = end + 4;
  std::string_view head = buf.substr(0, end + 2); // every line ends with CRLF
  out = request_head{};
  // Request line: METHOD SP TARGET SP HTTP/1.x
  auto eol = head.find("\r\n");
  const auto line = head.substr(0, eol);
  head.remove_prefix(eol + 2);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.find(' ', sp1 == std::string_view::npos ? sp1 : sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0
      || sp2 == sp1 + 1)
    return head_status::bad;
  out.method = std::string{line.substr(0, sp1)};
  out.target = std::string{line.substr(sp1 + 1, sp2 - sp1 - 1)};
  const auto version = line.substr(sp2 + 1);
  if (!std::all_of(out.method.begin(), out.method.end(), token_char) || out.target[0] != '/'
      || out.target.find(' ') != std::string::npos)
    return head_status::bad;
  if (version == "HTTP/1.0")
    out.keep_alive = false;
  else if (version != "HTTP/1.1")
    return head_status::bad;
  out.path = out.target.substr(0, out.target.find('?'));
  bool have_length = false;
  while (!head.empty()) {
    eol = head.find("\r\n");
    const auto field = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    const auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0
        || !std::all_of(field.begin(), field.begin() + static_cast<std::ptrdiff_t>(colon),
                        token_char))
      return head_status::bad;
    const auto name = lower(field.substr(0, colon));
    const auto value = trim(field.substr(colon + 1));
    if (auto [it, fresh] = out.headers.emplace(name, std::string{value}); !fresh)
      it->second += ", " + std::string{value};
    if (name == "content-length") {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || value.empty()
          || (have_length && n != out.content_length))
        return head_status::bad;
      out.content_length = n;
      have_length = true;
    } else if (name == "transfer-encoding") {
      out.chunked = true;
    } else if (name == "connection") {
      const auto v = lower(value);
      if (v.find("close") != std::string::npos)
        out.keep_alive = false;
      else if (v.find("keep-alive") != std::string::npos)
        out.keep_alive = true;
    }
  }
  return head_status::complete;
}

} // namespace taskrt::http

#include "cli/cli_env.hpp"

#include "cluster/head_node.hpp"

#include <cstdio>
#include <cstdlib>

#include <pwd.h>
#include <unistd.h>

namespace taskrt::cli {

int fail(int code, const std::string& message) {
  // Errors are one line: of a multi-line database or head message, keep the
  // first line (the rest is a SQL excerpt or a hint).
  std::string line;
  for (char c : message) {
    if (c == '\n' || c == '\r') {
      if (line.find_first_not_of(' ') != std::string::npos)
        break;
      continue;
    }
    line += c == '\t' ? ' ' : c;
  }
  while (!line.empty() && line.back() == ' ')
    line.pop_back();
  std::fprintf(stderr, "taskrt: %s\n", line.c_str());
  return code;
}

std::string resolve_dsn(const std::string& flag, const std::string& data_dir) {
  if (!flag.empty())
    return flag;
  if (const char* e = std::getenv("TASKRT_DATABASE_URL"); e && *e)
    return e;
  auto sf = read_state_file(data_dir.empty() ? default_data_dir() : data_dir);
  return sf ? sf->dsn : std::string{};
}

std::string resolve_address(const std::string& flag, const std::string& data_dir) {
  if (!flag.empty())
    return flag;
  if (const char* e = std::getenv("TASKRT_ADDRESS"); e && *e)
    return e;
  auto sf = read_state_file(data_dir.empty() ? default_data_dir() : data_dir);
  return sf ? sf->host + ":" + std::to_string(sf->port) : std::string{};
}

bool split_address(const std::string& addr, std::string& host, uint16_t& port) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  host = addr.substr(0, colon);
  try {
    auto p = std::stoul(addr.substr(colon + 1));
    if (p == 0 || p > 65535)
      return false;
    port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return true;
}

std::string origin() {
  std::string user = "unknown";
  if (auto* pw = ::getpwuid(::getuid()))
    user = pw->pw_name;
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return "cli " + user + "@" + host;
}

} // namespace taskrt::cli

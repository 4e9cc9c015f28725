#include "taskrt/cli/cli_env.hpp"

#include "taskrt/cluster/head_node.hpp"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

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
  if (!process_env().database_url.empty())
    return process_env().database_url;
  const auto dir = data_dir.empty() ? default_data_dir() : data_dir;
  if (auto sf = read_state_file(dir); sf && !sf->dsn.empty())
    return sf->dsn;
  // The embedded Postgres keeps running after its head stops (`taskrt db
  // stop` stops it); scripts/pg keeps its DSN next to it.
  std::ifstream f{dir + "/postgres/dsn"};
  std::string dsn;
  std::getline(f, dsn);
  return dsn;
}

std::string resolve_address(const std::string& flag, const std::string& data_dir,
                            bool* defaulted) {
  if (defaulted)
    *defaulted = false;
  if (!flag.empty())
    return flag;
  if (!process_env().address.empty())
    return process_env().address;
  if (auto sf = read_state_file(data_dir.empty() ? default_data_dir() : data_dir))
    return sf->host + ":" + std::to_string(sf->port);
  if (defaulted)
    *defaulted = true;
  return "127.0.0.1:" + std::to_string(default_cluster_port);
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

void add_tls_options(CLI::App* cmd, tls_flags& f) {
  cmd->add_option("--tls-dir", f.dir,
                  "Mutual TLS with the certificates in DIR (`taskrt certs generate`; "
                  "default: $TASKRT_TLS_DIR, else [openssl] tls-dir of --config)");
  cmd->add_option("--tls-name", f.name,
                  "Identity in the TLS dir (NAME.pem/NAME.key; default: by role)");
}

tls_options resolve_tls_options(const tls_flags& f, const cli_env& env) {
  const tls_options from_env{process_env().tls_dir, process_env().tls_name};
  auto first = [](const std::string& a, const std::string& b, const std::string& c) {
    return !a.empty() ? a : !b.empty() ? b : c;
  };
  return {first(f.dir, from_env.dir, env.config_tls.dir),
          first(f.name, from_env.name, env.config_tls.name)};
}

namespace {

/// Syntax of an INI/TOML config file as taskrt uses it: blank lines,
/// comments (# or ;), [section] and key = value. CLI11 skips other lines
/// silently, so a typo would go unnoticed; this names the line instead.
void check_config_syntax(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    throw std::runtime_error(std::string{"cannot read the file: "} + std::strerror(errno));
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#' || line[first] == ';')
      continue;
    auto last = line.find_last_not_of(" \t\r");
    const auto text = line.substr(first, last - first + 1);
    auto bad = [&](const std::string& why) {
      throw std::runtime_error("line " + std::to_string(n) + ": " + why + ": "
                               + text.substr(0, 80));
    };
    for (unsigned char c : text)
      if (c < 0x20 && c != '\t')
        bad("a control character");
    if (text.front() == '[') {
      if (text.back() != ']' || text.size() < 3)
        bad("expected [section]");
      continue;
    }
    auto eq = text.find('=');
    if (eq == std::string::npos)
      bad("expected key = value");
    auto key = text.substr(0, eq);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t'))
      key.pop_back();
    auto value = text.substr(eq + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (key.empty() || key.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
                         != std::string::npos)
      bad("expected key = value with a key of letters, digits, '-', '_'");
    if (value.empty() || value.front() == '=')
      bad("expected one value after '='");
  }
}

} // namespace

std::string unknown_config_keys(const std::string& path, const CLI::App& cmd) {
  CLI::ConfigTOML reader;
  std::string unknown;
  for (const auto& item : reader.from_file(path)) {
    if (item.parents.size() != 1 || item.parents.front() != cmd.get_name())
      continue;
    if (item.name == "++" || item.name == "--")
      continue;
    if (!cmd.get_option_no_throw("--" + item.name) && !cmd.get_option_no_throw(item.name))
      unknown += (unknown.empty() ? "" : ", ") + item.name;
  }
  return unknown;
}

tls_options read_config_tls(const std::string& path) {
  check_config_syntax(path);
  tls_options out;
  CLI::ConfigTOML reader;
  for (const auto& item : reader.from_file(path)) {
    if (item.parents.size() != 1 || item.parents.front() != "openssl")
      continue;
    if (item.name == "++" || item.name == "--")
      continue;
    const auto value = item.inputs.empty() ? std::string{} : item.inputs.front();
    if (item.name == "tls-dir" || item.name == "tls_dir")
      out.dir = value;
    else if (item.name == "tls-name" || item.name == "tls_name")
      out.name = value;
    else
      throw std::runtime_error(path + ": [openssl] " + item.name
                               + " is not a taskrt setting (use tls-dir and tls-name)");
  }
  // A relative tls-dir is relative to the config file, not to the caller.
  if (!out.dir.empty() && out.dir.front() != '/') {
    auto slash = path.rfind('/');
    if (slash != std::string::npos)
      out.dir = path.substr(0, slash + 1) + out.dir;
  }
  return out;
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

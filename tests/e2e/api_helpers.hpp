#pragma once
/// Helpers of the HTTP API tests: a head with --http-port, its tokens, and
/// requests with cpp-httplib (header-only, for tests/e2e/api_*_e2etest.cpp).

#include "tests/e2e/head_process.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <string>

namespace taskrt::test {

/// A head serving HTTP on a free port, with an operator and a viewer token.
struct api_head {
  head_process head;
  int http_port = 0;
  std::string op, viewer;

  explicit api_head(const std::string& dsn, std::vector<std::string> extra = {})
    : head(dsn, with_http(std::move(extra))) {
    auto sf = nlohmann::json::parse(slurp(head.data_dir() + "/head.json"));
    const auto url = sf.value("http_url", "");
    REQUIRE(!url.empty());
    http_port = std::stoi(url.substr(url.rfind(':') + 1));
    op = add_token("op", "operator");
    viewer = add_token("watcher", "viewer");
  }

  static std::vector<std::string> with_http(std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--http-port", "0"});
    return extra;
  }

  /// `taskrt tokens add NAME --role ROLE`: the token it printed.
  std::string add_token(const std::string& name, const std::string& role) {
    auto r = run_cli({"tokens", "add", name, "--role", role, "--db", head.dsn()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto t = r.out.substr(0, r.out.find('\n'));
    REQUIRE(t.rfind("trt_", 0) == 0);
    return t;
  }

  httplib::Client client() const {
    httplib::Client c{"127.0.0.1", http_port};
    c.set_read_timeout(30, 0);
    c.set_connection_timeout(5, 0);
    return c;
  }

  /// "http://127.0.0.1:PORT": the Origin of the server's own pages.
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(http_port); }
};

/// Headers with a bearer token (none when `token` is empty).
inline httplib::Headers bearer(const std::string& token, httplib::Headers more = {}) {
  if (!token.empty())
    more.emplace("Authorization", "Bearer " + token);
  return more;
}

/// The JSON body of `r` (null when it is none).
inline nlohmann::json body_of(const httplib::Result& r) {
  if (!r)
    return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

/// True when `r` is an error of the API's shape: {"error", "detail"}.
inline bool api_error(const httplib::Result& r, int status, const std::string& kind = {}) {
  if (!r || r->status != status)
    return false;
  auto j = body_of(r);
  return j.is_object() && j.contains("error") && j["detail"].is_string()
         && (kind.empty() || j["error"] == kind);
}

} // namespace taskrt::test

// The dashboard's routes on a real health_server: every page path (a deep
// link reloaded) gets the page, every file the page and its scripts load is
// built in and served with its type, other paths and methods are refused,
// and a gate that refuses gets the sign-in page.

#include "taskrt/http/dashboard_routes.hpp"
#include "taskrt/http/health_server.hpp"
#include "taskrt/metrics/registry.hpp"
#include "taskrt/web/web_assets.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <regex>
#include <set>

using namespace taskrt;

namespace {

http::probes always_ok() {
  return {[] { return http::probe_result{true, {}}; }, [] { return http::probe_result{true, {}}; }};
}

/// The local files `text` loads: src/href="/assets/..." and JS imports
/// "./x.js", as paths under /assets.
std::set<std::string> references(const std::string& text, const std::string& dir) {
  std::set<std::string> out;
  static const std::regex asset{R"re((?:src|href)="(/assets/[^"]+)")re"};
  static const std::regex import{R"re(from '\./([^']+)')re"};
  for (std::sregex_iterator i{text.begin(), text.end(), asset}, end; i != end; ++i)
    out.insert((*i)[1]);
  for (std::sregex_iterator i{text.begin(), text.end(), import}, end; i != end; ++i)
    out.insert(dir + "/" + (*i)[1].str());
  return out;
}

} // namespace

TEST_CASE("the dashboard's pages answer on every deep link, its files with their types",
          "[http][dashboard]") {
  http::health_server server{always_ok()};
  http::add_dashboard_routes(server);
  REQUIRE(server.start("127.0.0.1", 0));
  httplib::Client c{"127.0.0.1", server.port()};

  const auto index = web::find_file("/index.html");
  REQUIRE(index != nullptr);
  const std::string page{reinterpret_cast<const char*>(index->data), index->size};
  for (const char* path : {"/", "/tasks", "/tasks/", "/tasks/42", "/tasks/42/", "/nodes", "/queues",
                           "/tasks?state=FAILED&name=x"}) {
    INFO(path);
    auto r = c.Get(path);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("Content-Type") == "text/html; charset=utf-8");
    CHECK(r->body == page);
    CHECK(r->get_header_value("Content-Security-Policy").find("frame-ancestors 'none'")
          != std::string::npos);
    CHECK(r->get_header_value("X-Content-Type-Options") == "nosniff");
  }

  // Everything the page loads, and everything its scripts import, is there.
  std::set<std::string> todo = references(page, "/assets"), seen;
  REQUIRE(todo.count("/assets/js/app.js") == 1);
  REQUIRE(todo.count("/assets/app.css") == 1);
  while (!todo.empty()) {
    const auto path = *todo.begin();
    todo.erase(todo.begin());
    if (!seen.insert(path).second)
      continue;
    INFO(path);
    auto r = c.Get(path);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK_FALSE(r->body.empty());
    if (path.size() > 3 && path.compare(path.size() - 3, 3, ".js") == 0) {
      CHECK(r->get_header_value("Content-Type") == "text/javascript; charset=utf-8");
      for (const auto& ref : references(r->body, path.substr(0, path.rfind('/'))))
        todo.insert(ref);
    }
  }
  CHECK(seen.size() >= 10); // the shell, the styles and each view's module
  auto css = c.Get("/assets/app.css");
  REQUIRE(css);
  CHECK(css->get_header_value("Content-Type") == "text/css; charset=utf-8");

  for (const char* path : {"/tasks/abc", "/tasks/1/2", "/tasks/12345678901234567890", "/assets/nope.js",
                           "/assets/index.html", "/assets/", "/nodes/x", "/index.html"}) {
    INFO(path);
    auto r = c.Get(path);
    REQUIRE(r);
    CHECK(r->status == 404);
  }
  auto post = c.Post("/tasks", "{}", "application/json");
  REQUIRE(post);
  CHECK(post->status == 405);

  // A task page is counted under its route, not one label per task id.
  const auto metrics = metrics::registry::global().render();
  CHECK(metrics.find("path=\"/tasks/*\"") != std::string::npos);
  CHECK(metrics.find("path=\"/tasks/42\"") == std::string::npos);
  server.stop();
}

TEST_CASE("a browser the gate refuses gets 401 and the sign-in page", "[http][dashboard]") {
  http::health_server server{always_ok()};
  http::add_dashboard_routes(server, [](const http::request& req) {
    return req.target.find("signed-in") != std::string::npos;
  });
  REQUIRE(server.start("127.0.0.1", 0));
  httplib::Client c{"127.0.0.1", server.port()};
  for (const char* path : {"/", "/tasks/7", "/assets/js/app.js"}) {
    INFO(path);
    auto r = c.Get(path);
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(r->body.find("taskrt dashboard") != std::string::npos);
    auto ok = c.Get(std::string{path} + "?signed-in");
    REQUIRE(ok);
    CHECK(ok->status == 200);
  }
  auto missing = c.Get("/assets/nope.js");
  REQUIRE(missing);
  CHECK(missing->status == 404); // not a dashboard path: no sign-in page either
  server.stop();
}

#include "taskrt/http/dashboard_routes.hpp"

#include "taskrt/web/web_assets.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace taskrt::http {

namespace {

constexpr std::string_view assets_prefix = "/assets";

/// The paths the page draws (the script's router knows the same ones).
bool is_page(std::string_view path) {
  if (path == "/" || path == "/tasks" || path == "/nodes" || path == "/queues")
    return true;
  constexpr std::string_view task = "/tasks/";
  if (path.substr(0, task.size()) != task)
    return false;
  auto id = path.substr(task.size()); // "" is the list again
  if (!id.empty() && id.back() == '/')
    id.remove_suffix(1);
  const auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  return path == task || (!id.empty() && id.size() <= 19 && std::all_of(id.begin(), id.end(), digit));
}

/// The dashboard loads only its own files and talks only to its own head;
/// no other site may frame it (its buttons cancel and retry tasks).
constexpr const char* page_policy
  = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

response file_answer(const web::embedded_file& f) {
  response r;
  r.content_type = std::string{web::content_type(f.path)};
  r.body.assign(reinterpret_cast<const char*>(f.data), f.size);
  r.headers = {{"Content-Security-Policy", page_policy},
               {"X-Content-Type-Options", "nosniff"},
               {"Referrer-Policy", "no-referrer"},
               // A new taskrt binary brings new files: always ask.
               {"Cache-Control", "no-cache"}};
  return r;
}

/// What a browser that is not signed in gets instead of the dashboard.
constexpr std::string_view sign_in_page = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · taskrt</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:10vh auto;padding:0 1em}
code{background:#eef1f5;padding:.1em .3em;border-radius:4px}</style></head>
<body><h1>taskrt: sign in</h1>
<p>This dashboard needs a session. On a machine that reaches this head, run</p>
<p><code>taskrt dashboard</code></p>
<p>and open the link it prints (it signs this browser in once).</p></body></html>
)";

} // namespace

std::optional<response> dashboard_answer(const request& req, const dashboard_gate& gate) {
  const web::embedded_file* file = nullptr;
  std::string_view path = req.path;
  if (is_page(path))
    file = web::find_file("/index.html");
  else if (path.substr(0, assets_prefix.size()) == assets_prefix && path != "/assets/index.html")
    file = web::find_file(path.substr(assets_prefix.size()));
  if (!file)
    return std::nullopt;
  if (req.method != "GET" && req.method != "HEAD")
    return response{405, "text/plain; charset=utf-8",
                    "method not allowed: " + req.path + " answers GET\n"};
  if (gate && !gate(req)) {
    response r{401, "text/html; charset=utf-8", std::string{sign_in_page}};
    r.headers = {{"Content-Security-Policy",
                  "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"},
                 {"Cache-Control", "no-store"}};
    return r;
  }
  return file_answer(*file);
}

void add_dashboard_routes(health_server& server, dashboard_gate gate) {
  auto handler = [gate = std::move(gate)](const request& req) {
    if (auto r = dashboard_answer(req, gate))
      return std::move(*r);
    return response{404, "text/plain; charset=utf-8", "not found: " + req.path + "\n"};
  };
  for (const char* page : {"/", "/tasks", "/nodes", "/queues"})
    server.add_route(page, handler);
  server.add_prefix_route("/tasks/", handler);
  server.add_prefix_route("/assets/", handler);
}

} // namespace taskrt::http

#include "http/dashboard_routes.hpp"

#include "web/web_assets.hpp"

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
  auto id = path.substr(task.size());
  if (!id.empty() && id.back() == '/')
    id.remove_suffix(1);
  return !id.empty() && id.size() <= 19
         && std::all_of(id.begin(), id.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

response file_answer(const web::embedded_file& f) {
  response r;
  r.content_type = std::string{web::content_type(f.path)};
  r.body.assign(reinterpret_cast<const char*>(f.data), f.size);
  return r;
}

} // namespace

std::optional<response> dashboard_answer(const request& req) {
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
  return file_answer(*file);
}

void add_dashboard_routes(health_server& server) {
  auto handler = [](const request& req) {
    if (auto r = dashboard_answer(req))
      return std::move(*r);
    return response{404, "text/plain; charset=utf-8", "not found: " + req.path + "\n"};
  };
  for (const char* page : {"/", "/tasks", "/nodes", "/queues"})
    server.add_route(page, handler);
  server.add_prefix_route("/tasks/", handler);
  server.add_prefix_route("/assets/", handler);
}

} // namespace taskrt::http

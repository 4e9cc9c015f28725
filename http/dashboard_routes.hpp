#pragma once
/// The web dashboard's pages and files on a head's HTTP port (docs/dashboard.md):
///   GET /, /tasks, /tasks/{id}, /nodes, /queues   the page (web/index.html);
///                                                 its script draws the view
///                                                 of the path, so a deep
///                                                 link works on reload
///   GET /assets/...                               the files of web/ (CSS, JS)
/// The data comes from /api/v1 (the page's script asks it with the session
/// cookie); these routes serve only files built into the binary.

#include "http/health_server.hpp"

#include <optional>

namespace taskrt::http {

/// The dashboard's answer to `req`, or nullopt when its path is none of the
/// dashboard's (the caller answers 404). Other methods than GET and HEAD get
/// 405.
std::optional<response> dashboard_answer(const request& req);

/// Serves the dashboard on `server` (before its start()).
void add_dashboard_routes(health_server& server);

} // namespace taskrt::http

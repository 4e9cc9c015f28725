#pragma once
/// The web dashboard's pages and files on a head's HTTP port (docs/dashboard.md):
///   GET /, /tasks, /tasks/{id}, /nodes, /queues   the page (web/index.html);
///                                                 its script draws the view
///                                                 of the path, so a deep
///                                                 link works on reload
///   GET /assets/...                               the files of web/ (CSS, JS)
/// The data comes from /api/v1 (the page's script asks it with the session
/// cookie); these routes serve only files built into the binary. With a
/// gate, a request it refuses gets 401 and a page that says how to sign in
/// (`taskrt dashboard` prints a login link).

#include "taskrt/http/health_server.hpp"

#include <functional>
#include <optional>

namespace taskrt::http {

/// Whether `req` comes from someone signed in (a session cookie or a token);
/// empty: everyone is.
using dashboard_gate = std::function<bool(const request&)>;

/// The dashboard's answer to `req`, or nullopt when its path is none of the
/// dashboard's (the caller answers 404). Other methods than GET and HEAD get
/// 405; a request `gate` refuses gets 401 with the sign-in page.
std::optional<response> dashboard_answer(const request& req, const dashboard_gate& gate = {});

/// Serves the dashboard on `server` (before its start()).
void add_dashboard_routes(health_server& server, dashboard_gate gate = {});

} // namespace taskrt::http

#include "taskrt/http/api_server.hpp"

#include "taskrt/http/api_state.hpp"
#include "taskrt/persistence/store_result.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cstdlib>

namespace taskrt::http {

namespace {

constexpr const char* session_cookie = "taskrt_session";

/// Journal reads of the API: bounded like the CLI's, so a hung Postgres
/// fails a request instead of holding a route thread.
journal_options api_journal_options() {
  journal_options o;
  o.connect_timeout_s = 3;
  o.call_deadline_ms = 5'000;
  return o;
}

bool is_read(const std::string& method) {
  return method == "GET" || method == "HEAD";
}

/// The value of cookie `name` in a Cookie header, or "".
std::string cookie_value(const std::string& header, const std::string& name) {
  size_t pos = 0;
  while (pos < header.size()) {
    auto end = header.find(';', pos);
    if (end == std::string::npos)
      end = header.size();
    auto part = header.substr(pos, end - pos);
    while (!part.empty() && part.front() == ' ')
      part.erase(0, 1);
    auto eq = part.find('=');
    if (eq != std::string::npos && part.substr(0, eq) == name)
      return part.substr(eq + 1);
    pos = end + 1;
  }
  return {};
}

/// A route of the API: the methods it answers and its handler.
struct route {
  std::vector<std::string> methods;
  std::function<response(api_state&, const api_call&)> handler;
};

/// Matches `path` under /api/v1; sets `id` for /tasks/{id}...
const route* match(const std::string& path, int64_t& id, std::string& pattern) {
  static const std::map<std::string, route> routes{
    {"/api/v1/tasks", {{"GET", "POST"}, {}}},
    {"/api/v1/tasks/cancel", {{"POST"}, bulk_cancel}},
    {"/api/v1/tasks/retry", {{"POST"}, bulk_retry}},
    {"/api/v1/tasks/{id}", {{"GET"}, describe_task}},
    {"/api/v1/tasks/{id}/cancel", {{"POST"}, cancel_task}},
    {"/api/v1/tasks/{id}/retry", {{"POST"}, retry_task}},
    {"/api/v1/status", {{"GET"}, get_status}},
    {"/api/v1/nodes", {{"GET"}, get_nodes}},
    {"/api/v1/queues", {{"GET"}, get_queues}},
    {"/api/v1/summary", {{"GET"}, get_summary}},
    {"/api/v1/events", {{"GET"}, get_events}},
    {"/api/v1/whoami", {{"GET"}, nullptr}},
    {"/api/v1/logout", {{"POST"}, nullptr}},
    {"/api/v1/openapi.json", {{"GET"}, nullptr}},
  };
  pattern = path;
  const std::string tasks = "/api/v1/tasks/";
  if (path.compare(0, tasks.size(), tasks) == 0) {
    auto rest = path.substr(tasks.size());
    auto slash = rest.find('/');
    auto head = rest.substr(0, slash);
    if (!head.empty() && head.size() <= 19
        && std::all_of(head.begin(), head.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
      errno = 0;
      const auto v = std::strtoll(head.c_str(), nullptr, 10);
      if (errno != 0 || v <= 0)
        return nullptr;
      id = v;
      pattern = tasks + "{id}" + (slash == std::string::npos ? "" : rest.substr(slash));
    }
  }
  auto i = routes.find(pattern);
  return i == routes.end() ? nullptr : &i->second;
}

} // namespace

// -- shared helpers -------------------------------------------------------------

api_state::api_state(api_config c)
  : cfg(std::move(c)),
    journal([dsn = cfg.dsn] { return std::make_unique<journal_store>(dsn, api_journal_options()); }),
    access([dsn = cfg.dsn] { return std::make_unique<access_store>(dsn, api_journal_options()); }) {
}

bool api_state::active(caf::actor_system*& s, head_actor& h) {
  std::lock_guard<std::mutex> guard{head_m};
  if (!sys)
    return false;
  s = sys;
  h = head;
  return true;
}

response json_answer(int status, const json& body) {
  response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

response json_error(int status, const std::string& kind, const std::string& detail, json extra) {
  json j = std::move(extra);
  j["error"] = kind;
  j["detail"] = detail;
  return json_answer(status, j);
}

response unavailable(const std::string& detail, int retry_after_s) {
  auto r = json_error(503, "unavailable", detail);
  r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  return r;
}

response head_error(const caf::error& e, caf::actor_system& sys) {
  const auto msg = taskrt_code(e) != 0 ? error_message(e) : sys.render(e);
  switch (static_cast<errc>(taskrt_code(e))) {
    case errc::not_found: return json_error(404, "not_found", msg);
    case errc::illegal_state: return json_error(409, "illegal_state", msg);
    case errc::bad_request: return json_error(422, "invalid", msg);
    case errc::unavailable: return unavailable(msg);
    case errc::shutting_down: return unavailable(msg, 5);
    case errc::stepped_down: return unavailable(msg, 5);
  }
  return unavailable("the scheduler did not answer: " + msg);
}

std::string url_decode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1]))
               && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::multimap<std::string, std::string> query_params(const std::string& target) {
  std::multimap<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string::npos)
    return out;
  const auto query = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= query.size()) {
    auto end = query.find('&', pos);
    if (end == std::string::npos)
      end = query.size();
    auto part = query.substr(pos, end - pos);
    if (!part.empty()) {
      auto eq = part.find('=');
      out.emplace(url_decode(part.substr(0, eq)),
                  eq == std::string::npos ? std::string{} : url_decode(part.substr(eq + 1)));
    }
    pos = end + 1;
  }
  return out;
}

// -- api_server -------------------------------------------------------------------

api_server::api_server(api_config cfg) : state_(std::make_shared<api_state>(std::move(cfg))) {
}

api_server::~api_server() {
  deactivate();
}

void api_server::activate(caf::actor_system& sys, head_actor head) {
  {
    std::lock_guard<std::mutex> guard{state_->head_m};
    state_->sys = &sys;
    state_->head = std::move(head);
  }
  if (!state_->feed)
    state_->feed = std::make_unique<event_feed>(state_->cfg.dsn);
}

void api_server::deactivate() {
  {
    std::lock_guard<std::mutex> guard{state_->head_m};
    state_->sys = nullptr;
    state_->head = nullptr;
  }
  if (state_->feed)
    state_->feed->stop();
}

response api_server::unauthorized(const std::string& why, bool down) {
  if (down)
    return unavailable(why);
  auto r = json_error(401, "unauthorized", why);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"taskrt\"");
  return r;
}

std::optional<api_principal> api_server::authenticate(const request& req, std::string& why,
                                                      bool* down) {
  const auto auth = req.header("authorization");
  const std::string bearer = "Bearer ";
  const bool by_token = !auth.empty();
  if (by_token && auth.compare(0, bearer.size(), bearer) != 0) {
    why = "Authorization: only \"Bearer TOKEN\" is accepted";
    return std::nullopt;
  }
  const auto secret = by_token ? auth.substr(bearer.size())
                               : cookie_value(req.header("cookie"), session_cookie);
  if (secret.empty()) {
    why = "no credentials: send Authorization: Bearer TOKEN (taskrt tokens add) or open the "
          "link of `taskrt dashboard`";
    return std::nullopt;
  }
  const auto key = std::string{by_token ? "t:" : "s:"} + access_store::sha256_hex(secret);
  const auto now = std::chrono::steady_clock::now();
  try {
    auto who = state_->access.with([&](access_store& a) {
      return by_token ? a.find_token(secret) : a.find_session(secret);
    });
    std::lock_guard<std::mutex> guard{state_->seen_m};
    if (!who) {
      state_->seen.erase(key);
      why = by_token ? "the bearer token is not valid (unknown or revoked; see `taskrt tokens "
                       "list`)"
                     : "the session has expired or ended: open a new link from `taskrt "
                       "dashboard`";
      return std::nullopt;
    }
    if (state_->seen.size() > 10'000)
      state_->seen.clear();
    state_->seen[key] = {*who, now};
    return who;
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> guard{state_->seen_m};
    auto i = state_->seen.find(key);
    if (i != state_->seen.end() && now - i->second.second < std::chrono::minutes(1))
      return i->second.first;
    why = std::string{"cannot check the credentials: the journal (Postgres) cannot answer: "}
          + e.what();
    if (down)
      *down = true;
    return std::nullopt;
  }
}

void api_server::install(health_server& server) {
  auto st = state_;
  auto self = this;
  auto cors = [st](const request& req, response r) {
    const auto origin = req.header("origin");
    if (!st->cfg.cors_origin.empty() && origin == st->cfg.cors_origin) {
      r.headers.emplace_back("Access-Control-Allow-Origin", origin);
      r.headers.emplace_back("Vary", "Origin");
    }
    return r;
  };
  server.add_prefix_route("/api/", [st, self, cors](const request& req) -> response {
    if (req.method == "OPTIONS") { // a CORS preflight: no credentials come with it
      const auto origin = req.header("origin");
      if (st->cfg.cors_origin.empty() || origin != st->cfg.cors_origin)
        return json_error(403, "forbidden", "cross-origin requests are not allowed from '"
                                              + origin + "' (--http-cors-origin)");
      response r;
      r.status = 204;
      r.headers = {{"Access-Control-Allow-Origin", origin},
                   {"Access-Control-Allow-Methods", "GET, POST"},
                   {"Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, Last-Event-ID"},
                   {"Access-Control-Max-Age", "600"},
                   {"Vary", "Origin"}};
      return r;
    }
    std::string why;
    bool down = false;
    auto who = self->authenticate(req, why, &down);
    if (!who)
      return cors(req, unauthorized(why, down));
    int64_t id = 0;
    std::string pattern;
    const auto* r = match(req.path, id, pattern);
    if (!r)
      return cors(req, json_error(404, "not_found", "no route " + req.path
                                                      + " (see GET /api/v1/openapi.json)"));
    const bool read = is_read(req.method);
    if (std::find(r->methods.begin(), r->methods.end(), read ? "GET" : req.method)
        == r->methods.end()) {
      auto e = json_error(405, "method_not_allowed",
                          req.path + " answers " + r->methods.front()
                            + (r->methods.size() > 1 ? " and " + r->methods.back() : ""));
      std::string allow;
      for (const auto& m : r->methods)
        allow += (allow.empty() ? "" : ", ") + m;
      e.headers.emplace_back("Allow", allow);
      return cors(req, e);
    }
    if (!read) {
      if (who->role != api_role::operator_)
        return cors(req, json_error(403, "forbidden",
                                    "'" + who->name + "' has the role viewer: submit, cancel and "
                                      "retry need an operator token"));
      // A browser sends the cookie with requests other sites make: a write
      // authenticated by it must come from this server's own pages.
      if (req.header("authorization").empty() && pattern != "/api/v1/logout") {
        const auto origin = req.header("origin");
        const auto own = std::string{req.tls ? "https://" : "http://"} + req.header("host");
        if (origin.empty() || origin != own)
          return json_error(403, "csrf",
                            "a write authenticated by the session cookie needs the header "
                            "Origin: " + own + (origin.empty() ? " (none was sent)"
                                                               : " (got " + origin + ")"));
      }
    }
    api_call call{req, *who, id};
    response out;
    try {
      auto answered = store_call([&] {
        response o;
        if (pattern == "/api/v1/tasks")
          o = read ? list_tasks(*st, call) : submit_task(*st, call);
        else if (pattern == "/api/v1/whoami")
          o = json_answer(200, {{"name", who->name}, {"role", to_string(who->role)}});
        else if (pattern == "/api/v1/openapi.json")
          o = json_answer(200, openapi_document());
        else if (pattern == "/api/v1/logout") {
          const auto cookie = cookie_value(req.header("cookie"), session_cookie);
          if (!cookie.empty())
            st->access.with([&](access_store& a) {
              a.end_session(cookie);
              return 0;
            });
          o = json_answer(200, {{"logged_out", !cookie.empty()}});
          o.headers.emplace_back("Set-Cookie", std::string{session_cookie}
                                                 + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
        } else
          o = r->handler(*st, call);
        return o;
      });
      if (answered)
        out = std::move(*answered);
      else if (store_code(answered.error()) == store_errc::data)
        out = json_error(422, "invalid", store_message(answered.error()));
      else
        out = unavailable(std::string{"the journal (Postgres) cannot answer: "}
                          + store_message(answered.error()));
    } catch (const std::exception& e) {
      out = json_error(500, "internal", e.what());
    }
    if (!read) {
      // The audit trail: who did what through the API, and how it went.
      json detail = json::object();
      if (id != 0)
        detail["task_id"] = id;
      if (out.content_type == "application/json") {
        auto body = json::parse(out.body, nullptr, false);
        if (body.is_object() && body.contains("id"))
          detail["task_id"] = body["id"];
        if (body.is_object() && body.contains("error"))
          detail["error"] = body["error"];
      }
      try {
        st->access.with([&](access_store& a) {
          a.audit(*who, req.method, req.path, out.status, detail.dump());
          return 0;
        });
      } catch (const std::exception& e) {
        spdlog::warn("api audit of {} {} by {}: {}", req.method, req.path, who->name, e.what());
      }
    }
    return cors(req, std::move(out));
  });

  // The link `taskrt dashboard` prints: a one-time login token that opens a
  // browser session (cookie) and goes on to the dashboard.
  server.add_route("/login", [st](const request& req) -> response {
    if (!is_read(req.method))
      return json_error(405, "method_not_allowed", "/login answers GET");
    auto q = query_params(req.target);
    auto t = q.find("token");
    if (t == q.end() || t->second.empty())
      return json_error(400, "bad_request", "/login needs ?token= (from `taskrt dashboard`)");
    std::optional<access_store::opened_session> s;
    try {
      s = st->access.with([&](access_store& a) { return a.open_session(t->second); });
    } catch (const std::exception& e) {
      return unavailable(std::string{"the journal (Postgres) cannot answer: "} + e.what());
    }
    if (!s)
      return json_error(401, "unauthorized",
                        "this login link is unknown, used already or expired: run `taskrt "
                        "dashboard` for a new one");
    response r;
    r.status = 303;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "logged in as " + s->who.name + "\n";
    r.headers.emplace_back("Location", "/");
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back(
      "Set-Cookie", std::string{session_cookie} + "=" + s->secret
                      + "; Path=/; HttpOnly; SameSite=Strict; Max-Age="
                      + std::to_string(static_cast<int64_t>(s->ttl_s))
                      + (req.tls ? "; Secure" : ""));
    return r;
  });
}

} // namespace taskrt::http

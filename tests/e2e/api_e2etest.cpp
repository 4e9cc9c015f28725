// The HTTP API against a real head (taskrt start --head --http-port 0) and a
// real Postgres, as a client in another language would use it: tokens and
// roles, bad and huge bodies, idempotency keys, paging, cancel/retry and
// their bulk forms, the journaled origin, the dashboard's login link with
// its cookie (CSRF, expiry), the OpenAPI document against the server, and
// 503 with Retry-After while Postgres is down.

#include "tests/e2e/api_helpers.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <pqxx/pqxx>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// Waits until task `id` is in `state` (GET /api/v1/tasks/{id}).
bool reaches(const api_head& h, int64_t id, const std::string& state) {
  auto c = h.client();
  return eventually([&] {
    auto r = c.Get(("/api/v1/tasks/" + std::to_string(id)).c_str(), bearer(h.op));
    return r && r->status == 200 && body_of(r)["state"] == state;
  });
}

int64_t submit(httplib::Client& c, const std::string& token, const json& body,
               httplib::Headers more = {}) {
  auto r = c.Post("/api/v1/tasks", bearer(token, std::move(more)), body.dump(),
                  "application/json");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 201);
  return body_of(r)["id"].get<int64_t>();
}

} // namespace

TEST_CASE("api: tokens and roles - only the probes answer without a token", "[e2e][api]") {
  api_head h{fresh_schema_dsn("e2e_api_roles"), {"--workers", "1"}};
  auto c = h.client();
  for (const char* open : {"/healthz", "/metrics"}) {
    auto r = c.Get(open);
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  // No credentials, a wrong token, a malformed header: 401 {error, detail}.
  for (const auto& headers :
       {httplib::Headers{}, bearer("trt_not-a-token"), bearer(h.op + "x"),
        httplib::Headers{{"Authorization", "Basic b3A6b3A="}}}) {
    for (const char* path : {"/api/v1/status", "/api/v1/tasks", "/api/v1/openapi.json",
                             "/api/v1/no-such-route"}) {
      auto r = c.Get(path, headers);
      INFO(path << " " << (r ? r->body : "no answer"));
      CHECK(api_error(r, 401, "unauthorized"));
    }
    auto p = c.Post("/api/v1/tasks", headers, R"({"name":"echo"})", "application/json");
    CHECK(api_error(p, 401, "unauthorized"));
  }
  // A viewer reads, and is refused every write.
  auto st = c.Get("/api/v1/status", bearer(h.viewer));
  REQUIRE(st);
  CHECK(st->status == 200);
  CHECK(body_of(st)["head"]["reachable"] == true);
  auto me = body_of(c.Get("/api/v1/whoami", bearer(h.viewer)));
  CHECK(me["name"] == "watcher");
  CHECK(me["role"] == "viewer");
  CHECK(api_error(c.Post("/api/v1/tasks", bearer(h.viewer), R"({"name":"echo"})",
                         "application/json"),
                  403, "forbidden"));
  const auto id = submit(c, h.op, {{"name", "sleep"}, {"args", {{"ms", 10}}}, {"in", 3600}});
  CHECK(api_error(c.Post(("/api/v1/tasks/" + std::to_string(id) + "/cancel").c_str(),
                         bearer(h.viewer)),
                  403));
  // Revoked: refused from the next request on.
  auto rv = run_cli({"tokens", "revoke", "watcher", "--db", h.head.dsn()});
  REQUIRE(rv.exit_code == 0);
  CHECK(api_error(c.Get("/api/v1/status", bearer(h.viewer)), 401));
  auto list = run_cli({"tokens", "list", "--db", h.head.dsn(), "-o", "json"});
  REQUIRE(list.exit_code == 0);
  auto rows = json::parse(list.out);
  REQUIRE(rows.size() == 2);
  CHECK(list.out.find("trt_") == std::string::npos); // never a secret
  for (const auto& r : rows)
    CHECK((r["name"] == "watcher") == !r["revoked_at"].is_null());
}

TEST_CASE("api: bad and huge bodies get 400/413/422 with the CLI's messages - the head stays up",
          "[e2e][api]") {
  api_head h{fresh_schema_dsn("e2e_api_bad"), {"--workers", "1"}};
  auto c = h.client();
  struct bad_case {
    std::string body;
    int status;
    std::string says;
  };
  const std::vector<bad_case> cases{
    {"not json", 400, "body"},
    {"[1,2]", 400, "a JSON object is expected"},
    {R"({"name": 42})", 400, "name: a string is expected"},
    {R"({"name":"echo","colour":"red"})", 400, "unknown field 'colour'"},
    {R"({"args":{}})", 422, "name: the registered name of the task is required"},
    {R"({"name":"no-such-task"})", 422, "no-such-task"},
    {R"({"name":"echo","priority":2000000})", 422, "priority: must be from -1000000 to 1000000"},
    {R"({"name":"echo","priority":1.5})", 400, "priority: a whole number is expected"},
    {R"({"name":"echo","lock":""})", 422, "lock: empty"},
    {R"({"name":"echo","queue":""})", 422, "queue: empty"},
    {R"({"name":"echo","in":-5})", 422, "in"},
    {R"({"name":"echo","in":5,"run_at":"2030-01-01T00:00:00Z"})", 400, "give one of them"},
    {R"({"name":"echo","run_at":"tomorrow"})", 422, "run_at"},
    {R"({"name":"echo","policy":{"retries":-1}})", 422, "policy: "},
    {R"({"name":"echo","time_limit":"soon"})", 400, "time_limit: a number is expected"},
    {"{\"name\":\"echo\",\"args\":{\"s\":\"a\\u0000b\"}}", 400, "NUL character"},
    {R"({"name":"echo","key":"a","extra":1})", 400, "unknown field 'extra'"},
  };
  for (const auto& bc : cases) {
    auto r = c.Post("/api/v1/tasks", bearer(h.op), bc.body, "application/json");
    INFO(bc.body << " -> " << (r ? std::to_string(r->status) + " " + r->body : "no answer"));
    REQUIRE(r);
    CHECK(api_error(r, bc.status));
    CHECK(body_of(r)["detail"].get<std::string>().find(bc.says) != std::string::npos);
  }
  // Too deep: the limit of --max-json-depth, as the CLI says it.
  std::string deep = R"({"name":"echo","args":)";
  for (int i = 0; i < 200; ++i)
    deep += "[";
  for (int i = 0; i < 200; ++i)
    deep += "]";
  deep += "}";
  auto d = c.Post("/api/v1/tasks", bearer(h.op), deep, "application/json");
  CHECK((api_error(d, 422) || api_error(d, 400)));
  // A body over the server's 1 MiB limit: 413 as JSON, before a byte of it
  // is read (its head announces it; a raw socket, as the server closes).
  {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(h.http_port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    const std::string head = "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                             + h.op + "\r\nContent-Length: " + std::to_string(2 << 20)
                             + "\r\n\r\n" + std::string(1000, 'x');
    REQUIRE(::send(fd, head.data(), head.size(), MSG_NOSIGNAL) > 0);
    std::string answer;
    char buf[4096];
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
      answer.append(buf, static_cast<size_t>(n));
    ::close(fd);
    INFO(answer);
    CHECK(answer.rfind("HTTP/1.1 413", 0) == 0);
    auto j = json::parse(answer.substr(answer.find("\r\n\r\n") + 4), nullptr, false);
    CHECK(j["error"] == "too_large");
    CHECK(j["detail"].get<std::string>().find("over the limit") != std::string::npos);
  }
  // Query parameters too.
  CHECK(api_error(c.Get("/api/v1/tasks?state=SLEEPING", bearer(h.op)), 422, "invalid"));
  CHECK(api_error(c.Get("/api/v1/tasks?limit=0", bearer(h.op)), 422));
  CHECK(api_error(c.Get("/api/v1/tasks?colour=red", bearer(h.op)), 400));
  CHECK(api_error(c.Get("/api/v1/tasks/999999", bearer(h.op)), 404, "not_found"));
  CHECK(api_error(c.Delete("/api/v1/tasks", bearer(h.op)), 405, "method_not_allowed"));
  // Still up and serving.
  const auto id = submit(c, h.op, {{"name", "echo"}, {"args", {{"ok", true}}}});
  CHECK(reaches(h, id, "SUCCEEDED"));
}

TEST_CASE("api: idempotency keys - same body 200 with the first id, another body 409",
          "[e2e][api]") {
  api_head h{fresh_schema_dsn("e2e_api_keys"), {"--workers", "1"}};
  auto c = h.client();
  const json body = {{"name", "echo"}, {"args", {{"order", 42}}}, {"priority", 3}};
  const auto first = submit(c, h.op, body, {{"Idempotency-Key", "order-42"}});
  // The same body (fields in another order, other spacing), by header or by "key".
  auto again = c.Post("/api/v1/tasks", bearer(h.op, {{"Idempotency-Key", "order-42"}}),
                      R"({ "priority": 3, "args": {"order": 42}, "name": "echo" })",
                      "application/json");
  REQUIRE(again);
  CHECK(again->status == 200);
  CHECK(body_of(again)["id"] == first);
  auto in_body = body;
  in_body["key"] = "order-42";
  auto again2 = c.Post("/api/v1/tasks", bearer(h.op), in_body.dump(), "application/json");
  REQUIRE(again2);
  CHECK(again2->status == 200);
  CHECK(body_of(again2)["id"] == first);
  // Another body under the same key: 409 naming the first task.
  auto other = body;
  other["args"]["order"] = 43;
  auto conflict = c.Post("/api/v1/tasks", bearer(h.op, {{"Idempotency-Key", "order-42"}}),
                         other.dump(), "application/json");
  CHECK(api_error(conflict, 409, "conflict"));
  CHECK(body_of(conflict)["id"] == first);
  CHECK(body_of(conflict)["detail"].get<std::string>().find(std::to_string(first))
        != std::string::npos);
  // Header and body naming different keys.
  in_body["key"] = "order-43";
  CHECK(api_error(c.Post("/api/v1/tasks", bearer(h.op, {{"Idempotency-Key", "order-42"}}),
                         in_body.dump(), "application/json"),
                  400));
  // A key the CLI used first: the API answers that task.
  auto cli = run_cli({"submit", "echo", "--key", "cli-1", "--address", h.head.address()});
  REQUIRE(cli.exit_code == 0);
  auto via_api = c.Post("/api/v1/tasks", bearer(h.op, {{"Idempotency-Key", "cli-1"}}),
                        R"({"name":"echo"})", "application/json");
  REQUIRE(via_api);
  CHECK(via_api->status == 200);
  CHECK(body_of(via_api)["id"] == std::stoll(cli.out));
  // One task per key in the journal.
  auto all = body_of(c.Get("/api/v1/tasks?limit=100", bearer(h.op)));
  CHECK(all["tasks"].size() == 2);
}

TEST_CASE("api: list with filters and cursor pages, describe shows who acted, cancel, retry, bulk",
          "[e2e][api]") {
  api_head h{fresh_schema_dsn("e2e_api_ops"), {"--workers", "1"}};
  auto c = h.client();
  std::set<int64_t> scheduled;
  for (int i = 0; i < 7; ++i) // far in the future: they stay QUEUED
    scheduled.insert(submit(c, h.op, {{"name", "sleep"}, {"args", {{"ms", 1}}}, {"in", 3600},
                                      {"queue", "later"}}));
  const auto done = submit(c, h.op, {{"name", "echo"}, {"args", {{"x", 1}}}});
  REQUIRE(reaches(h, done, "SUCCEEDED"));
  // Pages of 3 by cursor, newest first: every scheduled task once.
  std::set<int64_t> seen;
  std::string cursor;
  int pages = 0;
  for (; pages < 10; ++pages) {
    auto path = "/api/v1/tasks?state=QUEUED&queue=later&limit=3"
                + (cursor.empty() ? std::string{} : "&cursor=" + cursor);
    auto page = body_of(c.Get(path.c_str(), bearer(h.op)));
    REQUIRE(page.is_object());
    int64_t prev = INT64_MAX;
    for (const auto& t : page["tasks"]) {
      CHECK(t["state"] == "QUEUED");
      CHECK(t["id"].get<int64_t>() < prev);
      prev = t["id"].get<int64_t>();
      CHECK(seen.insert(prev).second);
    }
    if (page["next_cursor"].is_null())
      break;
    cursor = page["next_cursor"].get<std::string>();
  }
  CHECK(pages == 2); // 3 + 3 + 1
  CHECK(seen == scheduled);
  // Cancel one: QUEUED -> CANCELLED at once, journaled as done by "http op".
  const auto one = *scheduled.begin();
  auto cr = c.Post(("/api/v1/tasks/" + std::to_string(one) + "/cancel").c_str(), bearer(h.op));
  REQUIRE(cr);
  INFO(cr->body);
  CHECK(cr->status == 200);
  CHECK(body_of(cr)["state"] == "CANCELLED");
  CHECK(api_error(c.Post(("/api/v1/tasks/" + std::to_string(one) + "/cancel").c_str(),
                         bearer(h.op)),
                  409, "illegal_state"));
  CHECK(api_error(c.Post("/api/v1/tasks/999999/cancel", bearer(h.op)), 404));
  // Retry it with a new priority and queue.
  auto rr = c.Post(("/api/v1/tasks/" + std::to_string(one) + "/retry").c_str(), bearer(h.op),
                   R"({"priority": 7, "queue": "later", "in": 3600})", "application/json");
  REQUIRE(rr);
  INFO(rr->body);
  CHECK(rr->status == 200);
  auto d = body_of(c.Get(("/api/v1/tasks/" + std::to_string(one)).c_str(), bearer(h.op)));
  CHECK(d["state"] == "QUEUED");
  CHECK(d["priority"] == 7);
  int by_op = 0;
  for (const auto& e : d["events"])
    if (e["detail"].is_object() && e["detail"].value("origin", "") == "http op")
      ++by_op;
  CHECK(by_op == 3); // submit, cancel, manual retry
  for (const char* k : {"attempts", "checkpoints", "events", "args", "policy"})
    CHECK(d.contains(k));
  // Bulk: a dry run touches nothing and names the ids.
  auto dry = c.Post("/api/v1/tasks/cancel", bearer(h.op),
                    R"({"filter": {"queue": "later"}, "dry_run": true})", "application/json");
  REQUIRE(dry);
  auto dj = body_of(dry);
  CHECK(dj["requested"] == 7);
  CHECK(dj["ids"].size() == 7);
  CHECK(body_of(c.Get("/api/v1/tasks?state=CANCELLED", bearer(h.op)))["tasks"].empty());
  auto bulk = c.Post("/api/v1/tasks/cancel", bearer(h.op), R"({"filter": {"queue": ["later"]}})",
                     "application/json");
  REQUIRE(bulk);
  auto bj = body_of(bulk);
  CHECK(bj["ok"].size() == 7);
  CHECK(bj["failed"].empty());
  auto retried = body_of(c.Post("/api/v1/tasks/retry", bearer(h.op),
                                R"({"filter": {"state": "CANCELLED"}, "in": 3600, "limit": 2})",
                                "application/json"));
  CHECK(retried["ok"].size() == 2);
  CHECK(api_error(c.Post("/api/v1/tasks/cancel", bearer(h.op), R"({"ids": [1], "filter": {}})",
                         "application/json"),
                  400));
  // The audit trail: every write through the API with who did it.
  pqxx::connection db{h.head.dsn()};
  pqxx::read_transaction tx{db};
  auto n = tx.exec1("SELECT count(*) FROM api_audit WHERE who = 'op' AND method = 'POST'")[0]
             .as<int64_t>();
  CHECK(n >= 14);
  // Cluster views.
  auto q = body_of(c.Get("/api/v1/queues", bearer(h.op)));
  bool later = false;
  for (const auto& row : q["queues"])
    if (row["queue"] == "later") {
      later = true;
      CHECK(row["depth"] == 2);
      CHECK(row["scheduled"] == 2);
    }
  CHECK(later);
  auto nodes = body_of(c.Get("/api/v1/nodes", bearer(h.op)));
  CHECK(nodes["live"] == true);
  CHECK(!nodes["nodes"].empty());
  auto sum = body_of(c.Get("/api/v1/summary", bearer(h.op)));
  CHECK(sum["states"]["SUCCEEDED"] == 1);
  auto status = body_of(c.Get("/api/v1/status", bearer(h.op)));
  CHECK(status["tasks"]["QUEUED"] == 2);
}

TEST_CASE("api: the dashboard link opens a cookie session once, cookie writes need the own Origin,"
          " expired sessions are refused",
          "[e2e][api]") {
  api_head h{fresh_schema_dsn("e2e_api_login"), {"--workers", "1"}};
  auto link = run_cli({"dashboard", "--data-dir", h.head.data_dir(), "--db", h.head.dsn(),
                       "--session", "3s", "--name", "alice"});
  INFO(link.err);
  REQUIRE(link.exit_code == 0);
  const auto url = link.out.substr(0, link.out.find('\n'));
  REQUIRE(url.rfind(h.origin() + "/login?token=trt_", 0) == 0);
  const auto path = url.substr(h.origin().size());
  auto c = h.client();
  auto login = c.Get(path.c_str());
  REQUIRE(login);
  CHECK(login->status == 303);
  CHECK(login->get_header_value("Location") == "/");
  const auto set_cookie = login->get_header_value("Set-Cookie");
  CHECK(set_cookie.find("HttpOnly") != std::string::npos);
  CHECK(set_cookie.find("SameSite=Strict") != std::string::npos);
  const auto cookie = set_cookie.substr(0, set_cookie.find(';'));
  REQUIRE(cookie.rfind("taskrt_session=", 0) == 0);
  // The link works once.
  CHECK(api_error(c.Get(path.c_str()), 401));
  httplib::Headers with_cookie{{"Cookie", cookie}};
  auto me = body_of(c.Get("/api/v1/whoami", with_cookie));
  CHECK(me["name"] == "alice");
  CHECK(me["role"] == "operator");
  // CSRF: a cookie write without Origin, or from another site, is refused.
  CHECK(api_error(c.Post("/api/v1/tasks", with_cookie, R"({"name":"echo"})", "application/json"),
                  403, "csrf"));
  auto foreign = with_cookie;
  foreign.emplace("Origin", "http://evil.example");
  CHECK(api_error(c.Post("/api/v1/tasks", foreign, R"({"name":"echo"})", "application/json"),
                  403, "csrf"));
  auto own = with_cookie;
  own.emplace("Origin", h.origin());
  const auto id = submit(c, "", {{"name", "echo"}}, own);
  auto d = body_of(c.Get(("/api/v1/tasks/" + std::to_string(id)).c_str(), with_cookie));
  CHECK(d["events"][0]["detail"]["origin"] == "http alice");
  // A link not used within --valid is refused.
  auto stale = run_cli({"dashboard", "--data-dir", h.head.data_dir(), "--db", h.head.dsn(),
                        "--valid", "1s"});
  REQUIRE(stale.exit_code == 0);
  // Expired: the session lasted 3 s (and the stale link 1 s).
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  const auto stale_url = stale.out.substr(0, stale.out.find('\n'));
  auto late_login = c.Get(stale_url.substr(h.origin().size()).c_str());
  CHECK(api_error(late_login, 401, "unauthorized"));
  CHECK(!late_login->has_header("Set-Cookie"));
  auto late = c.Get("/api/v1/whoami", with_cookie);
  CHECK(api_error(late, 401, "unauthorized"));
  CHECK(body_of(late)["detail"].get<std::string>().find("expired") != std::string::npos);
}

TEST_CASE("api: every route of the OpenAPI document answers as documented", "[e2e][api]") {
  api_head h{fresh_schema_dsn("e2e_api_openapi"), {"--workers", "1"}};
  auto c = h.client();
  auto doc = body_of(c.Get("/api/v1/openapi.json", bearer(h.op)));
  REQUIRE(doc["openapi"].get<std::string>().rfind("3.", 0) == 0);
  const auto id = submit(c, h.op, {{"name", "echo"}});
  REQUIRE(reaches(h, id, "SUCCEEDED"));
  int checked = 0;
  for (auto& [path, ops] : doc["paths"].items()) {
    auto concrete = path;
    if (auto p = concrete.find("{id}"); p != std::string::npos)
      concrete.replace(p, 4, std::to_string(id));
    for (auto& [method, op] : ops.items()) {
      auto call = [&]() -> httplib::Result {
        if (method == "get")
          return c.Get(concrete.c_str(), bearer(h.op));
        std::string body = "{}";
        if (path == "/api/v1/tasks")
          body = R"({"name":"echo"})";
        if (path == "/api/v1/tasks/cancel" || path == "/api/v1/tasks/retry")
          body = R"({"ids": [], "dry_run": true})";
        return c.Post(concrete.c_str(), bearer(h.op), body, "application/json");
      };
      if (method != "get" && method != "post")
        FAIL("a method the test does not know: " << method);
      if (method == "get") {
        if (path == "/api/v1/events") { // a stream: its head is enough
          httplib::Client sc{"127.0.0.1", h.http_port};
          sc.set_read_timeout(1, 0);
          auto got = std::make_shared<std::string>();
          auto status = std::make_shared<int>(0);
          sc.Get(concrete.c_str(), bearer(h.op),
                 [status](const httplib::Response& res) {
                   *status = res.status;
                   return true;
                 },
                 [got](const char* data, size_t n) {
                   got->append(data, n);
                   return false; // enough
                 });
          CHECK(*status == 200);
          ++checked;
          continue;
        }
      }
      auto r = call();
      INFO(method << " " << concrete << " -> " << (r ? r->body : "no answer"));
      REQUIRE(r);
      // The status is one the document lists for this operation.
      CHECK(op["responses"].contains(std::to_string(r->status)));
      CHECK(r->status < 500);
      ++checked;
    }
  }
  CHECK(checked >= 14);
  // And no route the server has is missing from the document.
  for (const char* p : {"/api/v1/tasks", "/api/v1/tasks/{id}", "/api/v1/tasks/{id}/cancel",
                        "/api/v1/tasks/{id}/retry", "/api/v1/tasks/cancel", "/api/v1/tasks/retry",
                        "/api/v1/status", "/api/v1/nodes", "/api/v1/queues", "/api/v1/summary",
                        "/api/v1/events", "/api/v1/whoami", "/api/v1/logout",
                        "/api/v1/openapi.json"})
    CHECK(doc["paths"].contains(p));
}

TEST_CASE("api: while Postgres is down a submit gets 503 with Retry-After - the head stays up",
          "[e2e][api][outage]") {
  private_postgres pg;
  api_head h{pg.dsn(), {"--workers", "1"}};
  auto c = h.client();
  // A request before the outage: the token is known to the server.
  const auto before = submit(c, h.op, {{"name", "echo"}});
  REQUIRE(reaches(h, before, "SUCCEEDED"));
  // The window: Postgres crash-stopped; the head notices on its next write.
  pg.crash_stop();
  int unavailable = 0, other = 0;
  std::string last;
  for (int i = 0; i < 10; ++i) { // bounded: 10 submits, 0.5 s apart
    auto r = c.Post("/api/v1/tasks", bearer(h.op), R"({"name":"echo"})", "application/json");
    REQUIRE(r); // the head answers
    last = std::to_string(r->status) + " " + r->body;
    if (api_error(r, 503, "unavailable") && !r->get_header_value("Retry-After").empty())
      ++unavailable;
    else if (r->status != 201) // one taken before the head noticed is fine
      ++other;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  INFO(last);
  CHECK(unavailable >= 8);
  CHECK(other == 0);
  auto hz = c.Get("/healthz");
  REQUIRE(hz);
  CHECK(hz->status == 200);
  pg.start_again();
  // Back: submits are accepted again.
  CHECK(eventually(
    [&] {
      auto r = c.Post("/api/v1/tasks", bearer(h.op), R"({"name":"echo"})", "application/json");
      return r && r->status == 201;
    },
    30'000));
}

TEST_CASE("api: CORS is off unless --http-cors-origin names the one origin allowed",
          "[e2e][api]") {
  {
    api_head h{fresh_schema_dsn("e2e_api_cors_off"), {"--workers", "0"}};
    auto c = h.client();
    auto r = c.Get("/api/v1/status", bearer(h.op, {{"Origin", "https://app.example"}}));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(!r->has_header("Access-Control-Allow-Origin"));
    auto pre = c.Options("/api/v1/tasks", {{"Origin", "https://app.example"},
                                           {"Access-Control-Request-Method", "POST"}});
    CHECK(api_error(pre, 403, "forbidden"));
  }
  api_head h{fresh_schema_dsn("e2e_api_cors"),
             {"--workers", "0", "--http-cors-origin", "https://app.example"}};
  auto c = h.client();
  auto pre = c.Options("/api/v1/tasks", {{"Origin", "https://app.example"},
                                         {"Access-Control-Request-Method", "POST"}});
  REQUIRE(pre);
  CHECK(pre->status == 204);
  CHECK(pre->get_header_value("Access-Control-Allow-Origin") == "https://app.example");
  CHECK(pre->get_header_value("Access-Control-Allow-Headers").find("Authorization")
        != std::string::npos);
  auto r = c.Get("/api/v1/status", bearer(h.op, {{"Origin", "https://app.example"}}));
  REQUIRE(r);
  CHECK(r->get_header_value("Access-Control-Allow-Origin") == "https://app.example");
  auto other = c.Get("/api/v1/status", bearer(h.op, {{"Origin", "https://evil.example"}}));
  REQUIRE(other);
  CHECK(!other->has_header("Access-Control-Allow-Origin"));
  CHECK(api_error(c.Options("/api/v1/tasks", {{"Origin", "https://evil.example"}}), 403));
}

TEST_CASE("api: a standby head knows the tokens - it answers reads, refuses writes with 503 until"
          " it takes over after a kill -9 of the active head",
          "[e2e][api][failover]") {
  auto dsn = fresh_schema_dsn("e2e_api_standby");
  const auto pa = free_port(), pb = free_port(), http_b = free_port();
  api_head a{dsn, {"--workers", "1", "--port", pa}};
  head_process b{dsn, {"--workers", "1", "--port", pb, "--standby", "--http-port", http_b}};
  httplib::Client cb{"127.0.0.1", std::stoi(http_b)};
  cb.set_read_timeout(15, 0);
  REQUIRE(eventually([&] {
    auto r = cb.Get("/readyz");
    return r && r->status == 503 && r->body.find("standby") != std::string::npos;
  }));
  auto ca = a.client();
  const auto id = submit(ca, a.op, {{"name", "echo"}, {"args", {{"n", 1}}}});
  REQUIRE(reaches(a, id, "SUCCEEDED"));
  // The standby checks the token in Postgres: the journal's reads answer.
  auto d = cb.Get(("/api/v1/tasks/" + std::to_string(id)).c_str(), bearer(a.op));
  REQUIRE(d);
  INFO(d->body);
  CHECK(d->status == 200);
  CHECK(body_of(d)["state"] == "SUCCEEDED");
  CHECK(api_error(cb.Get("/api/v1/status", bearer("trt_wrong")), 401));
  // Writes need the active head.
  auto w = cb.Post("/api/v1/tasks", bearer(a.op), R"({"name":"echo"})", "application/json");
  CHECK(api_error(w, 503, "unavailable"));
  CHECK(!w->get_header_value("Retry-After").empty());
  // The active head dies; the standby takes over and accepts the same token.
  a.head.kill9();
  int64_t after = 0;
  CHECK(eventually(
    [&] {
      auto r = cb.Post("/api/v1/tasks", bearer(a.op), R"({"name":"echo"})", "application/json");
      if (r && r->status == 201)
        after = body_of(r)["id"].get<int64_t>();
      return after != 0;
    },
    60'000));
  auto me = body_of(cb.Get("/api/v1/whoami", bearer(a.op)));
  CHECK(me["name"] == "op");
}

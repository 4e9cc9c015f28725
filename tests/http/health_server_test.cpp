// The HTTP server with probe functions of the test's own (pure functions, no
// actors): status codes, bodies, content types, request counting, a port in
// use.

#include "taskrt/http/health_server.hpp"
#include "taskrt/metrics/registry.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <atomic>

using namespace taskrt;

TEST_CASE("healthz - readyz - metrics answer as probes and scrapers expect", "[http]") {
  std::atomic<bool> ready{false};
  http::health_server server{{[] { return http::probe_result{true, {}}; },
                              [&] {
                                return ready ? http::probe_result{true, {}}
                                             : http::probe_result{false, "recovering"};
                              }}};
  REQUIRE(server.start("127.0.0.1", 0));
  REQUIRE(server.port() > 0);
  httplib::Client c{"127.0.0.1", server.port()};

  auto live = c.Get("/healthz");
  REQUIRE(live);
  CHECK(live->status == 200);
  CHECK(live->body == "ok\n");

  auto not_ready = c.Get("/readyz");
  REQUIRE(not_ready);
  CHECK(not_ready->status == 503);
  CHECK(not_ready->body == "recovering\n");
  ready = true;
  auto now_ready = c.Get("/readyz");
  REQUIRE(now_ready);
  CHECK(now_ready->status == 200);

  auto missing = c.Get("/nope");
  REQUIRE(missing);
  CHECK(missing->status == 404);

  auto m = c.Get("/metrics");
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK(m->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(m->body.find("taskrt_http_requests_total{path=\"/readyz\",code=\"503\"} ")
        != std::string::npos);
  CHECK(m->body.find("taskrt_http_requests_total{path=\"other\",code=\"404\"} ")
        != std::string::npos);
  server.stop();
  CHECK_FALSE(c.Get("/healthz"));
}

TEST_CASE("set_probes switches a running server's answers (a standby that took over)",
          "[http]") {
  http::health_server server{{[] { return http::probe_result{true, {}}; },
                              [] { return http::probe_result{false, "standby"}; }}};
  REQUIRE(server.start("127.0.0.1", 0));
  httplib::Client c{"127.0.0.1", server.port()};
  auto before = c.Get("/readyz");
  REQUIRE(before);
  CHECK(before->status == 503);
  CHECK(before->body == "standby\n");
  server.set_probes({[] { return http::probe_result{false, "scheduler gone"}; },
                     [] { return http::probe_result{true, {}}; }});
  auto after = c.Get("/readyz");
  REQUIRE(after);
  CHECK(after->status == 200);
  auto live = c.Get("/healthz");
  REQUIRE(live);
  CHECK(live->status == 503);
  CHECK(live->body == "scheduler gone\n");
}

TEST_CASE("a probe that throws answers 503 with the reason", "[http]") {
  http::health_server server{{[]() -> http::probe_result { throw std::runtime_error("boom"); },
                              [] { return http::probe_result{true, {}}; }}};
  REQUIRE(server.start("127.0.0.1", 0));
  httplib::Client c{"127.0.0.1", server.port()};
  auto r = c.Get("/healthz");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body == "boom\n");
}

TEST_CASE("a port in use is a clear error - not a crash", "[http]") {
  http::health_server first{{[] { return http::probe_result{true, {}}; },
                             [] { return http::probe_result{true, {}}; }}};
  REQUIRE(first.start("127.0.0.1", 0));
  http::health_server second{{[] { return http::probe_result{true, {}}; },
                              [] { return http::probe_result{true, {}}; }}};
  auto refused = second.start("127.0.0.1", first.port());
  REQUIRE_FALSE(refused);
  CHECK(error_message(refused.error()).find("in use") != std::string::npos);
  CHECK(taskrt_code(refused.error()) == static_cast<uint8_t>(errc::unavailable));
}

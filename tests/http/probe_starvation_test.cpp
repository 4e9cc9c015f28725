// Probes that always answer: idle connections, a slowloris, slow route
// handlers and oversized bodies against the HTTP server (real sockets on
// loopback, bounded loops). Latency figures are printed; the asserts are
// generous sanity bounds, not timing targets.

#include "taskrt/http/health_server.hpp"
#include "taskrt/http/request_head.hpp"
#include "loopback_socket.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace taskrt;
using namespace taskrt::test;
using clock_type = std::chrono::steady_clock;

namespace {

http::probes always_ok() {
  return {[] { return http::probe_result{true, {}}; }, [] { return http::probe_result{true, {}}; }};
}

} // namespace

TEST_CASE("probes: 500 idle connections plus a slowloris - /healthz answers throughout",
          "[http][starvation]") {
  http::health_server server{always_ok()}; // the default limits
  REQUIRE(server.start("127.0.0.1", 0));
  const int port = server.port();

  // 500 idle connections: connected, nothing sent.
  std::vector<int> idle;
  for (int i = 0; i < 500; ++i) {
    int fd = connect_to(port);
    REQUIRE(fd >= 0);
    idle.push_back(fd);
  }
  // Probes every 20 ms for the whole attack, each on a fresh connection.
  std::atomic<bool> done{false};
  std::vector<double> latencies;
  int failures = 0;
  std::thread prober([&] {
    while (!done) {
      auto [status, ms] = get_once(port, "/healthz");
      latencies.push_back(ms);
      if (status != 200)
        ++failures;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  // A slowloris of 200 connections for 8 s (past the 5 s request deadline):
  // each sends a request head one byte at a time, 100 ms apart, and is
  // opened again when the server closes it.
  const std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  struct slow {
    int fd = -1;
    size_t sent = 0;
  };
  std::vector<slow> loris(200);
  int reopened = 0;
  const auto end = clock_type::now() + std::chrono::seconds(8);
  while (clock_type::now() < end) {
    for (auto& s : loris) {
      if (s.fd >= 0 && !send_all(s.fd, std::string(1, s.sent < head.size() ? head[s.sent] : 'a'))) {
        ::close(s.fd);
        s.fd = -1;
        ++reopened;
      }
      if (s.fd < 0) {
        s.fd = connect_to(port);
        s.sent = 0;
        continue;
      }
      ++s.sent;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  done = true;
  prober.join();
  const double max_ms = *std::max_element(latencies.begin(), latencies.end());
  std::sort(latencies.begin(), latencies.end());
  std::printf("probes under 500 idle connections + a 200-connection slowloris (8 s): %zu "
              "probes, %d failed, p50 %.2f ms, max %.2f ms; slowloris connections closed by "
              "the server: %d\n",
              latencies.size(), failures, latencies[latencies.size() / 2], max_ms, reopened);
  CHECK(failures == 0);
  CHECK(max_ms < 1000); // sanity bound; the figure above is the result
  CHECK(latencies.size() > 50);
  CHECK(reopened >= 200); // the request deadline closed every slow connection
  for (int fd : idle)
    ::close(fd);
  for (auto& s : loris)
    if (s.fd >= 0)
      ::close(s.fd);
}

TEST_CASE("probes: slow route handlers do not delay /healthz - a full route queue answers 503",
          "[http][starvation]") {
  http::server_limits lim;
  lim.max_route_queue = 4;
  http::health_server server{always_ok(), lim};
  std::atomic<int> slow_started{0};
  server.add_route("/slow", [&](const http::request&) {
    ++slow_started;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return http::response{200, "text/plain", "slow\n"};
  });
  REQUIRE(server.start("127.0.0.1", 0));
  const int port = server.port();
  // 2 running + 4 queued fill the route lane; the 7th is refused at once.
  std::vector<int> slow;
  auto send_slow = [&] {
    int fd = connect_to(port);
    REQUIRE(send_all(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
    slow.push_back(fd);
  };
  send_slow();
  send_slow();
  while (slow_started < 2) // both lane threads busy for 1.5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (int i = 0; i < 4; ++i)
    send_slow();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto [busy_status, busy_ms] = get_once(port, "/slow");
  CHECK(busy_status == 503);
  double max_ms = 0;
  for (int i = 0; i < 20; ++i) {
    auto [status, ms] = get_once(port, i % 2 ? "/healthz" : "/readyz");
    CHECK(status == 200);
    max_ms = std::max(max_ms, ms);
  }
  std::printf("probes while the route lane is busy with 1.5 s handlers: max %.2f ms\n", max_ms);
  CHECK(max_ms < 1000);
  for (int fd : slow) {
    CHECK(status_of(read_answer(fd, 10'000)) == 200);
    ::close(fd);
  }
}

TEST_CASE("probes: a probe that blocks answers all probes waiting for it with one call",
          "[http][starvation]") {
  std::atomic<int> calls{0};
  http::health_server server{{[&] {
                                ++calls;
                                std::this_thread::sleep_for(std::chrono::milliseconds(300));
                                return http::probe_result{true, {}};
                              },
                              [] { return http::probe_result{true, {}}; }}};
  REQUIRE(server.start("127.0.0.1", 0));
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; ++i)
    clients.emplace_back([&] {
      if (get_once(server.port(), "/healthz").first == 200)
        ++ok;
    });
  for (auto& t : clients)
    t.join();
  CHECK(ok == 20);
  CHECK(calls < 20); // coalesced: the probes that arrived during a call share the next one
}

TEST_CASE("http limits: bodies are bounded per request and in sum", "[http][limits]") {
  http::server_limits lim;
  lim.max_body_bytes = 1 << 20;
  lim.max_body_bytes_total = 3 << 20;
  lim.request_timeout = std::chrono::milliseconds(800);
  http::health_server server{always_ok(), lim};
  server.add_route("/echo", [](const http::request& r) {
    return http::response{200, "text/plain", std::to_string(r.body.size()) + "\n"};
  });
  REQUIRE(server.start("127.0.0.1", 0));
  const int port = server.port();
  // Over the per-request limit: 413 before a byte of the body is read.
  int big = connect_to(port);
  REQUIRE(send_all(big, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n"));
  auto a = read_answer(big, 2000);
  CHECK(status_of(a) == 413);
  CHECK(a.find("over the limit of 1048576") != std::string::npos);
  CHECK(closed_within(big, 1000));
  ::close(big);
  // Three 1 MiB bodies in progress fill the sum; the fourth is refused.
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {
    int fd = connect_to(port);
    REQUIRE(send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\nab"));
    held.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int fourth = connect_to(port);
  REQUIRE(send_all(fourth, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"));
  CHECK(status_of(read_answer(fourth, 2000)) == 503);
  ::close(fourth);
  // The held ones never finish: the request deadline closes them, and
  // their bytes are free again.
  for (int fd : held) {
    CHECK(closed_within(fd, 3000));
    ::close(fd);
  }
  int whole = connect_to(port);
  const std::string body(1 << 20, 'x');
  REQUIRE(send_all(whole, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"
                            + body));
  auto w = read_answer(whole, 3000);
  CHECK(status_of(w) == 200);
  CHECK(w.find("\r\n\r\n1048576\n") != std::string::npos);
  ::close(whole);
  // Chunked bodies are refused (no length to budget).
  int chunked = connect_to(port);
  REQUIRE(send_all(chunked, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  CHECK(status_of(read_answer(chunked, 2000)) == 501);
  ::close(chunked);
  // A request head over 8 KiB: 431.
  int fat = connect_to(port);
  REQUIRE(send_all(fat, "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(9000, 'h') + "\r\n\r\n"));
  CHECK(status_of(read_answer(fat, 2000)) == 431);
  ::close(fat);
}

TEST_CASE("http limits: 50 connections sending 1 MiB bodies that never end - memory stays "
          "within the 16 MiB body budget",
          "[http][limits]") {
  auto rss_kib = [] {
    FILE* f = std::fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && std::fgets(line, sizeof(line), f))
      if (std::sscanf(line, "VmRSS: %ld", &kib) == 1)
        break;
    if (f)
      std::fclose(f);
    return kib;
  };
  http::health_server server{always_ok()}; // the default limits
  server.add_route("/echo", [](const http::request& r) {
    return http::response{200, "text/plain", std::to_string(r.body.size()) + "\n"};
  });
  REQUIRE(server.start("127.0.0.1", 0));
  const std::string body((1 << 20) - 1, 'b'); // one byte short: the request never ends
  const long before = rss_kib();
  std::vector<int> fds;
  int refused = 0;
  for (int i = 0; i < 50; ++i) {
    int fd = connect_to(server.port());
    REQUIRE(fd >= 0);
    if (!send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
        || !send_all(fd, body) || status_of(read_answer(fd, 100)) == 503)
      ++refused;
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300)); // let the server read it all
  const long after = rss_kib();
  std::printf("50 connections with unfinished 1 MiB bodies: %d refused (503), RSS %.1f -> %.1f "
              "MiB\n", refused, before / 1024.0, after / 1024.0);
  CHECK(refused == 34); // 16 MiB of bodies in all
  CHECK(after - before < 40 * 1024);
  CHECK(get_once(server.port(), "/healthz").first == 200);
  for (int fd : fds)
    ::close(fd);
}

TEST_CASE("http limits: keep-alive ends after N requests or when idle - slow heads are closed",
          "[http][limits]") {
  http::server_limits lim;
  lim.max_requests_per_connection = 3;
  lim.idle_timeout = std::chrono::milliseconds(300);
  lim.request_timeout = std::chrono::milliseconds(400);
  lim.max_connections = 8;
  http::health_server server{always_ok(), lim};
  REQUIRE(server.start("127.0.0.1", 0));
  const int port = server.port();
  int fd = connect_to(port);
  for (int i = 1; i <= 3; ++i) {
    REQUIRE(send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto a = read_answer(fd, 2000);
    CHECK(status_of(a) == 200);
    CHECK(a.find(i < 3 ? "Connection: keep-alive" : "Connection: close") != std::string::npos);
  }
  CHECK(closed_within(fd, 1000));
  ::close(fd);
  // Idle: closed after idle_timeout.
  int idle = connect_to(port);
  const auto t0 = clock_type::now();
  CHECK(closed_within(idle, 2000));
  const double idle_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
  CHECK(idle_ms >= 250);
  ::close(idle);
  // A head trickling a byte every 100 ms: closed at the request deadline.
  int slow = connect_to(port);
  const auto t1 = clock_type::now();
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    if (!send_all(slow, "G") || closed_within(slow, 100))
      closed = true;
  }
  const double slow_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t1).count();
  CHECK(closed);
  CHECK(slow_ms < 2000);
  ::close(slow);
  // At the connection cap a new connection evicts the least recently active
  // idle one: a probe always gets in.
  std::vector<int> fill;
  for (int i = 0; i < 8; ++i)
    fill.push_back(connect_to(port));
  CHECK(get_once(port, "/healthz").first == 200);
  int evicted = 0;
  for (int f : fill) {
    evicted += closed_within(f, 50) ? 1 : 0;
    ::close(f);
  }
  CHECK(evicted >= 1);
}

TEST_CASE("request head parser: what it takes and what it refuses", "[http]") {
  using http::head_status;
  http::request_head h;
  size_t used = 0;
  CHECK(http::parse_request_head("GET /x HTTP/1.1\r\nHost: a\r\n", 8192, h, used)
        == head_status::incomplete);
  const std::string ok = "GET /metrics?a=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  REQUIRE(http::parse_request_head(ok, 8192, h, used) == head_status::complete);
  CHECK(used == ok.size() - 3);
  CHECK(h.method == "GET");
  CHECK(h.path == "/metrics");
  CHECK(h.target == "/metrics?a=1");
  CHECK(h.content_length == 3);
  CHECK(h.keep_alive);
  REQUIRE(http::parse_request_head("GET / HTTP/1.0\r\n\r\n", 8192, h, used)
          == head_status::complete);
  CHECK_FALSE(h.keep_alive);
  REQUIRE(http::parse_request_head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", 8192, h, used)
          == head_status::complete);
  CHECK_FALSE(h.keep_alive);
  CHECK(http::parse_request_head("GET / HTTP/2.0\r\n\r\n", 8192, h, used) == head_status::bad);
  CHECK(http::parse_request_head("GET x HTTP/1.1\r\n\r\n", 8192, h, used) == head_status::bad);
  CHECK(http::parse_request_head("\x16\x03\x01\x02\r\n\r\n", 8192, h, used) == head_status::bad);
  CHECK(http::parse_request_head("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 8192, h, used)
        == head_status::bad);
  CHECK(http::parse_request_head("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                                 8192, h, used)
        == head_status::bad);
  CHECK(http::parse_request_head("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                                 8192, h, used)
        == head_status::bad);
  CHECK(http::parse_request_head("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 8192, h, used)
        == head_status::bad);
  CHECK(http::parse_request_head(std::string(100, 'a'), 64, h, used) == head_status::too_large);
}

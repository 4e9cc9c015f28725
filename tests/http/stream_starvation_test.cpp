// Long-lived answers (stream_channel, as the SSE feed uses them) against the
// HTTP server: hundreds of open streams whose clients read nothing, data
// pushed to all of them, and meanwhile probes and an ordinary route on
// fresh connections (real sockets on loopback, bounded loops). Streams must
// hold no thread: the process's thread count is measured. Latency figures
// are printed; the asserts are generous sanity bounds.

#include "taskrt/http/health_server.hpp"
#include "loopback_socket.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace taskrt;
using namespace taskrt::test;
using clock_type = std::chrono::steady_clock;

namespace {

/// Polls `pred` every 10 ms for up to 5 s.
template <class F>
bool eventually_true(F pred) {
  for (int i = 0; i < 500 && !pred(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return pred();
}

} // namespace

TEST_CASE("streams: 400 open streams of clients that read nothing hold no thread, probes and "
          "routes answer throughout, the slow ones are cut off",
          "[http][starvation][stream]") {
  http::health_server server{{[] { return http::probe_result{true, {}}; },
                              [] { return http::probe_result{true, {}}; }}};
  std::mutex m;
  std::vector<std::shared_ptr<http::stream_channel>> channels;
  server.add_route("/feed", [&](const http::request&) {
    http::response r;
    r.content_type = "text/event-stream";
    r.body = ": hello\n\n";
    r.stream = std::make_shared<http::stream_channel>(64 * 1024);
    std::lock_guard<std::mutex> guard{m};
    channels.push_back(r.stream);
    return r;
  });
  server.add_route("/api", [](const http::request&) {
    http::response r;
    r.body = "{}";
    return r;
  });
  REQUIRE(server.start("127.0.0.1", 0));
  const int port = server.port();
  const int threads_before = thread_count();

  // 400 slow streams (a 4 KiB receive window, never read) and one reader,
  // opened 40 at a time (the route queue takes 64 requests at once).
  std::vector<int> slow;
  for (int i = 0; i < 400; ++i) {
    int fd = connect_to(port, 4096);
    REQUIRE(fd >= 0);
    REQUIRE(send_all(fd, "GET /feed HTTP/1.1\r\nHost: x\r\n\r\n"));
    slow.push_back(fd);
    if (i % 40 == 39)
      REQUIRE(eventually_true([&] {
        std::lock_guard<std::mutex> guard{m};
        return static_cast<int>(channels.size()) == i + 1;
      }));
  }
  int reader = connect_to(port);
  REQUIRE(send_all(reader, "GET /feed HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(eventually_true([&] {
    std::lock_guard<std::mutex> guard{m};
    return channels.size() == 401;
  }));
  const int threads_with_streams = thread_count();

  std::atomic<bool> done{false};
  // The producer: 2 KiB to every stream every 10 ms for 6 s (bounded).
  std::atomic<long> pushed_bytes{0};
  std::thread producer([&] {
    const std::string chunk = "data: " + std::string(2042, 'x') + "\n\n";
    const auto end = clock_type::now() + std::chrono::seconds(6);
    while (clock_type::now() < end) {
      std::vector<std::shared_ptr<http::stream_channel>> all;
      {
        std::lock_guard<std::mutex> guard{m};
        all = channels;
      }
      for (auto& c : all)
        if (c->push(chunk))
          pushed_bytes += static_cast<long>(chunk.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    done = true;
  });
  // The reader takes everything.
  std::atomic<long> read_bytes{0};
  std::thread taker([&] {
    char buf[16384];
    while (!done) {
      pollfd p{reader, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      auto n = ::recv(reader, buf, sizeof(buf), 0);
      if (n <= 0)
        break;
      read_bytes += n;
    }
  });
  std::vector<double> probe_ms, route_ms;
  int failures = 0;
  while (!done) {
    auto [ps, pms] = get_once(port, "/healthz");
    auto [rs, rms] = get_once(port, "/api");
    probe_ms.push_back(pms);
    route_ms.push_back(rms);
    failures += (ps != 200) + (rs != 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  producer.join();
  taker.join();
  int cut = 0;
  {
    std::lock_guard<std::mutex> guard{m};
    for (size_t i = 0; i + 1 < channels.size(); ++i)
      cut += channels[i]->closed();
  }
  const bool reader_cut = channels.back()->closed();
  std::sort(probe_ms.begin(), probe_ms.end());
  std::sort(route_ms.begin(), route_ms.end());
  std::printf("400 slow streams + 1 reader, 2 KiB pushed to each every 10 ms for 6 s: threads "
              "%d before, %d with the streams; /healthz %zu asks p50 %.2f ms max %.2f ms; route "
              "p50 %.2f ms max %.2f ms; %d failed; slow streams cut off: %d; the reader took "
              "%.1f MiB (cut: %s)\n",
              threads_before, threads_with_streams, probe_ms.size(),
              probe_ms[probe_ms.size() / 2], probe_ms.back(), route_ms[route_ms.size() / 2],
              route_ms.back(), failures, cut, static_cast<double>(read_bytes) / (1 << 20),
              reader_cut ? "yes" : "no");
  CHECK(threads_with_streams == threads_before); // a stream holds no thread
  CHECK(failures == 0);
  CHECK(probe_ms.back() < 1000); // sanity bounds; the figures above are the result
  CHECK(route_ms.back() < 1000);
  CHECK(probe_ms.size() > 50);
  CHECK(cut == 400);            // every client that read nothing was cut off
  CHECK_FALSE(reader_cut);      // the one that reads is served throughout
  CHECK(read_bytes > 512 * 1024);
  for (int fd : slow)
    ::close(fd);
  ::close(reader);
}

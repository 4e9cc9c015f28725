#include "taskrt/http/health_server.hpp"

#include "taskrt/http/request_head.hpp"
#include "taskrt/metrics/registry.hpp"
#include "taskrt/metrics/taskrt_metrics.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace taskrt::http {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr uint64_t listen_key = 0;
constexpr uint64_t wake_key = 1;

/// Where a connection is in its request/answer cycle.
enum class phase : uint8_t {
  idle,    ///< no byte of the next request yet
  head,    ///< receiving a request head
  body,    ///< receiving a request body
  waiting, ///< its request is on a lane; nothing is read meanwhile
  writing, ///< its answer is being written
  streaming, ///< a long-lived answer (stream_channel): written as it comes
};

struct connection {
  int fd = -1;
  phase ph = phase::idle;
  std::string in;
  std::string out;
  size_t out_off = 0;
  clock_type::time_point deadline;
  clock_type::time_point active; ///< last byte received or answer written
  int served = 0;
  bool close_after = false;
  bool head_only = false; ///< a HEAD request: no body in the answer
  std::string label;      ///< the path label of taskrt_http_requests_total
  request_head req;
  size_t body_reserved = 0;
  std::shared_ptr<stream_channel> stream; ///< phase::streaming
  SSL* ssl = nullptr;                     ///< HTTPS (use_tls): the session
};

/// recv(2) through TLS when the connection has it: -1 with errno EAGAIN
/// while TLS waits for the peer, ECONNRESET on a TLS error.
ssize_t conn_recv(connection& c, char* buf, size_t n) {
  if (!c.ssl)
    return ::recv(c.fd, buf, n, 0);
  ERR_clear_error();
  const int r = SSL_read(c.ssl, buf, static_cast<int>(n));
  if (r > 0)
    return r;
  const int e = SSL_get_error(c.ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (e == SSL_ERROR_ZERO_RETURN)
    return 0;
  errno = ECONNRESET;
  return -1;
}

/// send(2) through TLS when the connection has it (as conn_recv).
ssize_t conn_send(connection& c, const char* data, size_t n) {
  if (!c.ssl)
    return ::send(c.fd, data, n, MSG_NOSIGNAL);
  ERR_clear_error();
  const int r = SSL_write(c.ssl, data, static_cast<int>(n));
  if (r > 0)
    return r;
  const int e = SSL_get_error(c.ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  errno = ECONNRESET;
  return -1;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 303: return "See Other";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 409: return "Conflict";
    case 422: return "Unprocessable Entity";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

response text(int status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response probe_answer(const std::function<probe_result()>& fn, const char* ok_body) {
  probe_result r;
  try {
    r = fn ? fn() : probe_result{false, "no probe"};
  } catch (const std::exception& e) {
    r = {false, e.what()};
  }
  return text(r.ok ? 200 : 503, (r.ok ? std::string{ok_body} : r.reason) + "\n");
}

} // namespace

/// Wakes the front thread for a stream with bytes to write; outlives the
/// server's impl (channels may be pushed to after the server stopped).
class stream_waker {
public:
  explicit stream_waker(health_server::impl* s) : srv_(s) {}
  void wake(uint64_t id);
  void detach() {
    std::lock_guard<std::mutex> guard{m_};
    srv_ = nullptr;
  }

private:
  std::mutex m_;
  health_server::impl* srv_;
};

bool stream_channel::push(const std::string& bytes) {
  std::shared_ptr<stream_waker> w;
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> guard{m_};
    if (closed_)
      return false;
    if (pending_.size() + bytes.size() > max_pending_) {
      closed_ = true; // too far behind: cut off; it resumes with Last-Event-ID
      pending_.clear();
    } else {
      pending_ += bytes;
    }
    w = waker_;
    id = id_;
  }
  if (w)
    w->wake(id);
  return !closed();
}

bool stream_channel::closed() const {
  std::lock_guard<std::mutex> guard{m_};
  return closed_;
}

void stream_channel::close() {
  std::shared_ptr<stream_waker> w;
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> guard{m_};
    closed_ = true;
    w = waker_;
    id = id_;
  }
  if (w)
    w->wake(id);
}

std::string stream_channel::take() {
  std::lock_guard<std::mutex> guard{m_};
  std::string out;
  out.swap(pending_);
  return out;
}

void stream_channel::attach(std::shared_ptr<stream_waker> w, uint64_t id) {
  {
    std::lock_guard<std::mutex> guard{m_};
    waker_ = std::move(w);
    id_ = id;
  }
}

struct health_server::impl {
  health_server& owner;
  const server_limits lim;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::thread front;

  // Probe lane: the connections waiting for each probe.
  std::mutex probe_m;
  std::condition_variable probe_cv;
  std::vector<uint64_t> live_waiting, ready_waiting;
  bool probe_stop = false;
  std::thread probe_thread;

  // Route lane.
  std::mutex route_m;
  std::condition_variable route_cv;
  std::deque<std::function<void()>> route_jobs;
  bool route_stop = false;
  std::vector<std::thread> route_threads;

  // Answers from the lanes, for the front thread.
  std::mutex done_m;
  std::vector<std::pair<uint64_t, response>> done;

  // Streams with something to write (or closed), for the front thread.
  std::mutex stream_m;
  std::vector<uint64_t> stream_ready;
  std::shared_ptr<stream_waker> waker = std::make_shared<stream_waker>(this);

  // Front thread only.
  std::unordered_map<uint64_t, connection> conns;
  uint64_t next_id = 2;
  size_t body_total = 0;
  clock_type::time_point accept_paused_until{};

  impl(health_server& o, server_limits l) : owner(o), lim(l) {}

  // --- lanes --------------------------------------------------------------

  void complete(uint64_t id, response r) {
    {
      std::lock_guard<std::mutex> guard{done_m};
      done.emplace_back(id, std::move(r));
    }
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof(one));
  }

  void probe_loop() {
    for (;;) {
      std::vector<uint64_t> live, ready;
      {
        std::unique_lock<std::mutex> lock{probe_m};
        probe_cv.wait(lock, [&] {
          return probe_stop || !live_waiting.empty() || !ready_waiting.empty();
        });
        if (probe_stop)
          return;
        live.swap(live_waiting);
        ready.swap(ready_waiting);
      }
      // One call answers every probe that waited for it.
      if (!live.empty()) {
        auto r = probe_answer(owner.current_probe(&probes::live), "ok");
        for (auto id : live)
          complete(id, r);
      }
      if (!ready.empty()) {
        auto r = probe_answer(owner.current_probe(&probes::ready), "ready");
        for (auto id : ready)
          complete(id, r);
      }
    }
  }

  void route_loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock{route_m};
        route_cv.wait(lock, [&] { return route_stop || !route_jobs.empty(); });
        if (route_stop)
          return;
        job = std::move(route_jobs.front());
        route_jobs.pop_front();
      }
      job();
    }
  }

  // --- front --------------------------------------------------------------

  void watch(int fd, uint64_t key, uint32_t events, int op = EPOLL_CTL_MOD) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = key;
    ::epoll_ctl(epoll_fd, op, fd, &ev);
  }

  void close_conn(uint64_t id) {
    auto i = conns.find(id);
    if (i == conns.end())
      return;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, i->second.fd, nullptr);
    if (i->second.ssl)
      SSL_free(i->second.ssl);
    ::close(i->second.fd);
    if (i->second.stream)
      i->second.stream->close();
    body_total -= i->second.body_reserved;
    conns.erase(i);
  }

  /// Closes the least recently active connection that is not waiting for or
  /// receiving its answer; false when there is none.
  bool evict_one() {
    auto victim = conns.end();
    for (auto i = conns.begin(); i != conns.end(); ++i) {
      const auto ph = i->second.ph;
      if (ph == phase::waiting || ph == phase::writing)
        continue;
      if (victim == conns.end() || i->second.active < victim->second.active)
        victim = i;
    }
    if (victim == conns.end())
      return false;
    close_conn(victim->first);
    return true;
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR)
          continue;
        if ((errno == EMFILE || errno == ENFILE) && evict_one())
          continue;
        if (errno == EMFILE || errno == ENFILE) { // nothing to evict: wait a little
          accept_paused_until = clock_type::now() + std::chrono::milliseconds(100);
          watch(listen_fd, listen_key, 0);
        }
        return;
      }
      if (conns.size() >= lim.max_connections && !evict_one()) {
        ::close(fd);
        continue;
      }
      const auto now = clock_type::now();
      const auto id = next_id++;
      auto& c = conns[id];
      c.fd = fd;
      if (owner.tls_ctx_) {
        c.ssl = SSL_new(static_cast<SSL_CTX*>(owner.tls_ctx_));
        if (!c.ssl || SSL_set_fd(c.ssl, fd) != 1) {
          if (c.ssl)
            SSL_free(c.ssl);
          ::close(fd);
          conns.erase(id);
          continue;
        }
        SSL_set_accept_state(c.ssl);
      }
      c.active = now;
      c.deadline = now + lim.idle_timeout;
      watch(fd, id, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
    }
  }

  /// Starts writing `r` on connection `id`; false when it was closed.
  bool answer(uint64_t id, const response& r) {
    auto& c = conns.at(id);
    metrics::record_http_request(c.label, r.status);
    const bool streaming = r.stream && !c.head_only;
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status)
                      + "\r\nContent-Type: " + r.content_type;
    if (!streaming)
      out += "\r\nContent-Length: " + std::to_string(r.body.size());
    for (const auto& [name, value] : r.headers)
      out += "\r\n" + name + ": " + value;
    out += std::string{"\r\nConnection: "} + (c.close_after || streaming ? "close" : "keep-alive")
           + "\r\n\r\n";
    if (!c.head_only)
      out += r.body;
    c.out = std::move(out);
    c.out_off = 0;
    c.ph = phase::writing;
    c.deadline = clock_type::now() + lim.write_timeout;
    if (streaming) {
      // What a stream's client has not taken waits in its channel, which
      // is bounded; a small kernel buffer keeps hundreds of streams cheap.
      int sndbuf = 64 * 1024;
      ::setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
      c.ph = phase::streaming;
      c.stream = r.stream;
      c.in.clear();
      r.stream->attach(waker, id);
      c.out += r.stream->take();
    } else if (r.stream) {
      r.stream->close();
    }
    return flush(id);
  }

  /// An answer to a request that cannot go on: the connection closes after.
  bool refuse(uint64_t id, int status, std::string why, bool keep_label = false) {
    auto& c = conns.at(id);
    c.close_after = true;
    if (!keep_label)
      c.label = "other";
    // JSON like every answer of the API: {"error", "detail"}.
    const char* kind = status == 413   ? "too_large"
                       : status == 431 ? "head_too_large"
                       : status == 501 ? "not_implemented"
                       : status == 503 ? "unavailable"
                                       : "bad_request";
    std::string detail;
    for (char ch : why) { // the reasons are ASCII; quote what JSON needs
      if (ch == '"' || ch == '\\')
        detail += '\\';
      detail += ch;
    }
    response r{status, "application/json",
               std::string{"{\"error\":\""} + kind + "\",\"detail\":\"" + detail + "\"}\n"};
    if (status == 503)
      r.headers.emplace_back("Retry-After", "1");
    return answer(id, r);
  }

  /// Writes what the socket takes; false when the connection was closed.
  bool flush(uint64_t id) {
    auto& c = conns.at(id);
    while (c.out_off < c.out.size()) {
      auto n = conn_send(c, c.out.data() + c.out_off, c.out.size() - c.out_off);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        watch(c.fd, id, EPOLLOUT);
        return true;
      }
      close_conn(id);
      return false;
    }
    if (c.ph == phase::streaming) {
      c.out.clear();
      c.out_off = 0;
      c.active = clock_type::now();
      c.out = c.stream->take();
      if (!c.out.empty())
        return flush(id);
      if (c.stream->closed()) {
        close_conn(id);
        return false;
      }
      c.deadline = clock_type::time_point::max();
      watch(c.fd, id, EPOLLIN | EPOLLRDHUP);
      return true;
    }
    if (c.close_after) {
      close_conn(id);
      return false;
    }
    const auto now = clock_type::now();
    c.out.clear();
    c.out.shrink_to_fit();
    c.active = now;
    c.ph = phase::idle;
    c.deadline = now + lim.idle_timeout;
    watch(c.fd, id, EPOLLIN | EPOLLRDHUP);
    if (!c.in.empty()) { // the next request came along (pipelined)
      c.ph = phase::head;
      c.deadline = now + lim.request_timeout;
      return process(id);
    }
    if (c.ssl && SSL_pending(c.ssl) > 0) { // TLS holds bytes epoll cannot see
      on_readable(id);
      return conns.count(id) > 0;
    }
    return true;
  }

  /// Hands a complete request to its lane or answers it; false when the
  /// connection was closed.
  bool dispatch(uint64_t id, std::string body) {
    auto& c = conns.at(id);
    ++c.served;
    c.close_after = !c.req.keep_alive || c.served >= lim.max_requests_per_connection;
    c.head_only = c.req.method == "HEAD";
    const auto& path = c.req.path;
    const bool get = c.req.method == "GET" || c.req.method == "HEAD";
    if (path == "/healthz" || path == "/readyz") {
      c.label = path;
      if (!get)
        return answer(id, text(405, "method not allowed: " + path + " answers GET\n"));
      c.ph = phase::waiting;
      c.deadline = clock_type::time_point::max();
      watch(c.fd, id, 0);
      {
        std::lock_guard<std::mutex> guard{probe_m};
        (path == "/healthz" ? live_waiting : ready_waiting).push_back(id);
      }
      probe_cv.notify_one();
      return true;
    }
    auto route = owner.routes_.find(path);
    if (route == owner.routes_.end()) {
      // The longest prefix route that matches.
      route = owner.prefix_routes_.end();
      for (auto i = owner.prefix_routes_.begin(); i != owner.prefix_routes_.end(); ++i)
        if (path.compare(0, i->first.size(), i->first) == 0
            && (route == owner.prefix_routes_.end() || i->first.size() > route->first.size()))
          route = i;
      if (route == owner.prefix_routes_.end()) {
        c.label = "other";
        return answer(id,
                      text(404, "not found: " + path + " (try /healthz, /readyz, /metrics)\n"));
      }
      c.label = route->first + "*";
    } else {
      c.label = path;
    }
    request req{c.req.method, path, c.req.target, std::move(body), std::move(c.req.headers),
                c.ssl != nullptr};
    bool queued = false;
    {
      std::lock_guard<std::mutex> guard{route_m};
      if (route_jobs.size() < lim.max_route_queue) {
        queued = true;
        route_jobs.emplace_back([this, id, req = std::move(req), handler = route->second] {
          response r;
          try {
            r = handler(req);
          } catch (const std::exception& e) {
            r = text(500, std::string{"internal error: "} + e.what() + "\n");
          }
          complete(id, std::move(r));
        });
      }
    }
    if (!queued)
      return refuse(id, 503, "busy: too many requests in progress", true);
    c.ph = phase::waiting;
    c.deadline = clock_type::time_point::max();
    watch(c.fd, id, 0);
    route_cv.notify_one();
    return true;
  }

  /// Parses what arrived; false when the connection was closed.
  bool process(uint64_t id) {
    auto& c = conns.at(id);
    if (c.ph == phase::idle || c.ph == phase::head) {
      size_t consumed = 0;
      switch (parse_request_head(c.in, lim.max_head_bytes, c.req, consumed)) {
        case head_status::incomplete:
          return true;
        case head_status::too_large:
          return refuse(id, 431, "request head over " + std::to_string(lim.max_head_bytes)
                                   + " bytes");
        case head_status::bad:
          return refuse(id, 400, "not an HTTP/1.1 request");
        case head_status::complete:
          break;
      }
      c.in.erase(0, consumed);
      if (c.req.chunked)
        return refuse(id, 501, "Transfer-Encoding is not supported: send Content-Length");
      if (c.req.content_length > lim.max_body_bytes)
        return refuse(id, 413, "request body of " + std::to_string(c.req.content_length)
                                 + " bytes, over the limit of "
                                 + std::to_string(lim.max_body_bytes));
      if (c.req.content_length > lim.max_body_bytes_total - body_total)
        return refuse(id, 503, "busy: too many request bodies in progress");
      c.body_reserved = c.req.content_length;
      body_total += c.body_reserved;
      c.in.reserve(c.req.content_length + 16 * 1024); // one allocation, not doubling
      c.ph = phase::body;
    }
    if (c.ph == phase::body) {
      if (c.in.size() < c.req.content_length)
        return true;
      std::string body = c.in.substr(0, c.req.content_length);
      c.in.erase(0, c.req.content_length);
      body_total -= c.body_reserved;
      c.body_reserved = 0;
      return dispatch(id, std::move(body));
    }
    return true;
  }

  void on_readable(uint64_t id) {
    char buf[16 * 1024];
    for (;;) {
      auto& c = conns.at(id);
      if (c.ph == phase::waiting || c.ph == phase::writing)
        return;
      auto n = conn_recv(c, buf, sizeof(buf));
      if (c.ph == phase::streaming) { // a stream's client has nothing to say
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
          close_conn(id);
        if (n > 0 || (n < 0 && errno == EINTR))
          continue;
        return;
      }
      if (n == 0) {
        close_conn(id);
        return;
      }
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
          close_conn(id);
        return;
      }
      const auto now = clock_type::now();
      c.active = now;
      if (c.ph == phase::idle) {
        c.ph = phase::head;
        c.deadline = now + lim.request_timeout; // the whole request, however it trickles
      }
      c.in.append(buf, static_cast<size_t>(n));
      if (!process(id))
        return;
    }
  }

  void take_answers() {
    uint64_t count = 0;
    [[maybe_unused]] auto n = ::read(wake_fd, &count, sizeof(count));
    std::vector<std::pair<uint64_t, response>> ready;
    {
      std::lock_guard<std::mutex> guard{done_m};
      ready.swap(done);
    }
    for (auto& [id, r] : ready) {
      auto i = conns.find(id);
      if (i == conns.end() || i->second.ph != phase::waiting) {
        if (r.stream)
          r.stream->close(); // closed meanwhile
        continue;
      }
      answer(id, r);
    }
    std::vector<uint64_t> streams;
    {
      std::lock_guard<std::mutex> guard{stream_m};
      streams.swap(stream_ready);
    }
    for (auto id : streams) {
      auto i = conns.find(id);
      if (i == conns.end() || i->second.ph != phase::streaming)
        continue;
      auto& c = i->second;
      if (c.out_off < c.out.size())
        continue; // still writing: flush() takes the rest when it is done
      c.out = c.stream->take();
      c.out_off = 0;
      if (!c.out.empty())
        c.deadline = clock_type::now() + lim.write_timeout;
      flush(id);
    }
  }

  /// Closes the connections past their deadline.
  void sweep(clock_type::time_point now) {
    std::vector<uint64_t> expired;
    for (const auto& [id, c] : conns)
      if (c.deadline <= now)
        expired.push_back(id);
    for (auto id : expired)
      close_conn(id);
    if (accept_paused_until != clock_type::time_point{} && now >= accept_paused_until) {
      accept_paused_until = {};
      watch(listen_fd, listen_key, EPOLLIN);
    }
  }

  void front_loop() {
    std::vector<epoll_event> events(256);
    auto last_sweep = clock_type::now();
    while (!stopping.load()) {
      const int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 50);
      for (int i = 0; i < n; ++i) {
        const auto key = events[i].data.u64;
        const auto ev = events[i].events;
        if (key == listen_key) {
          accept_all();
          continue;
        }
        if (key == wake_key) {
          take_answers();
          continue;
        }
        auto c = conns.find(key);
        if (c == conns.end())
          continue;
        if (c->second.ph == phase::waiting) {
          if (ev & (EPOLLHUP | EPOLLERR))
            close_conn(key); // gone: its answer is dropped when it comes
          continue;
        }
        if (c->second.ph == phase::writing) {
          if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            flush(key);
          continue;
        }
        if (c->second.ph == phase::streaming) {
          if (ev & (EPOLLERR | EPOLLHUP)) {
            close_conn(key);
            continue;
          }
          if (ev & EPOLLOUT) {
            if (!flush(key))
              continue;
          }
          if (ev & (EPOLLIN | EPOLLRDHUP))
            on_readable(key);
          continue;
        }
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
          on_readable(key);
      }
      const auto now = clock_type::now();
      if (now - last_sweep >= std::chrono::milliseconds(50)) {
        last_sweep = now;
        sweep(now);
      }
    }
    waker->detach();
    for (auto& kv : conns) {
      if (kv.second.ssl)
        SSL_free(kv.second.ssl);
      ::close(kv.second.fd);
      if (kv.second.stream)
        kv.second.stream->close();
    }
    conns.clear();
    ::close(listen_fd);
    listen_fd = -1;
  }

  void stop() {
    if (front.joinable()) {
      stopping = true;
      const uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof(one));
      front.join();
    }
    {
      std::lock_guard<std::mutex> guard{probe_m};
      probe_stop = true;
    }
    probe_cv.notify_all();
    if (probe_thread.joinable())
      probe_thread.join();
    {
      std::lock_guard<std::mutex> guard{route_m};
      route_stop = true;
    }
    route_cv.notify_all();
    for (auto& t : route_threads)
      if (t.joinable())
        t.join();
    route_threads.clear();
    for (int* fd : {&listen_fd, &epoll_fd, &wake_fd})
      if (*fd >= 0) {
        ::close(*fd);
        *fd = -1;
      }
  }
};

void stream_waker::wake(uint64_t id) {
  std::lock_guard<std::mutex> guard{m_};
  if (!srv_)
    return;
  {
    std::lock_guard<std::mutex> g2{srv_->stream_m};
    srv_->stream_ready.push_back(id);
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(srv_->wake_fd, &one, sizeof(one));
}

health_server::health_server(probes p, server_limits limits)
  : probes_(std::move(p)), limits_(limits) {
  add_route("/metrics", [](const request&) {
    response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics::registry::global().render();
    return r;
  });
}

health_server::~health_server() {
  stop();
  if (tls_ctx_)
    SSL_CTX_free(static_cast<SSL_CTX*>(tls_ctx_));
}

caf::expected<void> health_server::use_tls(const std::string& cert_file,
                                           const std::string& key_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx)
    return make_error(errc::unavailable, "cannot create a TLS context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1
      || SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1
      || SSL_CTX_check_private_key(ctx) != 1) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    SSL_CTX_free(ctx);
    return make_error(errc::bad_request, "cannot use " + cert_file + " / " + key_file + ": " + buf);
  }
  if (tls_ctx_)
    SSL_CTX_free(static_cast<SSL_CTX*>(tls_ctx_));
  tls_ctx_ = ctx;
  return caf::unit;
}

void health_server::add_route(const std::string& path, route_handler handler) {
  routes_[path] = std::move(handler);
}

void health_server::add_prefix_route(const std::string& prefix, route_handler handler) {
  prefix_routes_[prefix] = std::move(handler);
}

void health_server::set_probes(probes p) {
  std::lock_guard<std::mutex> guard{probes_mutex_};
  probes_ = std::move(p);
}

std::function<probe_result()> health_server::current_probe(
  std::function<probe_result()> probes::*which) {
  std::lock_guard<std::mutex> guard{probes_mutex_};
  return probes_.*which;
}

caf::expected<void> health_server::start(const std::string& host, int port) {
  stop();
  auto s = std::make_unique<impl>(*this, limits_);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints,
                             &found);
      rc != 0) {
    return make_error(errc::unavailable, host + ": " + ::gai_strerror(rc));
  }
  int last_errno = 0;
  for (auto* a = found; a != nullptr && s->listen_fd < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    // SO_REUSEADDR only: SO_REUSEPORT would let a second process bind the
    // same port and silently share it; a port in use must be an error.
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
      last_errno = errno;
      ::close(fd);
      continue;
    }
    s->listen_fd = fd;
  }
  ::freeaddrinfo(found);
  if (s->listen_fd < 0)
    return make_error(errc::unavailable, std::strerror(last_errno));
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(s->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  s->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  s->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->epoll_fd < 0 || s->wake_fd < 0) {
    const std::string why = std::strerror(errno);
    s->stop();
    return make_error(errc::unavailable, why);
  }
  s->watch(s->listen_fd, listen_key, EPOLLIN, EPOLL_CTL_ADD);
  s->watch(s->wake_fd, wake_key, EPOLLIN, EPOLL_CTL_ADD);
  auto* raw = s.get();
  s->probe_thread = std::thread([raw] { raw->probe_loop(); });
  for (int i = 0; i < 2; ++i)
    s->route_threads.emplace_back([raw] { raw->route_loop(); });
  s->front = std::thread([raw] { raw->front_loop(); });
  impl_ = std::move(s);
  return caf::unit;
}

void health_server::stop() {
  if (impl_)
    impl_->stop();
  impl_.reset();
}

} // namespace taskrt::http

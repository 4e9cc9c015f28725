#pragma once
/// The HTTP server of a head or worker node (`--http-port`), for probes and
/// scrapers:
///   GET /healthz  liveness: 200 "ok" when the process's actors answer, else 503
///   GET /readyz   readiness: 200 "ready" or 503 with the reason (one line)
///   GET /metrics  the process's metrics in the Prometheus text format 0.0.4
/// Anything else is 404. Each answer is counted in taskrt_http_requests_total.
///
/// Probes must answer whatever other clients do, so no client holds a thread:
///
///   front thread (epoll)          all sockets, non-blocking: accepts, reads
///     |                           and parses requests, writes answers, and
///     |                           enforces every limit below
///     +--> probe lane (1 thread)  /healthz and /readyz; the probes pending
///     |                           at once are answered by one call each
///     +--> route lane (2 threads) /metrics and routes added with add_route;
///                                 a handler returns the whole answer, the
///                                 front writes it; or a stream_channel
///                                 (SSE) that others push to and the front
///                                 writes as the client takes it
///
/// A slow or idle client costs a socket and a few KiB, never a thread; a slow
/// handler delays its own lane only. Limits (server_limits): connections
/// (at the cap a new connection closes the least recently active one that
/// is not waiting for or receiving an answer), a deadline for each whole request head and
/// body (a slowloris is closed), an idle keep-alive timeout and a request
/// count per connection, a deadline for writing an answer, request heads and
/// bodies bounded per request and bodies in sum.

#include "taskrt/runtime/protocol.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace taskrt::http {

/// The outcome of a probe: healthy/ready or not, and why (one line).
struct probe_result {
  bool ok = false;
  std::string reason;
};

/// What the endpoints ask; called on the probe lane's thread, so they must
/// be thread-safe and bounded in time (a short request timeout).
struct probes {
  std::function<probe_result()> live;
  std::function<probe_result()> ready;
};

/// A request as a route handler sees it.
struct request {
  std::string method; ///< GET, HEAD, POST, ...
  std::string path;   ///< without the query
  std::string target; ///< path and query as sent
  std::string body;   ///< at most server_limits::max_body_bytes
  std::map<std::string, std::string> headers; ///< by lower-case name
  bool tls = false;   ///< it came over HTTPS

  /// The value of header `lower_name`, or "".
  std::string header(const std::string& lower_name) const {
    auto i = headers.find(lower_name);
    return i == headers.end() ? std::string{} : i->second;
  }
};

class stream_waker;

/// The sending side of a long-lived answer (Server-Sent Events): a route
/// handler returns it in response::stream; the server writes the answer's
/// head, then whatever is pushed, from the front thread (no thread waits for
/// the client). Thread-safe.
class stream_channel {
public:
  /// At most `max_pending` bytes wait for a slow client; past that the
  /// stream is cut (the client reconnects and resumes).
  explicit stream_channel(size_t max_pending = 256 * 1024) : max_pending_(max_pending) {}

  /// Queues `bytes`; false when the stream is closed (the client went, the
  /// server stopped, or the client fell max_pending bytes behind).
  bool push(const std::string& bytes);

  /// True once the stream is closed.
  bool closed() const;

  /// Ends the stream once what is queued is written.
  void close();

  /// The bytes queued since the last call (the server's side).
  std::string take();

  /// Makes push() wake `w` (the server's side).
  void attach(std::shared_ptr<stream_waker> w, uint64_t id);

private:
  mutable std::mutex m_;
  std::string pending_;
  bool closed_ = false;
  size_t max_pending_;
  std::shared_ptr<stream_waker> waker_;
  uint64_t id_ = 0;
};

/// A handler's answer.
struct response {
  response() = default;
  /// Status, content type and body; no more headers, no stream.
  response(int s, std::string type, std::string b)
    : status(s), content_type(std::move(type)), body(std::move(b)) {}

  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  /// More header lines (Retry-After, Set-Cookie, Location, ...).
  std::vector<std::pair<std::string, std::string>> headers;
  /// A long-lived answer: the body is sent first, then what the channel gets
  /// until either side closes (no Content-Length; the connection ends with it).
  std::shared_ptr<stream_channel> stream;
};

/// A route handler; runs on the route lane (never on the front thread).
using route_handler = std::function<response(const request&)>;

/// The limits of the server (defaults as documented in docs/reliability.md).
struct server_limits {
  size_t max_connections = 512;
  /// A request's head and body must arrive within this of its first byte.
  std::chrono::milliseconds request_timeout{5000};
  /// A connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout{5000};
  /// An answer not taken by the client within this closes the connection.
  std::chrono::milliseconds write_timeout{5000};
  int max_requests_per_connection = 100;
  size_t max_head_bytes = 8 * 1024;
  size_t max_body_bytes = size_t{1} << 20;
  /// Bodies being received, all connections together.
  size_t max_body_bytes_total = size_t{16} << 20;
  /// Requests queued for the route lane beyond its busy threads (then 503).
  size_t max_route_queue = 64;
};

/// An HTTP server that answers until stop() or destruction.
class health_server {
public:
  /// A server that answers with `p`, within `limits`.
  explicit health_server(probes p, server_limits limits = {});
  ~health_server();
  health_server(const health_server&) = delete;
  health_server& operator=(const health_server&) = delete;

  /// Serves `handler` for `path` (any method; GET and HEAD alike) on the
  /// route lane. Call before start().
  void add_route(const std::string& path, route_handler handler);

  /// Serves `handler` for every path that starts with `prefix` and has no
  /// exact route (the longest prefix wins); any method. Call before start().
  void add_prefix_route(const std::string& prefix, route_handler handler);

  /// Serves HTTPS with the certificate (chain) and key in these PEM files
  /// (the cluster's, `--http-tls`). Call before start(); errc::bad_request
  /// naming the files when they do not load or match.
  caf::expected<void> use_tls(const std::string& cert_file, const std::string& key_file);

  /// Binds HOST:PORT (0: any free port) and starts serving on a thread;
  /// errc::unavailable with the system's reason when it cannot bind.
  caf::expected<void> start(const std::string& host, int port);

  /// The bound port (after start()).
  int port() const { return port_; }

  /// Answers with `p` from now on (a standby head that became active).
  void set_probes(probes p);

  /// Stops serving and joins the threads.
  void stop();

  struct impl;

private:
  /// The current probe of kind `which` (a copy: set_probes may run at once).
  std::function<probe_result()> current_probe(std::function<probe_result()> probes::*which);

  std::mutex probes_mutex_;
  probes probes_;
  server_limits limits_;
  std::map<std::string, route_handler> routes_;
  std::map<std::string, route_handler> prefix_routes_;
  void* tls_ctx_ = nullptr; ///< SSL_CTX of use_tls()
  std::unique_ptr<impl> impl_;
  int port_ = 0;
};

} // namespace taskrt::http

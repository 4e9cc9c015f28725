#pragma once
/// The HTTP server of a head or worker node (`--http-port`), for probes and
/// scrapers:
///   GET /healthz  liveness: 200 "ok" when the process's actors answer, else 503
///   GET /readyz   readiness: 200 "ready" or 503 with the reason (one line)
///   GET /metrics  the process's metrics in the Prometheus text format 0.0.4
/// Anything else is 404. Each answer is counted in taskrt_http_requests_total.
/// cpp-httplib runs the server on its own threads (two workers), never on
/// CAF's scheduler.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace taskrt::http {

/// The outcome of a probe: healthy/ready or not, and why (one line).
struct probe_result {
  bool ok = false;
  std::string reason;
};

/// What the endpoints ask; called on the server's threads, so they must be
/// thread-safe and bounded in time (a short request timeout).
struct probes {
  std::function<probe_result()> live;
  std::function<probe_result()> ready;
};

/// An HTTP server that answers until stop() or destruction.
class health_server {
public:
  /// A server that answers with `p`.
  explicit health_server(probes p);
  ~health_server();
  health_server(const health_server&) = delete;
  health_server& operator=(const health_server&) = delete;

  /// Binds HOST:PORT (0: any free port) and starts serving on a thread.
  /// Returns false with `error` set when the address cannot be bound.
  bool start(const std::string& host, int port, std::string& error);

  /// The bound port (after start()).
  int port() const { return port_; }

  /// Answers with `p` from now on (a standby head that became active).
  void set_probes(probes p);

  /// Stops serving and joins the thread.
  void stop();

private:
  /// The current probe of kind `which` (a copy: set_probes may run at once).
  std::function<probe_result()> current(std::function<probe_result()> probes::*which);

  std::mutex probes_mutex_;
  probes probes_;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<std::thread> thread_;
  int port_ = 0;
};

} // namespace taskrt::http

#include "http/health_server.hpp"

#include "metrics/registry.hpp"
#include "metrics/taskrt_metrics.hpp"

#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <sys/socket.h>

namespace taskrt::http {

namespace {

void answer(httplib::Response& res, const std::string& path, int code, const std::string& body,
            const char* type = "text/plain; charset=utf-8") {
  res.status = code;
  res.set_content(body, type);
  metrics::record_http_request(path, code);
}

void probe(const std::function<probe_result()>& fn, const std::string& path,
           const char* ok_body, httplib::Response& res) {
  probe_result r;
  try {
    r = fn();
  } catch (const std::exception& e) {
    r = {false, e.what()};
  }
  answer(res, path, r.ok ? 200 : 503, (r.ok ? std::string{ok_body} : r.reason) + "\n");
}

} // namespace

health_server::health_server(probes p) : probes_(std::move(p)) {}

void health_server::set_probes(probes p) {
  std::lock_guard<std::mutex> guard{probes_mutex_};
  probes_ = std::move(p);
}

std::function<probe_result()> health_server::current(std::function<probe_result()> probes::*which) {
  std::lock_guard<std::mutex> guard{probes_mutex_};
  return probes_.*which;
}

health_server::~health_server() {
  stop();
}

bool health_server::start(const std::string& host, int port, std::string& error) {
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->set_keep_alive_max_count(10);
  // cpp-httplib's default adds SO_REUSEPORT, which lets a second process bind
  // the same port and silently share it; a port in use must be an error.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    probe(current(&probes::live), "/healthz", "ok", res);
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    probe(current(&probes::ready), "/readyz", "ready", res);
  });
  server_->Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
    answer(res, "/metrics", 200, metrics::registry::global().render(),
           "text/plain; version=0.0.4; charset=utf-8");
  });
  // Called for every answer >= 400, ours included (503 from a probe):
  // only the unrouted ones (404) are answered and counted here.
  server_->set_error_handler(httplib::Server::HandlerWithResponse{
    [](const httplib::Request& req, httplib::Response& res) -> httplib::Server::HandlerResponse {
      if (res.status != 404)
        return httplib::Server::HandlerResponse::Unhandled;
      answer(res, "other", 404,
             "not found: " + req.path + " (try /healthz, /readyz, /metrics)\n");
      return httplib::Server::HandlerResponse::Handled;
    }});
  if (port == 0) {
    port_ = server_->bind_to_any_port(host.c_str());
    if (port_ < 0) {
      error = std::strerror(errno);
      return false;
    }
  } else {
    errno = 0;
    if (!server_->bind_to_port(host.c_str(), port)) {
      error = std::strerror(errno);
      return false;
    }
    port_ = port;
  }
  auto ended = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::make_unique<std::thread>([this, ended] {
    server_->listen_after_bind();
    *ended = true;
  });
  // stop() before the accept loop runs would be missed by cpp-httplib (and
  // the join would wait forever): return once it runs (or ended at once).
  while (!server_->is_running() && !*ended)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (*ended) {
    error = "the HTTP server stopped at once";
    return false;
  }
  return true;
}

void health_server::stop() {
  if (server_)
    server_->stop();
  if (thread_ && thread_->joinable())
    thread_->join();
  thread_.reset();
}

} // namespace taskrt::http

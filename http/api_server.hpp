#pragma once
/// The head's JSON API under /api/v1 (docs/cli.md "HTTP API"), served on
/// the health_server's route lane, with its access control:
///
///   Authorization: Bearer TOKEN  (taskrt tokens add NAME --role viewer|operator)
///   Cookie: taskrt_session=...   (a browser session opened by the one-time
///                                 link of `taskrt dashboard`: GET /login?token=)
///
/// Without either only /healthz, /readyz and /metrics answer (401 here).
/// Viewers may GET; operators may also submit, cancel and retry. A write
/// authenticated by the cookie must carry an Origin equal to the server's
/// own (CSRF). Writes go through the head's scheduler actor (answered after
/// their commit), carry origin "http NAME" into the journal (shown by
/// `tasks describe`) and leave a row in api_audit. Every error is
/// {"error": KIND, "detail": TEXT}. CORS headers only for the configured
/// origin.

#include "taskrt/http/health_server.hpp"
#include "taskrt/persistence/access_store.hpp"
#include "taskrt/runtime/protocol.hpp"

#include <memory>
#include <optional>
#include <string>

namespace taskrt::http {

/// Settings of the API.
struct api_config {
  std::string dsn;            ///< the journal's database
  std::string cors_origin;    ///< the one origin allowed cross-site; empty: CORS off
  std::string node_id = "head";
  double request_timeout_s = 10; ///< a call to the scheduler
};

struct api_state;

/// The API of one head. Routes are added before the server starts; until
/// activate() (a standby, a head still recovering) they answer 503.
class api_server {
public:
  explicit api_server(api_config cfg);
  ~api_server();
  api_server(const api_server&) = delete;
  api_server& operator=(const api_server&) = delete;

  /// Adds /api/v1/*, /login and /logout to `server` (before its start()).
  void install(health_server& server);

  /// From now on the API asks `head` in `sys` (the head is active).
  void activate(caf::actor_system& sys, head_actor head);

  /// Stops the event feed and the calls to the head (before `sys` goes).
  void deactivate();

  /// Who sent `req`: a valid bearer token or session cookie; nothing with
  /// `why` set otherwise (`down` set too when Postgres could not be asked
  /// and the credentials were not checked within the last minute). For the
  /// dashboard's own routes too.
  std::optional<api_principal> authenticate(const request& req, std::string& why,
                                            bool* down = nullptr);

  /// The error answer for a request authenticate() refused: 401, or 503
  /// with Retry-After when `down` (JSON).
  static response unauthorized(const std::string& why, bool down = false);

private:
  std::shared_ptr<api_state> state_;
};

} // namespace taskrt::http

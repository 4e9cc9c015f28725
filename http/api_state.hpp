#pragma once
/// What the handlers of the API share (internal to http/api_*.cpp).

#include "taskrt/http/api_server.hpp"
#include "taskrt/http/event_feed.hpp"
#include "taskrt/persistence/journal_store.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace taskrt::http {

using json = nlohmann::json;

/// A pool of connections of type T (journal_store, access_store), one per
/// concurrent user, created when first needed.
template <class T>
class store_pool {
public:
  explicit store_pool(std::function<std::unique_ptr<T>()> make) : make_(std::move(make)) {}

  /// Runs f(T&) on a pooled store; a store that threw goes back anyway
  /// (it reconnects by itself on its next call).
  template <class F>
  auto with(F&& f) -> decltype(f(std::declval<T&>())) {
    std::unique_ptr<T> s;
    {
      std::lock_guard<std::mutex> guard{m_};
      if (!free_.empty()) {
        s = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!s)
      s = make_();
    struct give_back {
      store_pool* p;
      std::unique_ptr<T>& s;
      ~give_back() {
        std::lock_guard<std::mutex> guard{p->m_};
        p->free_.push_back(std::move(s));
      }
    } back{this, s};
    return f(*s);
  }

private:
  std::function<std::unique_ptr<T>()> make_;
  std::mutex m_;
  std::vector<std::unique_ptr<T>> free_;
};

/// The shared state of one api_server.
struct api_state {
  api_config cfg;
  store_pool<journal_store> journal;
  store_pool<access_store> access;
  std::unique_ptr<event_feed> feed;

  /// Credentials checked within the last minute (by their hash): they
  /// still pass while Postgres cannot be asked, so a submit reaches the
  /// head, which answers for the journal itself.
  std::mutex seen_m;
  std::map<std::string, std::pair<api_principal, std::chrono::steady_clock::time_point>> seen;

  std::mutex head_m;
  caf::actor_system* sys = nullptr;
  head_actor head;

  explicit api_state(api_config c);

  /// The system and head, or nothing while not active.
  bool active(caf::actor_system*& s, head_actor& h);
};

/// An error answer: {"error": kind, "detail": detail} (+ `extra` fields).
response json_error(int status, const std::string& kind, const std::string& detail,
                    json extra = json::object());

/// A JSON answer.
response json_answer(int status, const json& body);

/// 503 with Retry-After: the journal or the head cannot answer now.
response unavailable(const std::string& detail, int retry_after_s = 2);

/// The answer for a caf::error of the scheduler (404, 409, 422, 503).
response head_error(const caf::error& e, caf::actor_system& sys);

/// The query parameters of `target`, decoded; a repeated name keeps every value.
std::multimap<std::string, std::string> query_params(const std::string& target);

/// Percent-decodes `s` ('+' is a space).
std::string url_decode(const std::string& s);

/// A request as the handlers get it: who sent it and the matched id.
struct api_call {
  const request& req;
  api_principal who;
  int64_t id = 0; ///< /tasks/{id}...
};

/// Asks the head `msg...` and waits up to the configured timeout.
template <class R, class... Ts>
caf::expected<R> ask_head(api_state& st, Ts&&... xs) {
  caf::actor_system* sys = nullptr;
  head_actor head;
  if (!st.active(sys, head))
    return make_error(errc::unavailable, "this head is not active (standby or starting)");
  caf::scoped_actor self{*sys};
  caf::expected<R> out{caf::error{}};
  self
    ->request(head, std::chrono::milliseconds(static_cast<int64_t>(st.cfg.request_timeout_s * 1000)),
              std::forward<Ts>(xs)...)
    .receive([&](R& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
  return out;
}

// Handlers (api_tasks.cpp, api_cluster.cpp).
response submit_task(api_state& st, const api_call& c);
response list_tasks(api_state& st, const api_call& c);
response describe_task(api_state& st, const api_call& c);
response cancel_task(api_state& st, const api_call& c);
response retry_task(api_state& st, const api_call& c);
response bulk_cancel(api_state& st, const api_call& c);
response bulk_retry(api_state& st, const api_call& c);
response get_status(api_state& st, const api_call& c);
response get_nodes(api_state& st, const api_call& c);
response get_queues(api_state& st, const api_call& c);
response get_summary(api_state& st, const api_call& c);
response get_events(api_state& st, const api_call& c);

/// The OpenAPI 3 document of the API (api_openapi.cpp).
const json& openapi_document();

/// The journal origin of an action through the API: "http NAME".
inline std::string origin_of(const api_principal& who) { return "http " + who.name; }

} // namespace taskrt::http

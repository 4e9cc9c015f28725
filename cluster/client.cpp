#include "taskrt/cluster/client.hpp"

#include "taskrt/cluster/frame_guard.hpp"
#include "taskrt/cluster/head_coalescer.hpp"
#include "taskrt/cluster/head_addresses.hpp"
#include "taskrt/cluster/head_node.hpp"
#include "taskrt/cluster/net_config.hpp"
#include "taskrt/runtime/limits.hpp"

#include <caf/io/all.hpp>

#include <future>
#include <thread>

namespace taskrt {

struct client::impl {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  head_actor head; ///< the coalescer in front of the head (cluster/head_coalescer.hpp)
  std::string error;
  std::vector<head_address> addrs;
  size_t index = 0;

  explicit impl(const tls_options& tls) {
    configure_network(cfg);
    if (!tls.dir.empty()) {
      try {
        configure_tls(cfg, resolve_tls(tls, {"client"}));
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  void connect() {
    drop_head();
    auto h = connect_any_head(*sys, addrs, index);
    if (h) {
      head = spawn_head_coalescer(*sys, *h);
      error.clear();
    } else {
      error = error_message(h.error());
    }
  }

  /// Lets the coalescer go (it quits by itself when the head is lost).
  void drop_head() {
    if (head)
      caf::anon_send_exit(head, caf::exit_reason::user_shutdown);
    head = nullptr;
  }

  /// One request; `lost` tells that the head went away (or never answered
  /// over a broken connection) rather than replied with an error.
  template <class T, class... Ts>
  caf::expected<T> ask_once(std::chrono::seconds timeout, bool& lost, Ts... xs) {
    lost = false;
    auto result = std::make_shared<std::promise<std::pair<caf::expected<T>, bool>>>();
    auto done = result->get_future();
    auto target = head;
    sys->spawn([=](caf::event_based_actor* self) {
      auto finish = [=](caf::expected<T> x, bool gone) {
        result->set_value({std::move(x), gone});
        self->quit();
      };
      self->monitor(target);
      self->set_down_handler([=](caf::down_msg& d) {
        finish(make_error(errc::unavailable, "lost the head: " + self->system().render(d.reason)),
               true);
      });
      self->request(target, timeout, xs...)
        .then([=](T& x) { finish(std::move(x), false); },
              [=](caf::error& e) {
                const bool gone = taskrt_code(e) == 0 && e != caf::sec::request_timeout;
                finish(taskrt_code(e) != 0 ? e
                                           : make_error(errc::unavailable,
                                                        "the head did not answer: "
                                                          + self->system().render(e)),
                       gone);
              });
    });
    auto r = done.get();
    lost = r.second;
    return std::move(r.first);
  }

  template <class T, class... Ts>
  caf::expected<T> ask(std::chrono::seconds timeout, Ts&&... xs) {
    if (!head && addrs.size() > 1)
      connect();
    if (!head)
      return make_error(errc::unavailable, error);
    bool lost = false;
    auto r = ask_once<T>(timeout, lost, xs...);
    if (!lost || addrs.size() < 2)
      return r; // one address: the caller decides what a lost head means
    // The head is gone: follow a takeover to whichever address answers.
    drop_head();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!head && std::chrono::steady_clock::now() < deadline) {
      connect();
      if (!head)
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    if (!head)
      return make_error(errc::unavailable, "lost the head and none of " + join_head_addresses(addrs)
                                             + " answered in 30 s (each tried in turn every "
                                               "250 ms); the last round: "
                                             + error);
    return ask_once<T>(timeout, lost, xs...);
  }
};

client::client(const std::string& host, uint16_t port, const tls_options& tls)
  : impl_(new impl(tls)) {
  if (!impl_->error.empty())
    return; // the TLS material is unusable: never fall back to plaintext
  impl_->addrs.push_back({host, port});
  impl_->connect();
}

client::client(const local_head& where) {
  const auto dir = where.data_dir.empty() ? default_data_dir() : where.data_dir;
  auto sf = read_state_file(dir);
  tls_options tls;
  if (sf && sf->tls)
    tls.dir = sf->tls_dir;
  impl_.reset(new impl(tls));
  if (!sf || sf->port == 0) {
    impl_->error = "no head found: " + dir + "/head.json "
                   + (sf ? "names no port" : "does not exist")
                   + " (start one with `start --head`, or give its address)";
    return;
  }
  if (!impl_->error.empty())
    return;
  impl_->addrs.push_back({sf->host, sf->port});
  impl_->connect();
}

client::client(const std::string& addresses, const tls_options& tls) : impl_(new impl(tls)) {
  if (!impl_->error.empty())
    return;
  auto addrs = parse_head_addresses(addresses);
  if (!addrs) {
    impl_->error = error_message(addrs.error());
    return;
  }
  impl_->addrs = std::move(*addrs);
  impl_->connect();
}

std::string client::address() const {
  return impl_->head && !impl_->addrs.empty() ? impl_->addrs[impl_->index].str() : std::string{};
}

client::~client() {
  impl_->drop_head();
}

bool client::connected() const {
  return static_cast<bool>(impl_->head);
}

const std::string& client::connect_error() const {
  return impl_->error;
}

head_actor client::head() const {
  return impl_->head;
}

caf::actor_system& client::system() {
  return *impl_->sys;
}

caf::expected<int64_t> client::submit(const task_spec& spec) {
  if (auto e = check_task_spec(spec)) // before anything goes over the wire
    return make_error(errc::bad_request, *e);
  return impl_->ask<int64_t>(std::chrono::seconds(60), submit_atom::value, spec);
}

caf::expected<std::vector<int64_t>> client::submit_many(const std::vector<task_spec>& specs) {
  if (specs.empty())
    return std::vector<int64_t>{};
  // The same checks as submit(), naming the index; and the batch must fit
  // one frame of the cluster protocol (cluster/frame_guard.hpp).
  size_t bytes = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (auto e = check_task_spec(specs[i]))
      return make_error(errc::bad_request,
                        "task " + std::to_string(i) + " of the batch: " + *e);
    const auto& s = specs[i];
    bytes += s.name.size() + s.args.size() + s.queue.size() + s.lock.size() + s.policy.size()
             + s.origin.size() + s.key.size() + 64;
  }
  if (bytes > max_frame_bytes() / 2)
    return make_error(errc::bad_request,
                      "a batch of " + std::to_string(specs.size()) + " tasks is about "
                        + std::to_string(bytes) + " bytes, over half the cluster frame limit ("
                        + std::to_string(max_frame_bytes()) + "); submit it in smaller batches");
  return impl_->ask<std::vector<int64_t>>(std::chrono::seconds(60), submit_atom::value, specs);
}

caf::expected<task_outcome> client::await(int64_t id, std::chrono::seconds timeout) {
  return impl_->ask<task_outcome>(timeout, await_atom::value, id);
}

caf::expected<std::vector<task_outcome>>
client::await_many(const std::vector<int64_t>& ids, std::chrono::seconds timeout) {
  // One request per chunk (the head answers a chunk once all of it is final;
  // a chunk bounds the size of the answer).
  constexpr size_t chunk = 256;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<task_outcome> out;
  out.reserve(ids.size());
  for (size_t from = 0; from < ids.size(); from += chunk) {
    // Each chunk gets what is left of the shared timeout (at least 1 s:
    // tasks already final answer at once).
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(
      deadline - std::chrono::steady_clock::now());
    std::vector<int64_t> part(ids.begin() + static_cast<ptrdiff_t>(from),
                              ids.begin() + static_cast<ptrdiff_t>(std::min(ids.size(), from + chunk)));
    auto r = impl_->ask<std::vector<task_outcome>>(std::max(left, std::chrono::seconds(1)),
                                                   await_atom::value, std::move(part));
    if (!r)
      return std::move(r.error());
    for (auto& o : *r)
      out.push_back(std::move(o));
  }
  return out;
}

caf::expected<task_state> client::cancel(int64_t id, const std::string& origin) {
  return impl_->ask<task_state>(std::chrono::seconds(60), cancel_atom::value, id, origin);
}

caf::expected<int64_t> client::retry(const manual_retry_msg& msg) {
  return impl_->ask<int64_t>(std::chrono::seconds(60), mretry_atom::value, msg);
}

caf::expected<head_status> client::status() {
  return impl_->ask<head_status>(std::chrono::seconds(10), status_atom::value);
}

void client::stop() {
  if (impl_->head)
    caf::anon_send(impl_->head, stop_atom::value);
}

nlohmann::json result_of(const task_outcome& out) {
  if (out.state != task_state::succeeded || out.result.empty())
    return nullptr;
  auto j = nlohmann::json::parse(out.result, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

std::optional<error_info> error_of(const task_outcome& out) {
  if ((out.state != task_state::failed && out.state != task_state::lost) || out.error.empty())
    return std::nullopt;
  auto j = nlohmann::json::parse(out.error, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  error_info e;
  e.kind = j.value("kind", std::string{});
  e.message = j.value("message", std::string{});
  e.backtrace = j.value("backtrace", std::string{});
  if (j.contains("ancestors") && j["ancestors"].is_array())
    for (const auto& a : j["ancestors"])
      if (a.is_string())
        e.ancestors.push_back(a.get<std::string>());
  return e;
}

} // namespace taskrt

#include "cluster/client.hpp"

#include "cluster/net_config.hpp"
#include "runtime/limits.hpp"

#include <caf/io/all.hpp>

namespace taskrt {

struct client::impl {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  head_actor head;
  std::string error;

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

  template <class T, class... Ts>
  caf::expected<T> ask(std::chrono::seconds timeout, Ts&&... xs) {
    if (!head)
      return make_error(errc::unavailable, error);
    caf::scoped_actor self{*sys};
    caf::expected<T> result{make_error(errc::unavailable, "no reply")};
    self->request(head, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& e) {
                 result = taskrt_code(e) != 0
                            ? std::move(e)
                            : make_error(errc::unavailable,
                                         "the head did not answer: " + sys->render(e));
               });
    return result;
  }
};

client::client(const std::string& host, uint16_t port, const tls_options& tls)
  : impl_(new impl(tls)) {
  if (!impl_->error.empty())
    return; // the TLS material is unusable: never fall back to plaintext
  auto h = connect_head(*impl_->sys, host, port);
  if (h)
    impl_->head = *h;
  else
    impl_->error = error_message(h.error());
}

client::~client() {
  impl_->head = nullptr;
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
  return impl_->ask<std::vector<int64_t>>(std::chrono::seconds(60), submit_atom::value, specs);
}

caf::expected<task_outcome> client::await(int64_t id, std::chrono::seconds timeout) {
  return impl_->ask<task_outcome>(timeout, await_atom::value, id);
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

} // namespace taskrt

#include "taskrt/cluster/connection_reuse.hpp"

#include <caf/io/basp_broker.hpp>
#include <caf/io/doorman.hpp>
#include <caf/io/system_messages.hpp>

#include <spdlog/spdlog.h>

#include <atomic>

#include <dlfcn.h>

// How: libcaf_io's acceptor calls doorman::new_connection through its PLT
// after it registered the new connection's servant with the broker, so the
// definition below is the one bound (see cluster/frame_guard.cpp). Both run
// in the multiplexer thread, which is also the only one running the broker.

namespace {

constexpr const char* new_connection_symbol
  = "_ZN3caf2io7doorman14new_connectionEPNS_14execution_unitENS0_17connection_handleE";

using new_connection_fn = bool (*)(caf::io::doorman*, caf::execution_unit*,
                                   caf::io::connection_handle);

new_connection_fn caf_new_connection() {
  static const new_connection_fn fn
    = reinterpret_cast<new_connection_fn>(::dlsym(RTLD_NEXT, new_connection_symbol));
  return fn;
}

std::atomic<uint64_t> superseded{0};
std::atomic<uint64_t> cleaned_at_accept{0};

/// Set while the accept path cleans an earlier connection up: that cleanup
/// is never superseded (the broker's current message is stale then).
thread_local bool accepting = false;

} // namespace

namespace caf::io {

bool doorman::new_connection(execution_unit* ctx, connection_handle x) {
  if (auto* b = dynamic_cast<basp_broker*>(parent())) {
    if (b->ctx.count(x) > 0 || b->instance.tbl().lookup_direct(x) != none) {
      ++cleaned_at_accept;
      spdlog::debug("cluster port: connection {} reuses a closed connection's descriptor; "
                    "cleaned up after the closed one first", x.id());
      accepting = true;
      b->connection_cleanup(x, sec::none);
      accepting = false;
    }
  }
  return caf_new_connection()(this, ctx, x);
}

} // namespace caf::io

namespace taskrt {

bool superseded_cleanup(caf::io::basp_broker& self, const caf::io::connection_handle& hdl) {
  if (accepting)
    return false;
  // The queued cleanup is the broker's handler of (delete_atom, handle); the
  // closed connection's servant was gone before it was queued, so a servant
  // for `hdl` now belongs to a newer connection.
  auto* e = self.current_mailbox_element();
  if (e == nullptr
      || !e->content().match_elements<caf::delete_atom, caf::io::connection_handle>()
      || !self.valid(hdl))
    return false;
  ++superseded;
  spdlog::debug("cluster port: skipped the queued cleanup of a closed connection: its "
                "descriptor {} holds a newer connection", hdl.id());
  return true;
}

connection_reuse_counts connection_reuse_stats() {
  return {superseded.load(), cleaned_at_accept.load()};
}

bool connection_reuse_guard_active() {
  auto ours = ::dlsym(RTLD_DEFAULT, new_connection_symbol);
  auto theirs = reinterpret_cast<void*>(caf_new_connection());
  const bool active = ours != nullptr && theirs != nullptr && ours != theirs;
  if (!active)
    spdlog::warn("the cluster port's connection reuse guard is not in place (CAF's doorman "
                 "was not wrapped): a closed connection's cleanup may hit the next one");
  return active;
}

} // namespace taskrt

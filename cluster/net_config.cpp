#include "taskrt/cluster/net_config.hpp"

#include "taskrt/cluster/connection_reuse.hpp"
#include "taskrt/cluster/frame_guard.hpp"
#include "taskrt/cluster/node_identity.hpp"

#include "taskrt/persistence/store_result.hpp"
#include "taskrt/runtime/protocol.hpp"

#include <caf/io/middleman.hpp>

#include <csignal>

#include <pthread.h>
#include <string>

namespace taskrt {

namespace {

int64_t positive_ms(const std::string& v, int64_t fallback) {
  if (v.empty())
    return fallback;
  try {
    auto ms = std::stoll(v);
    return ms > 0 ? ms : fallback;
  } catch (...) {
    return fallback;
  }
}

} // namespace

net_options net_options_from(const env_config& env) {
  net_options n;
  n.heartbeat_ms = positive_ms(env.heartbeat_ms, n.heartbeat_ms);
  n.connection_timeout_ms = positive_ms(env.connection_timeout_ms, n.connection_timeout_ms);
  return n;
}

void configure_network(caf::actor_system_config& cfg, const net_options& net) {
  frame_guard_active();   // logs when frames would go unlimited
  connection_reuse_guard_active(); // logs when a closed connection's cleanup may hit the next
  node_identity_active(); // logs when the node id is not this process's own
  register_protocol(cfg);
  register_store_errors(cfg); // renders caf::errors of the "store" category
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::milliseconds(net.heartbeat_ms)});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::milliseconds(net.connection_timeout_ms)});
}

sigset_t block_stop_signals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return sigs;
}

} // namespace taskrt

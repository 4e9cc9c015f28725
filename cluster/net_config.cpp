#include "cluster/net_config.hpp"

#include "cluster/frame_guard.hpp"
#include "cluster/node_identity.hpp"

#include "runtime/protocol.hpp"

#include <caf/io/middleman.hpp>

#include <csignal>
#include <cstdlib>

#include <pthread.h>
#include <string>

namespace taskrt {

namespace {

int64_t env_ms(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v)
    return fallback;
  try {
    auto ms = std::stoll(v);
    return ms > 0 ? ms : fallback;
  } catch (...) {
    return fallback;
  }
}

} // namespace

void configure_network(caf::actor_system_config& cfg) {
  frame_guard_active();   // logs when frames would go unlimited
  node_identity_active(); // logs when the node id is not this process's own
  register_protocol(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::milliseconds(env_ms("TASKRT_HEARTBEAT_MS", 500))});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::milliseconds(env_ms("TASKRT_CONNECTION_TIMEOUT_MS", 5000))});
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

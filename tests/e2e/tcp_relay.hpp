#pragma once
/// A loopback TCP relay for end-to-end tests: connections to its port are
/// relayed to a target port, until it is switched to black-hole mode, where
/// the kernel drops every SYN to its port (a full accept queue: listen
/// backlog 0 holding one connection nobody accepts), the way a head behind a
/// partition or on a host gone away looks to a connecting node.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace taskrt::test {

/// Relays 127.0.0.1:port() to 127.0.0.1:target.
class tcp_relay {
public:
  /// Listens on a free loopback port; relays from the start.
  explicit tcp_relay(uint16_t target);
  ~tcp_relay();

  tcp_relay(const tcp_relay&) = delete;
  tcp_relay& operator=(const tcp_relay&) = delete;

  /// The port the relay listens on.
  uint16_t port() const { return port_; }

  /// Stops accepting, fills the accept queue (new SYNs are dropped from
  /// then on) and closes every relayed connection (both ends see EOF).
  void black_hole();

  /// Accepts and relays again: a SYN retransmitted from now on gets through.
  void heal();

private:
  void accept_loop();
  void pump(int a, int b);

  int listen_fd_ = -1;
  int filler_fd_ = -1;
  uint16_t port_ = 0;
  uint16_t target_ = 0;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<int> open_fds_; ///< relayed sockets (both ends), under mutex_
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

} // namespace taskrt::test

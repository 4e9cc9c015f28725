#include "tests/e2e/tcp_relay.hpp"

#include <algorithm>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace taskrt::test {

namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

} // namespace

tcp_relay::tcp_relay(uint16_t target) : target_(target) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  auto sa = loopback(0);
  socklen_t len = sizeof(sa);
  // Backlog 0: the kernel queues one connection; a second SYN finds the
  // queue full and is dropped (no RST), so its sender retransmits.
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0
      || ::listen(listen_fd_, 0) != 0
      || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    throw std::runtime_error("tcp_relay: cannot listen on loopback");
  port_ = ntohs(sa.sin_port);
  acceptor_ = std::thread{[this] { accept_loop(); }};
}

tcp_relay::~tcp_relay() {
  stop_ = true;
  acceptor_.join();
  {
    std::lock_guard<std::mutex> g{mutex_};
    for (int fd : open_fds_)
      ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : pumps_)
    t.join();
  if (filler_fd_ >= 0)
    ::close(filler_fd_);
  ::close(listen_fd_);
}

void tcp_relay::black_hole() {
  accepting_ = false;
  std::this_thread::sleep_for(std::chrono::milliseconds(100)); // accept_loop sees it
  // The filler takes the queue's one place (nobody accepts it).
  filler_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto sa = loopback(port_);
  if (::connect(filler_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    throw std::runtime_error("tcp_relay: the filler connection failed");
  std::lock_guard<std::mutex> g{mutex_};
  for (int fd : open_fds_)
    ::shutdown(fd, SHUT_RDWR);
}

void tcp_relay::heal() {
  accepting_ = true; // accept_loop takes the filler first (EOF: closed again)
  if (filler_fd_ >= 0) {
    ::close(filler_fd_);
    filler_fd_ = -1;
  }
}

void tcp_relay::accept_loop() {
  while (!stop_) {
    if (!accepting_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0 || !accepting_)
      continue;
    int in = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (in < 0)
      continue;
    int out = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto sa = loopback(target_);
    if (::connect(out, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      ::close(in);
      ::close(out);
      continue;
    }
    std::lock_guard<std::mutex> g{mutex_};
    open_fds_.push_back(in);
    open_fds_.push_back(out);
    pumps_.emplace_back([this, in, out] { pump(in, out); });
  }
}

void tcp_relay::pump(int a, int b) {
  char buf[16384];
  pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  bool open = true;
  while (open && !stop_) {
    if (::poll(p, 2, 100) <= 0)
      continue;
    for (int i = 0; i < 2 && open; ++i) {
      if (p[i].revents == 0)
        continue;
      const auto n = ::read(p[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        open = false;
        break;
      }
      for (ssize_t off = 0; off < n;) {
        const auto w = ::send(p[1 - i].fd, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) {
          open = false;
          break;
        }
        off += w;
      }
    }
  }
  std::lock_guard<std::mutex> g{mutex_};
  open_fds_.erase(std::remove_if(open_fds_.begin(), open_fds_.end(),
                                 [&](int fd) { return fd == a || fd == b; }),
                  open_fds_.end());
  ::close(a);
  ::close(b);
}

} // namespace taskrt::test

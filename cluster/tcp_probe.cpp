#include "taskrt/cluster/tcp_probe.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace taskrt {

namespace {

/// "" when fd connected to `ai` within `deadline`, else why not.
std::string connect_one(const addrinfo& ai, std::chrono::milliseconds deadline) {
  const int fd = ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          ai.ai_protocol);
  if (fd < 0)
    return std::strerror(errno);
  std::string why;
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      why = std::strerror(errno);
    } else {
      pollfd p{fd, POLLOUT, 0};
      int n;
      do {
        n = ::poll(&p, 1, static_cast<int>(deadline.count()));
      } while (n < 0 && errno == EINTR);
      if (n == 0) {
        why = "no answer within " + std::to_string(deadline.count()) + " ms";
      } else if (n < 0) {
        why = std::strerror(errno);
      } else {
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0)
          why = std::strerror(err);
      }
    }
  }
  ::close(fd);
  return why;
}

} // namespace

std::string tcp_probe(const std::string& host, uint16_t port,
                      std::chrono::milliseconds deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
    return std::string{"no such host ("} + ::gai_strerror(rc) + ")";
  std::string why = "no address";
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    why = connect_one(*ai, deadline);
    if (why.empty())
      break;
  }
  ::freeaddrinfo(res);
  return why;
}

} // namespace taskrt

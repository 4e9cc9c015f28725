#include "loopback_socket.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace taskrt::test {

namespace {
using clock_type = std::chrono::steady_clock;
} // namespace

int connect_to(int port, int rcvbuf) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (rcvbuf > 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    auto n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string read_answer(int fd, int timeout_ms) {
  std::string in;
  const auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  for (;;) {
    const auto head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t len = 0;
      auto cl = in.find("Content-Length: ");
      if (cl != std::string::npos)
        len = std::stoul(in.substr(cl + 16));
      if (in.size() >= head_end + 4 + len)
        return in.substr(0, head_end + 4 + len);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - clock_type::now()).count();
    if (left <= 0)
      return "";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      return "";
    in.append(buf, static_cast<size_t>(n));
  }
}

int status_of(const std::string& answer) {
  return answer.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(answer.substr(9, 3)) : 0;
}

std::pair<int, double> get_once(int port, const std::string& path, int timeout_ms) {
  const auto t0 = clock_type::now();
  int fd = connect_to(port);
  if (fd < 0)
    return {0, 0};
  int status = 0;
  if (send_all(fd, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    status = status_of(read_answer(fd, timeout_ms));
  ::close(fd);
  return {status, std::chrono::duration<double, std::milli>(clock_type::now() - t0).count()};
}

bool closed_within(int fd, int timeout_ms) {
  char buf[4096];
  const auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  while (clock_type::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) {
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN))
        return true;
    }
  }
  return false;
}

int thread_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(d);
  }
  return n;
}

} // namespace taskrt::test

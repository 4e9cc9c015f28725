#pragma once
// Raw loopback sockets for the HTTP server's starvation tests: a client
// that connects, sends and reads exactly as much as a test wants (a slow
// or silent client is the point, which an HTTP client library hides).

#include <string>
#include <utility>

namespace taskrt::test {

/// A blocking TCP connection to 127.0.0.1:`port`; -1 when it fails.
/// `rcvbuf` > 0 sets a small receive window, so a client that reads
/// nothing fills up at once.
int connect_to(int port, int rcvbuf = 0);

/// Sends all of `s` (no SIGPIPE); false when the peer closed.
bool send_all(int fd, const std::string& s);

/// One whole answer (head plus Content-Length body) within `timeout_ms`;
/// "" on timeout or on a close before a whole answer.
std::string read_answer(int fd, int timeout_ms);

/// The status code of an answer (0: none).
int status_of(const std::string& answer);

/// GET `path` on a fresh connection, as a kubelet probe does: the status
/// (0 on failure) and the milliseconds it took.
std::pair<int, double> get_once(int port, const std::string& path, int timeout_ms = 3000);

/// True when the server closed `fd` within `timeout_ms`.
bool closed_within(int fd, int timeout_ms);

/// Threads of this process (/proc/self/task).
int thread_count();

} // namespace taskrt::test

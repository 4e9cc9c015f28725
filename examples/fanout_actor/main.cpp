/// An actor that submits N `echo` tasks to a head with request/then, one
/// `submit` request per task and one `await` per id, awaits every result,
/// checks them, and prints how long it all took (a line of text, then a
/// JSON line for scripts: tasks, seconds, per_s, done_us).
///
///   fanout_actor --address 127.0.0.1:7400 [--tasks 100] [--origin fanout_actor]
/// Exit 0 when every task SUCCEEDED with its own args echoed back.
/// The requests are per task; the client's head handle coalesces them on
/// the wire (cluster/head_coalescer.hpp), so this costs about what
/// submit_many does.

#include <taskrt/cluster/client.hpp>
#include <taskrt/runtime/protocol.hpp>

#include <caf/io/all.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using json = nlohmann::json;

/// What the fanout actor found, read by main after the actor quit.
struct totals {
  std::atomic<int> succeeded{0};
  std::atomic<int> failed{0};
};

struct fanout_state {
  int pending = 0;
  static inline const char* name = "fanout";
};

using fanout_actor = caf::stateful_actor<fanout_state>;

void count(fanout_actor* self, totals* t, bool ok) {
  (ok ? t->succeeded : t->failed) += 1;
  if (--self->state.pending == 0)
    self->quit();
}

/// Submits `n` echo tasks at once (pipelined), awaits each, checks each
/// result echoes its own args, and quits when all are final.
caf::behavior fanout(fanout_actor* self, taskrt::head_actor head, int n, std::string origin,
                     totals* t) {
  self->state.pending = n;
  for (int i = 0; i < n; ++i) {
    taskrt::task_spec spec;
    spec.name = "echo";
    spec.args = json{{"i", i}}.dump();
    spec.origin = origin;
    self->request(head, caf::infinite, taskrt::submit_atom::value, spec)
      .then(
        [=](int64_t id) {
          self->request(head, caf::infinite, taskrt::await_atom::value, id)
            .then(
              [=](const taskrt::task_outcome& out) {
                auto result = json::parse(out.result, nullptr, false);
                count(self, t,
                      out.state == taskrt::task_state::succeeded && result.is_object()
                        && result.value("i", -1) == i);
              },
              [=](caf::error&) { count(self, t, false); });
        },
        [=](caf::error& e) {
          std::fprintf(stderr, "submit failed: %s\n", taskrt::error_message(e).c_str());
          count(self, t, false);
        });
  }
  return {[](caf::unit_t) {}};
}

} // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:7400";
  int n = 100;
  std::string origin = "fanout_actor";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--address")
      address = argv[i + 1];
    else if (k == "--tasks")
      n = std::atoi(argv[i + 1]);
    else if (k == "--origin")
      origin = argv[i + 1];
  }
  auto colon = address.rfind(':');
  if (colon == std::string::npos || n <= 0) {
    std::fprintf(stderr,
                 "usage: fanout_actor --address HOST:PORT [--tasks N] [--origin TEXT]\n");
    return 2;
  }
  taskrt::client c{address.substr(0, colon),
                   static_cast<uint16_t>(std::stoi(address.substr(colon + 1)))};
  if (!c.connected()) {
    std::fprintf(stderr, "fanout_actor: %s\n", c.connect_error().c_str());
    return 1;
  }
  totals t;
  auto start = std::chrono::steady_clock::now();
  {
    caf::scoped_actor self{c.system()};
    auto a = c.system().spawn(fanout, c.head(), n, origin, &t);
    self->monitor(a);
    self->receive([](caf::down_msg&) {});
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto done_us = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  std::printf("fanout: %d tasks, %d succeeded, %d failed, %.3f s (%.0f tasks/s)\n", n,
              t.succeeded.load(), t.failed.load(), secs, n / secs);
  std::printf("{\"mode\":\"fanout\",\"tasks\":%d,\"succeeded\":%d,\"seconds\":%.4f,"
              "\"per_s\":%.1f,\"done_us\":%lld}\n",
              n, t.succeeded.load(), secs, n / secs, static_cast<long long>(done_us));
  return t.succeeded == n ? 0 : 1;
}

// A worker node reconnecting to a head whose address drops SYNs (issue 21:
// fresh-clone CI runs where a node rejoined 27 s after a partition healed or
// missed the 15 s adoption grace after a head restart).
//
// The mechanism: CAF 0.17's middleman connects with a blocking connect(2) on
// its own thread and remote_actor waits for it without a deadline
// (cluster/tcp_probe.hpp). Behind a partition the node's connect sits in the
// kernel's SYN retransmissions (1, 2, 4, 8, 16 s apart), so once the head is
// reachable again the node gets through only at the next retransmission.
//
// The window: the node is registered through a loopback relay
// (tests/e2e/tcp_relay.hpp); the relay closes the node's connection and from
// then on drops every SYN (full accept queue), so the node loses its head
// and reconnects into the black hole. The relay accepts again 1.5 s into the
// first gap of 6 s or more between the SYNs of a connect begun at the loss
// (this kernel: tcp_syn_linear_timeouts = 4 gives SYNs at +0, 1, 2, 3, 4, 5,
// 7, 11, 19 s, so +12.5 s; without linear timeouts +0, 1, 3, 7, 15 s, so
// +8.5 s). The node must be registered and running a task (the journal
// names the node that ran it) within 3 s of that; before the fix it took
// 6-7 s (the next SYN).

#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/e2e/tcp_relay.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;
using clock_type = std::chrono::steady_clock;

namespace {

/// When to heal, in s after the loss: 1.5 s into the first gap of 6 s or
/// more between the SYN (re)transmissions of a connect (net.ipv4).
double heal_after_s() {
  int linear = 0;
  std::ifstream{"/proc/sys/net/ipv4/tcp_syn_linear_timeouts"} >> linear;
  double t = 0, rto = 1;
  for (int i = 1; i < 12; ++i) {
    if (rto >= 6)
      break;
    t += rto;
    if (i > linear)
      rto *= 2;
  }
  return t + 1.5;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size()))
    ++n;
  return n;
}

} // namespace

TEST_CASE("re-registration - the head's address drops SYNs while the node reconnects, then "
          "answers again - the node is back within 3 s, not at its next SYN retransmission",
          "[e2e][reregister]") {
  auto dsn = fresh_schema_dsn("e2e_rereg");
  head_process head{dsn, {"--workers", "0"}};
  const auto head_addr = head.address();
  tcp_relay relay{static_cast<uint16_t>(std::stoi(head_addr.substr(head_addr.rfind(':') + 1)))};
  const auto via = "127.0.0.1:" + std::to_string(relay.port());
  node_process node{via, "n1", head.data_dir(), {"--workers", "1"}};
  const std::string registered = "node n1 registered";
  REQUIRE(eventually([&] { return count_of(node.output(), registered) == 1; }));

  relay.black_hole();
  const auto lost_at = clock_type::now();
  REQUIRE(eventually([&] { return node.output().find("lost the head") != std::string::npos; },
                     5'000));
  const auto heal_s = heal_after_s();
  std::this_thread::sleep_until(lost_at + std::chrono::milliseconds(static_cast<int>(heal_s * 1000)));
  CHECK(count_of(node.output(), registered) == 1); // nothing got through the black hole

  relay.heal();
  const auto healed_at = clock_type::now();
  REQUIRE(eventually([&] { return count_of(node.output(), registered) == 2; }, 30'000));
  const double rejoin_ms
    = std::chrono::duration<double, std::milli>(clock_type::now() - healed_at).count();
  INFO("registered again " << rejoin_ms << " ms after the address answered again (healed "
                            << heal_s << " s after the loss)\n"
                           << node.output());
  CHECK(rejoin_ms < 3000);

  // Registered for real: the head (no local workers) hands it a task.
  auto& c = head.connect();
  auto id = c.submit(spec("echo", {{"after", "heal"}}));
  REQUIRE(id);
  auto out = c.await(*id, std::chrono::seconds(30));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
  CHECK(result_nodes(dsn, *id) == std::vector<std::string>{"n1"});
}

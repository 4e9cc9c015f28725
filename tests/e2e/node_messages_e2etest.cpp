// Node messages from a process that is not the node: a peer that reaches the
// head's port (here the test process itself, over the real protocol) sends
// leave, drain and heartbeat in the name of a live worker node. The head
// must ignore and log them; the node stays ALIVE and keeps getting work.

#include "taskrt/cluster/net_config.hpp"
#include "taskrt/cluster/tls.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <catch2/catch.hpp>

#include <thread>

using namespace taskrt;
using namespace taskrt::test;

TEST_CASE("leave, drain and heartbeat of a node sent by another process are ignored and logged",
          "[e2e][cluster]") {
  auto dsn = fresh_schema_dsn("e2e_node_messages");
  head_process head{dsn, {"--workers", "0"}};
  node_process n1{head.address(), "n1", head.data_dir()};
  auto& c = head.connect();
  REQUIRE(eventually([&] { return node_state(c, "n1") == "ALIVE"; }, 20'000));

  caf::actor_system_config cfg;
  configure_network(cfg);
  caf::actor_system sys{cfg};
  const auto address = head.address();
  const auto colon = address.rfind(':');
  auto h = connect_head(sys, address.substr(0, colon),
                        static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  REQUIRE(h);
  auto raw = caf::actor_cast<caf::actor>(*h);
  caf::scoped_actor self{sys};
  self->send(raw, leave_atom::value, std::string{"n1"});
  self->send(raw, drain_atom::value, std::string{"n1"});
  bool answered = false, accepted = true;
  self->request(raw, std::chrono::seconds(10), heartbeat_atom::value, std::string{"n1"})
    .receive([&](bool ok) { answered = true, accepted = ok; }, [&](caf::error&) {});
  CHECK(answered);
  CHECK_FALSE(accepted);
  CHECK(eventually([&] {
    return head.log().find("ignored leave of node n1") != std::string::npos
           && head.log().find("ignored drain of node n1") != std::string::npos;
  }, 10'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(node_state(c, "n1") == "ALIVE");
  auto id = c.submit(spec("echo", {{"after", "forged messages"}}));
  REQUIRE(id);
  auto out = c.await(*id, std::chrono::seconds(30));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
}

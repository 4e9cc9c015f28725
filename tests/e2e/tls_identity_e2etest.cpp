// TLS identity with real processes and certificates from `taskrt certs
// generate`: a node registers only under a node id its certificate allows
// (its own name, or NAME-* for a --pool NAME certificate); a node presenting
// another node's certificate, the client certificate, or a pool certificate
// outside its pattern is refused, says why and exits 1; the head logs it.
// The client certificate still submits.

#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdlib>
#include <memory>

#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

TEST_CASE("tls identity - nodes register only under ids their certificate allows - a pool "
          "certificate allows its pattern - the client certificate cannot register",
          "[e2e][tls]") {
  auto dsn = fresh_schema_dsn("e2e_tls_identity");
  char tpl[] = "/tmp/taskrt-tls-id.XXXXXX";
  REQUIRE(::mkdtemp(tpl) != nullptr);
  const std::string tmp = tpl;
  const auto certs = tmp + "/tls";
  auto g = run_cli({"certs", "generate", certs, "--nodes", "1"});
  INFO(g.out << g.err);
  REQUIRE(g.exit_code == 0);
  auto p = run_cli({"certs", "generate", certs, "--pool", "pool-a", "-o", "json"});
  INFO(p.out << p.err);
  REQUIRE(p.exit_code == 0);
  CHECK(json::parse(p.out)["ca"] == "existing");
  // The URIs are in the certificates.
  auto uris = [&](const std::string& name) {
    auto cmd = "openssl x509 -noout -ext subjectAltName -in '" + certs + "/" + name + ".pem'";
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    char buf[512];
    while (f && std::fgets(buf, sizeof(buf), f))
      out += buf;
    if (f)
      ::pclose(f);
    return out;
  };
  CHECK_THAT(uris("node-1"), Catch::Contains("URI:taskrt:node:node-1"));
  CHECK_THAT(uris("pool-a"), Catch::Contains("URI:taskrt:node:pool-a-*"));
  CHECK_THAT(uris("client"), !Catch::Contains("taskrt:node:"));

  head_process head{dsn, {"--workers", "0", "--tls-dir", certs}};
  auto& c = head.connect();
  const auto address = head.address();
  auto with = [&](const std::string& name) {
    return std::vector<std::string>{"--workers", "1", "--tls-dir", certs, "--tls-name", name};
  };

  // Allowed: its own name, and a pool replica.
  node_process n1{address, "node-1", tmp, with("node-1")};
  node_process pa{address, "pool-a-7f9c", tmp, with("pool-a")};
  REQUIRE(eventually([&] { return node_state(c, "node-1") == "ALIVE"; }, 30'000));
  REQUIRE(eventually([&] { return node_state(c, "pool-a-7f9c") == "ALIVE"; }, 30'000));

  // Refused: another node's name, the client certificate, outside the pool.
  struct refusal {
    std::string id, cert, says;
  };
  const std::vector<refusal> refused{
    {"node-2", "node-1", "does not allow node id 'node-2' (it allows node-1)"},
    {"worker-9", "client", "does not allow node id 'worker-9' (it allows no node id: a client "
                           "certificate)"},
    {"pool-b-1", "pool-a", "does not allow node id 'pool-b-1' (it allows pool-a-*)"},
    {"pool-a", "pool-a", "does not allow node id 'pool-a' (it allows pool-a-*)"},
  };
  for (const auto& r : refused) {
    INFO(r.id << " with the certificate " << r.cert);
    node_process n{address, r.id, tmp, with(r.cert)};
    REQUIRE(eventually([&] { return !n.running(); }, 30'000));
    INFO("node output: " << n.output());
    CHECK(n.exit_code == 1);
    CHECK_THAT(n.output(), Catch::Contains("taskrt: the head refused node " + r.id
                                           + ": the TLS certificate '" + r.cert + "'"));
    CHECK_THAT(n.output(), Catch::Contains(r.says));
    CHECK_THAT(head.log(), Catch::Contains("refused registration of node " + r.id));
    CHECK(node_state(c, r.id).empty());
  }
  // The allowed nodes were never disturbed; the client certificate submits.
  CHECK(node_state(c, "node-1") == "ALIVE");
  CHECK(node_state(c, "pool-a-7f9c") == "ALIVE");
  // The client cannot take node-1's tasks by offering a worker slot under
  // node-1's name either: slots must live in the registered node's process.
  auto taken = std::make_shared<std::atomic<int>>(0);
  auto spy = c.system().spawn([taken](caf::event_based_actor*) -> caf::behavior {
    return {[taken](const dispatch_msg&) { ++*taken; }};
  });
  worker_info fake{"node-1", 99, 4242, {}, 4};
  caf::anon_send(caf::actor_cast<caf::actor>(c.head()), ready_atom::value, fake, spy);
  REQUIRE(eventually([&] {
    return head.log().find("ignored a worker slot offered for node node-1") != std::string::npos;
  }, 10'000));
  for (int i = 0; i < 4; ++i) {
    auto id = c.submit(spec("echo", {{"tls", "identity"}, {"i", i}}));
    REQUIRE(id);
    auto out = c.await(*id, std::chrono::seconds(60));
    REQUIRE(out);
    CHECK(out->state == task_state::succeeded);
  }
  CHECK(taken->load() == 0);
  caf::anon_send_exit(spy, caf::exit_reason::user_shutdown);
  std::system(("rm -rf '" + tmp + "'").c_str());
}

/// Node identity in certificates: which taskrt:node: patterns a generated
/// certificate carries, and which node ids a pattern allows.

#include "taskrt/cluster/cert_generator.hpp"
#include "taskrt/cluster/tls_observer.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;

TEST_CASE("node identity: generated certificates name the node ids they allow", "[tls]") {
  using v = std::vector<std::string>;
  CHECK(node_patterns_for("node-1", false) == v{"node-1"});
  CHECK(node_patterns_for("gpu-7", false) == v{"gpu-7"});
  CHECK(node_patterns_for("client", false).empty()); // submits, never registers
  CHECK(node_patterns_for("head", false).empty());
  CHECK(node_patterns_for("pool-a", true) == v{"pool-a-*"});
}

TEST_CASE("node identity: a pattern allows its name, or its prefix plus something", "[tls]") {
  const std::vector<std::string> pool{"pool-a-*"};
  CHECK(node_id_allowed(pool, "pool-a-7f9c"));
  CHECK(node_id_allowed(pool, "pool-a-x"));
  CHECK_FALSE(node_id_allowed(pool, "pool-a-"));
  CHECK_FALSE(node_id_allowed(pool, "pool-a"));
  CHECK_FALSE(node_id_allowed(pool, "pool-b-1"));
  CHECK_FALSE(node_id_allowed(pool, "xpool-a-1"));
  CHECK(node_id_allowed({"node-1"}, "node-1"));
  CHECK_FALSE(node_id_allowed({"node-1"}, "node-10"));
  CHECK_FALSE(node_id_allowed({}, "client"));
}

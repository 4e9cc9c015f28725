// parse_head_addresses: the `--address HOST:PORT[,HOST:PORT...]` lists of
// worker nodes, the CLI and the client (pure parsing, no network).

#include "cluster/head_addresses.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;

TEST_CASE("head address lists - one, several with spaces, IPv6 host", "[unit][failover]") {
  std::vector<head_address> a;
  std::string err;
  REQUIRE(parse_head_addresses("127.0.0.1:7400", a, err));
  REQUIRE(a.size() == 1);
  CHECK(a[0].host == "127.0.0.1");
  CHECK(a[0].port == 7400);
  REQUIRE(parse_head_addresses("h1:1, h2:65535 ,[::1]:7401", a, err));
  REQUIRE(a.size() == 3);
  CHECK(a[1].str() == "h2:65535");
  CHECK(a[2].host == "[::1]");
  CHECK(join_head_addresses(a) == "h1:1,h2:65535,[::1]:7401");
}

TEST_CASE("head address lists - malformed entries are refused, naming the entry",
          "[unit][failover]") {
  std::vector<head_address> a;
  std::string err;
  for (const char* bad : {"", "h1", "h1:", ":7400", "h1:0", "h1:65536", "h1:74x0", "h1:1,",
                          "h1:1,,h2:2"}) {
    INFO(bad);
    CHECK_FALSE(parse_head_addresses(bad, a, err));
    CHECK(err.find("expected HOST:PORT") != std::string::npos);
  }
  CHECK_FALSE(parse_head_addresses("h1:1,nope", a, err));
  CHECK(err.find("'nope'") != std::string::npos);
}

// parse_head_addresses: the `--address HOST:PORT[,HOST:PORT...]` lists of
// worker nodes, the CLI and the client (pure parsing, no network).

#include "taskrt/cluster/head_addresses.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;

TEST_CASE("head address lists - one, several with spaces, IPv6 host", "[unit][failover]") {
  auto one = parse_head_addresses("127.0.0.1:7400");
  REQUIRE(one);
  auto a = *one;
  REQUIRE(a.size() == 1);
  CHECK(a[0].host == "127.0.0.1");
  CHECK(a[0].port == 7400);
  auto three = parse_head_addresses("h1:1, h2:65535 ,[::1]:7401");
  REQUIRE(three);
  a = *three;
  REQUIRE(a.size() == 3);
  CHECK(a[1].str() == "h2:65535");
  CHECK(a[2].host == "[::1]");
  CHECK(join_head_addresses(a) == "h1:1,h2:65535,[::1]:7401");
}

TEST_CASE("head address lists - malformed entries are refused, naming the entry",
          "[unit][failover]") {
  // The refusal's message ("" when the list parsed).
  auto why = [](const std::string& list) {
    auto r = parse_head_addresses(list);
    return r ? std::string{} : error_message(r.error());
  };
  for (const char* bad : {"", "h1", "h1:", ":7400", "h1:0", "h1:65536", "h1:74x0", "h1:1,",
                          "h1:1,,h2:2"}) {
    INFO(bad);
    CHECK(why(bad).find("expected HOST:PORT") != std::string::npos);
    CHECK(taskrt_code(parse_head_addresses(bad).error()) == static_cast<uint8_t>(errc::bad_request));
  }
  CHECK(why("h1:1,nope").find("'nope'") != std::string::npos);
}

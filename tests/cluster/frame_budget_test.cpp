/// The in-flight budget of the cluster port (pure logic; the e2e test
/// hostile_peers_e2etest.cpp drives it through a real head).

#include "taskrt/cluster/frame_budget.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;
using v = frame_budget_verdict;

namespace {

frame_budget_limits small() {
  frame_budget_limits l;
  l.unregistered_each = 100;
  l.unregistered_total = 250;
  l.total = 1000;
  return l;
}

} // namespace

TEST_CASE("frame budget: before a handshake a connection holds at most its own budget",
          "[frame_budget]") {
  frame_budget b{small()};
  CHECK(b.reserve(1, 100, false) == v::admitted);
  CHECK(b.reserve(2, 101, false) == v::over_unregistered_each);
  CHECK(b.usage().total == 100);
  CHECK(b.usage().connections == 1);
}

TEST_CASE("frame budget: strangers together hold at most the unregistered total",
          "[frame_budget]") {
  frame_budget b{small()};
  CHECK(b.reserve(1, 100, false) == v::admitted);
  CHECK(b.reserve(2, 100, false) == v::admitted);
  CHECK(b.reserve(3, 100, false) == v::over_unregistered_total);
  CHECK(b.reserve(3, 50, false) == v::admitted);
  CHECK(b.usage().unregistered == 250);
  // A registered peer is not held back by strangers, only by the total.
  CHECK(b.reserve(4, 700, true) == v::admitted);
  CHECK(b.reserve(5, 51, true) == v::over_total);
  CHECK(b.reserve(5, 50, true) == v::admitted);
  CHECK(b.usage().total == 1000);
}

TEST_CASE("frame budget: a payload that arrived or a closed connection frees its bytes",
          "[frame_budget]") {
  frame_budget b{small()};
  CHECK(b.reserve(1, 600, true) == v::admitted);
  CHECK(b.reserve(2, 400, true) == v::admitted);
  CHECK(b.reserve(3, 1, true) == v::over_total);
  b.release(1);
  CHECK(b.reserve(3, 600, true) == v::admitted);
  b.release(3);
  b.release(3); // twice (payload, then close): once counted
  b.release(42); // never reserved
  CHECK(b.usage().total == 400);
  // A connection's next header replaces what it held.
  CHECK(b.reserve(2, 900, true) == v::admitted);
  CHECK(b.usage().total == 900);
  CHECK(b.usage().connections == 1);
  // A stranger's bytes leave the unregistered sum too.
  CHECK(b.reserve(7, 100, false) == v::admitted);
  b.release(7);
  CHECK(b.usage().unregistered == 0);
  CHECK(b.usage().total == 900);
}

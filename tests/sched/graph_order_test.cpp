/// Ordering a locally named graph for one batch submit (sched/graph_order.hpp).

#include "taskrt/sched/graph_order.hpp"

#include <catch2/catch.hpp>

using namespace taskrt::sched;

TEST_CASE("a diamond given bottom first is ordered parents first, references as -N") {
  const std::vector<graph_node_ref> nodes = {
    {"bottom", {"left", "right"}}, {"left", {"top"}}, {"right", {"top"}}, {"top", {}}};
  auto r = order_graph(nodes);
  REQUIRE(std::holds_alternative<ordered_graph>(r));
  const auto& g = std::get<ordered_graph>(r);
  CHECK(g.order == std::vector<size_t>{3, 1, 2, 0});
  CHECK(g.after[0].empty());
  CHECK(g.after[1] == std::vector<int64_t>{-1});
  CHECK(g.after[2] == std::vector<int64_t>{-1});
  CHECK(g.after[3] == std::vector<int64_t>{-2, -3});
}

TEST_CASE("existing tasks by id, and the errors: unknown, duplicate, cycle, self") {
  auto ok = order_graph({{"a", {"#42"}}, {"b", {"a", "#7"}}});
  REQUIRE(std::holds_alternative<ordered_graph>(ok));
  CHECK(std::get<ordered_graph>(ok).after[1] == std::vector<int64_t>{-1, 7});
  auto err = [](std::vector<graph_node_ref> n) {
    auto r = order_graph(n);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string{};
  };
  CHECK(err({{"a", {"x"}}}).find("no node named 'x'") != std::string::npos);
  CHECK(err({{"a", {}}, {"a", {}}}).find("twice") != std::string::npos);
  CHECK(err({{"a", {"b"}}, {"b", {"a"}}}).find("cycle") != std::string::npos);
  CHECK(err({{"a", {"a"}}}).find("itself") != std::string::npos);
  CHECK(err({{"a", {"#x"}}}).find("not a task id") != std::string::npos);
  CHECK(err({{"", {}}}).find("empty") != std::string::npos);
}

/// Registration checks: a bad default (policy typo, queue, time limit) stops
/// the program at tasks.add, naming the task and what is wrong.

#include "taskrt/runtime/task_registry.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;
using Catch::Contains;

namespace {

nlohmann::json noop(task_context&, const nlohmann::json&) {
  return nullptr;
}

std::string add_error(task_definition def) {
  task_registry r;
  try {
    r.add(std::move(def));
  } catch (const std::invalid_argument& e) {
    CHECK(r.find("payments.charge") == nullptr); // not registered
    return e.what();
  }
  return {};
}

} // namespace

TEST_CASE("a typo in a registered default policy is refused at registration", "[registry]") {
  auto e = add_error({"payments.charge", noop, R"({"retries":3,"retry_onn":["x"]})", "", 0, {}});
  CHECK_THAT(e, Contains("task registration 'payments.charge'"));
  CHECK_THAT(e, Contains("unknown key \"retry_onn\""));
  CHECK_THAT(add_error({"payments.charge", noop, "{not json", "", 0, {}}),
             Contains("task registration 'payments.charge': policy:"));
  CHECK_THAT(add_error({"payments.charge", noop, R"({"retries":"3"})", "", 0, {}}),
             Contains("\"retries\""));
}

TEST_CASE("other bad registrations are refused too", "[registry]") {
  CHECK_THAT(add_error({"", noop, "", "", 0, {}}), Contains("name"));
  CHECK_THAT(add_error({"payments.charge", nullptr, "", "", 0, {}}), Contains("no function"));
  CHECK_THAT(add_error({"payments.charge", noop, "", "", -1, {}}), Contains("time_limit_s"));
  CHECK_THAT(add_error({"payments.charge", noop, "", std::string("q\n1"), 0, {}}),
             Contains("queue"));
}

TEST_CASE("good registrations go in", "[registry]") {
  task_registry r;
  r.add({"payments.charge", noop, R"({"retries":3,"retry_on":["team::TransientError"]})",
         "payments", 30, {}});
  r.add("echo", noop);
  REQUIRE(r.find("payments.charge"));
  CHECK(r.find("payments.charge")->queue == "payments");
  CHECK(r.names() == std::vector<std::string>{"echo", "payments.charge"});
}

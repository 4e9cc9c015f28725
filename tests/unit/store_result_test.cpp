#include "taskrt/persistence/store_error.hpp"
#include "taskrt/persistence/store_result.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

using namespace taskrt;

TEST_CASE("store_call: a value, or the store_error as a caf::error of its class", "[store_result]") {
  auto ok = store_call([] { return 42; });
  REQUIRE(ok);
  CHECK(*ok == 42);

  auto data = store_call([]() -> int {
    throw store_error{"tasks: value too long", false, false, "22001"};
  });
  REQUIRE(!data);
  CHECK(store_code(data.error()) == store_errc::data);
  CHECK(store_message(data.error()) == "tasks: value too long");
  CHECK(store_sqlstate(data.error()) == "22001");
  CHECK_FALSE(store_transient(data.error()));

  auto outage = store_call([] { throw store_error{"connection to Postgres lost", true}; });
  REQUIRE(!outage);
  CHECK(store_code(outage.error()) == store_errc::outage);
  CHECK(store_transient(outage.error()));
  CHECK(store_sqlstate(outage.error()).empty());

  auto retry = store_call([] { throw store_error{"deadlock", true, false, "40P01"}; });
  CHECK(store_code(retry.error()) == store_errc::retry);
  CHECK(store_transient(retry.error()));

  auto fenced = store_call([] { throw store_error::fenced("a newer head took over"); });
  CHECK(store_code(fenced.error()) == store_errc::fenced);
  CHECK_FALSE(store_transient(fenced.error()));

  auto missing = store_call([] { throw store_error{"tokens: no table", false, false, "42P01"}; });
  CHECK(store_table_missing(missing.error()));
  CHECK_FALSE(store_table_missing(data.error()));
}

TEST_CASE("store_call: void calls, and other exceptions pass through", "[store_result]") {
  int ran = 0;
  auto done = store_call([&] { ++ran; });
  CHECK(done);
  CHECK(ran == 1);
  CHECK_THROWS_AS(store_call([] { throw std::logic_error{"a bug"}; }), std::logic_error);
  // Errors of other categories are not store errors.
  CHECK_FALSE(store_code(caf::error{}));
  CHECK_FALSE(store_transient(caf::error{}));
  CHECK(store_sqlstate(caf::error{}).empty());
}

TEST_CASE("store error codes keep their names", "[store_result]") {
  CHECK(std::string{to_string(store_errc::retry)} == "retry");
  CHECK(std::string{to_string(store_errc::outage)} == "outage");
  CHECK(std::string{to_string(store_errc::data)} == "data");
  CHECK(std::string{to_string(store_errc::fenced)} == "fenced");
}

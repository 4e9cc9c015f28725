// The C++ client against a real head: await_many, typed results and errors,
// finding the local head through its state file, and the error when every
// address of a list refuses.

#include "taskrt/cluster/client.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;
using Catch::Contains;

namespace {

/// A loopback port nothing listens on (bound, then closed).
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

} // namespace

TEST_CASE("client: await_many with typed results and errors - local_head finds the head",
          "[e2e]") {
  auto dsn = fresh_schema_dsn("e2e_client");
  head_process head{dsn, {"--workers", "2"}};
  client c{local_head{head.data_dir()}};
  REQUIRE(c.connected());
  CHECK(c.address() == head.address());
  auto ok = c.submit(spec("echo", {{"x", 7}}));
  auto bad = c.submit(spec("fail", {{"kind", "std::invalid_argument"}, {"message", "no"}},
                           R"({"retries":0})"));
  REQUIRE(ok);
  REQUIRE(bad);
  auto outs = c.await_many({*ok, *bad}, std::chrono::seconds(60));
  REQUIRE(outs);
  REQUIRE(outs->size() == 2);
  CHECK((*outs)[0].id == *ok);
  CHECK((*outs)[0].state == task_state::succeeded);
  CHECK(result_of((*outs)[0])["x"] == 7);
  CHECK_FALSE(error_of((*outs)[0]));
  CHECK((*outs)[1].state == task_state::failed);
  CHECK(result_of((*outs)[1]).is_null());
  auto e = error_of((*outs)[1]);
  REQUIRE(e);
  CHECK(e->kind == "std::invalid_argument");
  CHECK(e->ancestors == std::vector<std::string>{"std::logic_error", "std::exception"});
  CHECK_THAT(e->message, Contains("no (attempt 1)"));
  // An unknown id is an error of the batch.
  CHECK_FALSE(c.await_many({*ok, 999'999'999}, std::chrono::seconds(5)));
}

TEST_CASE("client: no local head - every refused address is named", "[e2e]") {
  char tmpl[] = "/tmp/taskrt-client-test.XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  client none{local_head{tmpl}};
  CHECK_FALSE(none.connected());
  CHECK_THAT(none.connect_error(), Contains(std::string{tmpl} + "/head.json does not exist"));
  ::rmdir(tmpl);

  const auto a = closed_port(), b = closed_port();
  const auto list = "127.0.0.1:" + std::to_string(a) + ",127.0.0.1:" + std::to_string(b);
  client c{list};
  CHECK_FALSE(c.connected());
  INFO(c.connect_error());
  CHECK_THAT(c.connect_error(), Contains("none of the 2 head addresses answered (each tried once"));
  CHECK_THAT(c.connect_error(), Contains("127.0.0.1:" + std::to_string(a)));
  CHECK_THAT(c.connect_error(), Contains("127.0.0.1:" + std::to_string(b)));
  // The CLI says the same.
  auto r = run_cli({"tasks", "cancel", "1", "--address", list});
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Contains("127.0.0.1:" + std::to_string(a)));
  CHECK_THAT(r.err, Contains("127.0.0.1:" + std::to_string(b)));
}

// The one DSN redactor (persistence/dsn): every libpq form, passwords never
// printed, everything else kept as written.

#include "taskrt/persistence/dsn.hpp"
#include "taskrt/persistence/store_error.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;

TEST_CASE("redact_dsn masks URI userinfo passwords", "[dsn]") {
  CHECK(redact_dsn("postgresql://app:s3cret@db:5432/taskrt")
        == "postgresql://app:***@db:5432/taskrt");
  CHECK(redact_dsn("postgres://app:p%40ss@db/taskrt") == "postgres://app:***@db/taskrt");
  // An '@' in the password (percent-encoding forgotten): the last '@' of the
  // authority ends the userinfo.
  CHECK(redact_dsn("postgresql://app:a@b@db/taskrt") == "postgresql://app:***@db/taskrt");
  CHECK(redact_dsn("postgresql://app@db/taskrt") == "postgresql://app@db/taskrt");
  CHECK(redact_dsn("postgresql://db/taskrt") == "postgresql://db/taskrt");
  CHECK(redact_dsn("postgresql://") == "postgresql://");
}

TEST_CASE("redact_dsn masks password query parameters", "[dsn]") {
  CHECK(redact_dsn("postgresql://db/taskrt?password=s3cret")
        == "postgresql://db/taskrt?password=***");
  CHECK(redact_dsn("postgresql://db/taskrt?sslmode=require&password=s3cret&user=app")
        == "postgresql://db/taskrt?sslmode=require&password=***&user=app");
  CHECK(redact_dsn("postgresql://db/taskrt?sslpassword=k3y&sslmode=verify-full")
        == "postgresql://db/taskrt?sslpassword=***&sslmode=verify-full");
  CHECK(redact_dsn("postgresql://u:one@db/taskrt?password=two")
        == "postgresql://u:***@db/taskrt?password=***");
  CHECK(redact_dsn("postgresql:///taskrt?host=/run/pg&password=x")
        == "postgresql:///taskrt?host=/run/pg&password=***");
}

TEST_CASE("redact_dsn masks keyword/value passwords, quoted or not", "[dsn]") {
  CHECK(redact_dsn("host=db password=s3cret dbname=taskrt")
        == "host=db password=*** dbname=taskrt");
  CHECK(redact_dsn("host=db password = s3cret") == "host=db password = ***");
  CHECK(redact_dsn("password='it is \\' secret' host=db") == "password=*** host=db");
  CHECK(redact_dsn("host=db PASSWORD=x") == "host=db PASSWORD=***");
  CHECK(redact_dsn("host=db sslpassword='a b'") == "host=db sslpassword=***");
  // A key that merely contains "password" is no password.
  CHECK(redact_dsn("host=db passwordless=yes") == "host=db passwordless=yes");
  CHECK(redact_dsn("host=db") == "host=db");
  CHECK(redact_dsn("") == "");
}

TEST_CASE("redact_secrets scrubs every secret of a DSN from a message", "[dsn]") {
  const std::string uri = "postgresql://app:p%40ss@db/taskrt?password=q2";
  auto msg = redact_secrets("auth failed for p@ss (p%40ss), then q2", uri);
  CHECK(msg == "auth failed for *** (***), then ***");
  CHECK(redact_secrets("password 'it is \\' secret' rejected",
                       "password='it is \\' secret'")
        == "password *** rejected"); // the quoted form as written goes whole
  CHECK(redact_secrets("nothing here", "host=db") == "nothing here");
}

TEST_CASE("dsn_with_defaults adds only what the DSN does not set", "[dsn]") {
  const std::vector<std::pair<std::string, std::string>> kv
    = {{"connect_timeout", "5"}, {"keepalives", "1"}};
  CHECK(dsn_with_defaults("postgresql://db/taskrt", kv)
        == "postgresql://db/taskrt?connect_timeout=5&keepalives=1");
  CHECK(dsn_with_defaults("postgresql://db/taskrt?connect_timeout=2", kv)
        == "postgresql://db/taskrt?connect_timeout=2&keepalives=1");
  CHECK(dsn_with_defaults("host=db connect_timeout=9", kv)
        == "host=db connect_timeout=9 keepalives=1");
  CHECK(dsn_with_defaults("", kv) == "connect_timeout=5 keepalives=1");
}

TEST_CASE("store errors are classified by SQLSTATE", "[dsn]") {
  using c = store_error_class;
  CHECK(store_error::classify("40001") == c::retry);
  CHECK(store_error::classify("40P01") == c::retry);
  for (auto s : {"", "08006", "53100", "57P01", "57P03", "57014", "42P01"})
    CHECK(store_error::classify(s) == c::outage);
  for (auto s : {"22P05", "22001", "23505", "23503", "54000"})
    CHECK(store_error::classify(s) == c::data);
  CHECK_FALSE(store_error("x", true, false, "22P05").transient());
  CHECK(store_error("x", true, false, "22P05").data_error());
  CHECK(store_error("x", true, false, "57P01").transient());
}

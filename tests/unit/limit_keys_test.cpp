/// Limit keys of a task: the submit's and the registration's, templates
/// filled in from the args, checks, and the journal's text form.

#include "taskrt/runtime/limit_keys.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;
using json = nlohmann::json;

namespace {
std::vector<std::string> keys(const std::vector<std::string>& given,
                              const std::vector<std::string>& defaults, const json& args) {
  auto r = resolve_limit_keys(given, defaults, args);
  INFO((r.index() == 1 ? std::get<1>(r) : ""));
  REQUIRE(r.index() == 0);
  return std::get<0>(r);
}
std::string error(const std::vector<std::string>& given, const json& args) {
  auto r = resolve_limit_keys(given, {}, args);
  REQUIRE(r.index() == 1);
  return std::get<1>(r);
}
} // namespace

TEST_CASE("limit keys: given, then defaults, templates filled in, duplicates once",
          "[limit_keys]") {
  const json args = {{"tenant", "acme"}, {"org", {{"id", 42}}}};
  CHECK(keys({}, {}, args).empty());
  CHECK(keys({"api"}, {"tenant:{args.tenant}"}, args)
        == std::vector<std::string>{"api", "tenant:acme"});
  CHECK(keys({"org:{args.org.id}/{args.tenant}"}, {}, args)
        == std::vector<std::string>{"org:42/acme"});
  CHECK(keys({"api", "api"}, {"api"}, args) == std::vector<std::string>{"api"});
}

TEST_CASE("limit keys: bad templates and names are refused with the key named",
          "[limit_keys]") {
  const json args = {{"tenant", "acme"}, {"n", 1.5}, {"o", json::object()}};
  CHECK(error({"t:{args.missing}"}, args) == "limit key 't:{args.missing}': args has no 'missing'");
  CHECK(error({"t:{args.n}"}, args).find("not a string or an integer") != std::string::npos);
  CHECK(error({"t:{args.o}"}, args).find("not a string or an integer") != std::string::npos);
  CHECK(error({"t:{env.HOME}"}, args).find("only {args.FIELD}") != std::string::npos);
  CHECK(error({"t:{args.tenant"}, args).find("without '}'") != std::string::npos);
  CHECK(error({""}, args).find("limit key") != std::string::npos);
  CHECK(error({"t:{args.tenant}"}, json::array()).find("args has no") != std::string::npos);
  std::vector<std::string> many;
  for (int i = 0; i < 17; ++i)
    many.push_back("k" + std::to_string(i));
  CHECK(error(many, args).find("at most 16") != std::string::npos);
}

TEST_CASE("limit keys: journal text round trip", "[limit_keys]") {
  CHECK(limit_keys_text({}).empty());
  CHECK(limit_keys_of("").empty());
  const std::vector<std::string> k{"api", "tenant:a\"b"};
  CHECK(limit_keys_of(limit_keys_text(k)) == k);
}

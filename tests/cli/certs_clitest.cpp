// `taskrt certs generate` and the TLS options as a user meets them: exit
// codes 0/1/2, -o json, refusing to overwrite, and the start-up checks of
// `taskrt start` (no database needed: they fail before any connection).

#include "tests/e2e/head_process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include <unistd.h>

using namespace taskrt::test;
using json = nlohmann::json;

namespace {

const std::vector<std::string> no_services{
  "TASKRT_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none", "TASKRT_ADDRESS=127.0.0.1:1"};

struct temp_dir {
  std::string path;
  temp_dir() {
    char tpl[] = "/tmp/taskrt-certs-cli.XXXXXX";
    REQUIRE(::mkdtemp(tpl) != nullptr);
    path = tpl;
  }
  ~temp_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

std::string joined(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args)
    out += a + " ";
  return out;
}

} // namespace

TEST_CASE("certs generate - bad arguments exit 2 with one line on stderr", "[cli][tls]") {
  temp_dir d;
  const auto dir = d.path + "/tls";
  for (const auto& args : std::vector<std::vector<std::string>>{
         {"certs"},
         {"certs", "generate"},
         {"certs", "generate", dir, "--nodes", "-1"},
         {"certs", "generate", dir, "--names", "ca"},
         {"certs", "generate", dir, "--names", "a/b"},
         {"certs", "generate", dir, "--names", "x,x"},
         {"certs", "generate", dir, "--nodes", "2", "--names", "a"},
         {"certs", "generate", dir, "--days", "0"},
         {"certs", "generate", dir, "--host", "bad host"},
         {"certs", "generate", dir, "-o", "xml"},
       }) {
    auto r = run_cli(args, no_services);
    INFO("taskrt " << joined(args) << "\nstderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.rfind("taskrt: ", 0) == 0);
  }
  CHECK(::access(dir.c_str(), F_OK) != 0); // nothing written
}

TEST_CASE("certs generate - json lists the files - a second run refuses - --force replaces",
          "[cli][tls]") {
  temp_dir d;
  auto r = run_cli({"certs", "generate", d.path, "--nodes", "3", "--host", "10.0.0.5", "-o",
                    "json"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j["ca"] == "new");
  std::vector<std::string> names;
  for (const auto& f : j["files"]) {
    CHECK(f["mode"] == (f["kind"] == "key" || f["kind"] == "ca-key" ? "0600" : "0644"));
    CHECK(::access(f["path"].get<std::string>().c_str(), R_OK) == 0);
    if (f["kind"] == "certificate")
      names.push_back(f["name"]);
  }
  CHECK(names == std::vector<std::string>{"head", "node-1", "node-2", "node-3", "client"});

  auto again = run_cli({"certs", "generate", d.path, "--nodes", "3"});
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("refusing to overwrite") && Catch::Contains("--force"));

  auto more = run_cli({"certs", "generate", d.path, "--names", "gpu-1", "-o", "json"});
  REQUIRE(more.exit_code == 0);
  CHECK(json::parse(more.out)["ca"] == "existing");

  auto forced = run_cli({"certs", "generate", d.path, "--names", "head", "--force"});
  CHECK(forced.exit_code == 0);
  CHECK_THAT(forced.out, Catch::Contains("head.pem") && Catch::Contains("existing CA"));

  auto help = run_cli({"certs", "generate", "--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("Examples:"));
}

TEST_CASE("start - TLS decides where a head may listen - unusable TLS material is refused "
          "before anything starts",
          "[cli][tls]") {
  temp_dir d;
  auto plain = run_cli({"start", "--head", "--host", "0.0.0.0", "--data-dir", d.path},
                       no_services);
  INFO("stderr: " << plain.err);
  CHECK(plain.exit_code == 2);
  CHECK_THAT(plain.err, Catch::Contains("loopback only") && Catch::Contains("--tls-dir")
                          && Catch::Contains("--insecure"));

  auto missing = run_cli({"start", "--head", "--host", "0.0.0.0", "--tls-dir",
                          d.path + "/nope", "--data-dir", d.path},
                         no_services);
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("does not exist"));

  // A TLS dir without an identity for this node.
  REQUIRE(run_cli({"certs", "generate", d.path + "/tls", "--nodes", "2"}).exit_code == 0);
  auto node = run_cli({"start", "--address", "127.0.0.1:1", "--node-id", "gpu-7", "--tls-dir",
                       d.path + "/tls"});
  CHECK(node.exit_code == 1);
  CHECK_THAT(node.err, Catch::Contains("no certificate for 'gpu-7'")
                         && Catch::Contains("--tls-name"));

  // [openssl] in --config takes tls-dir and tls-name only.
  std::ofstream{d.path + "/bad.toml"} << "[openssl]\ncertificate = \"x.pem\"\n";
  auto bad = run_cli({"status", "--config", d.path + "/bad.toml"}, no_services);
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("[openssl] certificate"));
}

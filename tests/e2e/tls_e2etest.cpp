// Mutual TLS with real processes: two CAs made by `taskrt certs generate`; a
// head with CA1 certificates listening on 0.0.0.0 (allowed with TLS); a node
// with a CA1 certificate registers and runs a task submitted by the CLI (which
// finds TLS through the head's state file). A node of CA2, a node that trusts
// CA1 but presents a CA2 certificate, and a node without certificates never
// register; the head logs each refusal and the nodes say why and keep retrying.

#include "taskrt/persistence/journal_store.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <climits>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size()))
    ++n;
  return n;
}


std::vector<std::string> node_ids(const std::string& dsn) {
  auto r = run_cli({"nodes", "-o", "json", "--db", dsn});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE(j.is_array());
  std::vector<std::string> ids;
  for (const auto& n : j)
    ids.push_back(n.value("id", ""));
  return ids;
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string real(const std::string& path) {
  char buf[PATH_MAX];
  REQUIRE(::realpath(path.c_str(), buf) != nullptr);
  return buf;
}

} // namespace

TEST_CASE("tls cluster - a node of the cluster CA runs tasks - other-CA - impostor and "
          "plaintext nodes are refused and the head logs it",
          "[e2e][tls]") {
  auto dsn = fresh_schema_dsn("e2e_tls");
  char tpl[] = "/tmp/taskrt-tls-e2e.XXXXXX";
  REQUIRE(::mkdtemp(tpl) != nullptr);
  const std::string tmp = tpl;
  const auto ca1 = tmp + "/ca1";
  const auto ca2 = tmp + "/ca2";
  const auto imp = tmp + "/impostor";

  // Two clusters' certificates, made by the CLI.
  auto g1 = run_cli({"certs", "generate", ca1, "--nodes", "1", "-o", "json"});
  INFO("certs generate: " << g1.out << g1.err);
  REQUIRE(g1.exit_code == 0);
  auto files = json::parse(g1.out, nullptr, false);
  REQUIRE(files.is_object());
  CHECK(files["ca"] == "new");
  CHECK(files["files"].size() == 8); // ca, head, node-1, client: .pem + .key each
  for (const auto& f : files["files"])
    if (f["kind"] == "key" || f["kind"] == "ca-key")
      CHECK(f["mode"] == "0600");
  REQUIRE(run_cli({"certs", "generate", ca2, "--names", "rogue"}).exit_code == 0);
  // An impostor trusts CA1 (ca.pem is public) but holds a CA2 certificate.
  REQUIRE(::mkdir(imp.c_str(), 0700) == 0);
  REQUIRE(std::system(("cat '" + ca1 + "/ca.pem' '" + ca2 + "/ca.pem' > '" + imp + "/ca.pem' && cp '"
                       + ca2 + "/rogue.pem' '" + ca2 + "/rogue.key' '" + imp + "/'")
                        .c_str())
          == 0);

  // Without TLS a head refuses a non-loopback address and says why.
  auto plain_head = run_cli({"start", "--head", "--host", "0.0.0.0", "--db", dsn, "--data-dir",
                             tmp + "/unused"});
  CHECK(plain_head.exit_code == 2);
  CHECK_THAT(plain_head.err, Catch::Contains("--tls-dir") && Catch::Contains("--insecure")
                               && Catch::Contains("loopback only"));

  head_process head{dsn, {"--workers", "0", "--host", "0.0.0.0", "--tls-dir", ca1}};
  CHECK_THAT(head.log(), Catch::Contains("transport: mutual TLS (CA " + real(ca1) + "/ca.pem"));
  auto state = json::parse(slurp(head.data_dir() + "/head.json"), nullptr, false);
  CHECK(state.value("tls", false));
  CHECK(state.value("tls_dir", "") == real(ca1));
  const auto address = head.address();

  // A node of the cluster CA registers and runs a task.
  node_process good{address, "node-1", tmp, {"--workers", "1", "--tls-dir", ca1}};
  REQUIRE(eventually([&] { return has(node_ids(dsn), "node-1"); }, 30'000));
  CHECK_THAT(good.output(), Catch::Contains("mutual TLS as 'node-1'"));
  CHECK_THAT(head.log(), Catch::Contains("authenticated as 'node-1'"));
  // The CLI finds the head and its TLS directory through the state file.
  auto sub = run_cli({"submit", "echo", "--args", R"({"tls":1})", "--wait", "-o", "json",
                      "--data-dir", head.data_dir()});
  INFO("submit: " << sub.out << sub.err);
  REQUIRE(sub.exit_code == 0);
  auto outcome = json::parse(sub.out, nullptr, false);
  REQUIRE(outcome.is_object());
  CHECK(outcome["state"] == "SUCCEEDED");
  journal_store store{dsn};
  auto task = store.get_task(outcome["id"].get<int64_t>());
  REQUIRE(task);
  CHECK(task->node == "node-1"); // the head has no workers of its own

  const auto refusals = [&] { return count_of(head.log(), "refused TLS connection from 127.0.0.1:"); };

  SECTION("a node of another CA") {
    const auto before = refusals();
    node_process rogue{address, "rogue", tmp, {"--workers", "1", "--tls-dir", ca2}};
    // It is refused at least twice (it keeps retrying) and says why.
    REQUIRE(eventually([&] { return refusals() >= before + 2; }, 30'000));
    REQUIRE(eventually([&] {
      return count_of(rogue.output(), "TLS handshake with the head at " + address + " failed") >= 2;
    }, 10'000));
    CHECK_THAT(rogue.output(), Catch::Contains("certificate verify failed"));
    CHECK_THAT(head.log(), Catch::Contains("the peer sent alert \"unknown CA\""));
    CHECK(rogue.running());
    CHECK_FALSE(has(node_ids(dsn), "rogue"));
  }

  SECTION("a node that trusts the CA but presents another CA's certificate") {
    const auto verify_failed = [&] {
      // "unable to get local issuer certificate", or "self-signed certificate in
      // certificate chain" when the peer sends its CA along.
      return count_of(head.log(), ": certificate verify failed (");
    };
    const auto before = verify_failed();
    node_process impostor{address, "impostor", tmp, {"--workers", "1", "--tls-dir", imp}};
    REQUIRE(eventually([&] { return verify_failed() >= before + 2; }, 30'000));
    REQUIRE(eventually([&] {
      return count_of(impostor.output(), "did not accept this process's certificate") >= 2;
    }, 10'000));
    CHECK(impostor.running());
    CHECK_FALSE(has(node_ids(dsn), "impostor"));
  }

  SECTION("a node without certificates") {
    const auto before = refusals();
    node_process plain{address, "plain", tmp, {"--workers", "1"}};
    REQUIRE(eventually([&] { return refusals() >= before + 2; }, 30'000));
    REQUIRE(eventually([&] {
      return count_of(plain.output(), "cannot reach the head at " + address) >= 2;
    }, 10'000));
    CHECK(plain.running());
    CHECK_FALSE(has(node_ids(dsn), "plain"));
    // While it keeps knocking, a client's task still runs on the good node
    // and is awaited to its end over TLS: a refusal drops nobody else.
    auto during = run_cli({"submit", "echo", "--args", R"({"during":1})", "--wait", "-o", "json",
                           "--data-dir", head.data_dir()});
    INFO("submit during the refusals: " << during.out << during.err);
    CHECK(during.exit_code == 0);
    REQUIRE(eventually([&] { return refusals() >= before + 4; }, 30'000));
  }

  SECTION("CLI commands: TLS from the flag, the environment or [openssl] of --config") {
    auto other = run_cli({"status", "--address", address, "--tls-dir", ca2, "-o", "json",
                          "--db", dsn});
    CHECK(other.exit_code == 1);
    CHECK_THAT(other.out, Catch::Contains("TLS handshake with the head at " + address));
    auto plain = run_cli({"submit", "echo", "--address", address});
    CHECK(plain.exit_code == 1);
    CHECK_THAT(plain.err, Catch::Contains("cannot reach the head at " + address));
    auto by_env = run_cli({"status", "--address", address, "-o", "json", "--db", dsn},
                          {"TASKRT_TLS_DIR='" + ca1 + "'"});
    INFO("status: " << by_env.out << by_env.err);
    CHECK(by_env.exit_code == 0);
    std::ofstream{tmp + "/taskrt.toml"} << "[openssl]\ntls-dir = \"ca1\"\n";
    auto by_config = run_cli({"status", "--config", tmp + "/taskrt.toml", "--address", address,
                              "-o", "json", "--db", dsn});
    INFO("status: " << by_config.out << by_config.err);
    CHECK(by_config.exit_code == 0);
  }

  // The good node was never disturbed: not even its connection dropped.
  CHECK(good.running());
  CHECK_THAT(good.output(), !Catch::Contains("lost the head"));
  auto ids = node_ids(dsn);
  CHECK(has(ids, "node-1"));
  CHECK_FALSE(has(ids, "rogue"));
  CHECK_FALSE(has(ids, "impostor"));
  CHECK_FALSE(has(ids, "plain"));
  good.kill9();
  std::system(("rm -rf '" + tmp + "'").c_str());
}

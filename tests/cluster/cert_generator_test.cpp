// The certificate generator: every identity's chain verifies against its own
// ca.pem with X509_verify_cert and not against another CA's; keys are 0600;
// files are never overwritten without force; an existing CA is reused.

#include "taskrt/cluster/cert_generator.hpp"

#include <catch2/catch.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

using namespace taskrt;

namespace {

/// A fresh directory under /tmp, removed at the end of the test.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tpl[] = "/tmp/taskrt-certs-test.XXXXXX";
    REQUIRE(::mkdtemp(tpl) != nullptr);
    path = tpl;
  }
  ~temp_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

std::string slurp(const std::string& path) {
  std::ifstream f{path};
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int mode_of(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 0777);
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

using x509_ptr = std::unique_ptr<X509, void (*)(X509*)>;

x509_ptr load_cert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  REQUIRE(f != nullptr);
  x509_ptr cert{PEM_read_X509(f, nullptr, nullptr, nullptr), X509_free};
  std::fclose(f);
  REQUIRE(cert);
  return cert;
}

/// X509_verify_cert of `cert_path` against the CA in `ca_path` for a TLS
/// purpose; X509_V_OK or the verification error.
int verify(const std::string& cert_path, const std::string& ca_path, int purpose) {
  auto cert = load_cert(cert_path);
  std::unique_ptr<X509_STORE, void (*)(X509_STORE*)> store{X509_STORE_new(), X509_STORE_free};
  REQUIRE(X509_STORE_load_file(store.get(), ca_path.c_str()) == 1);
  std::unique_ptr<X509_STORE_CTX, void (*)(X509_STORE_CTX*)> ctx{X509_STORE_CTX_new(),
                                                                  X509_STORE_CTX_free};
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) == 1);
  REQUIRE(X509_STORE_CTX_set_purpose(ctx.get(), purpose) == 1);
  if (X509_verify_cert(ctx.get()) == 1)
    return X509_V_OK;
  return X509_STORE_CTX_get_error(ctx.get());
}

bool key_matches(const std::string& cert_path, const std::string& key_path) {
  auto cert = load_cert(cert_path);
  FILE* f = std::fopen(key_path.c_str(), "r");
  REQUIRE(f != nullptr);
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key{
    PEM_read_PrivateKey(f, nullptr, nullptr, nullptr), EVP_PKEY_free};
  std::fclose(f);
  REQUIRE(key);
  return X509_check_private_key(cert.get(), key.get()) == 1;
}

} // namespace

TEST_CASE("certs generate - each identity verifies against its own CA and not another CA",
          "[tls][certs]") {
  temp_dir one, two;
  cert_request r1;
  r1.dir = one.path + "/tls";
  r1.names = default_identities(2);
  r1.hosts = {"10.1.2.3", "head.example.com"};
  auto res1 = generate_certificates(r1);
  CHECK(res1.new_ca);
  CHECK(res1.files.size() == 2 + 2 * 4); // CA + head, node-1, node-2, client
  cert_request r2;
  r2.dir = two.path;
  r2.names = {"node-1"};
  auto res2 = generate_certificates(r2);
  CHECK(res2.new_ca);

  const auto ca1 = r1.dir + "/ca.pem";
  const auto ca2 = r2.dir + "/ca.pem";
  for (const auto& name : {"head", "node-1", "node-2", "client"}) {
    INFO("identity " << name);
    const auto pem = r1.dir + "/" + name + ".pem";
    const auto key = r1.dir + "/" + name + ".key";
    CHECK(verify(pem, ca1, X509_PURPOSE_SSL_SERVER) == X509_V_OK);
    CHECK(verify(pem, ca1, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
    CHECK(verify(pem, ca2, X509_PURPOSE_SSL_CLIENT)
          == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    CHECK(key_matches(pem, key));
    CHECK(mode_of(key) == 0600);
    CHECK(mode_of(pem) == 0644);
    auto cert = load_cert(pem);
    CHECK(X509_check_ca(cert.get()) == 0);
    CHECK(X509_check_ip_asc(cert.get(), "127.0.0.1", 0) == 1);
    CHECK(X509_check_ip_asc(cert.get(), "10.1.2.3", 0) == 1);
    CHECK(X509_check_host(cert.get(), "head.example.com", 0, 0, nullptr) == 1);
    CHECK(X509_check_host(cert.get(), "other.example.com", 0, 0, nullptr) == 0);
  }
  CHECK(verify(r2.dir + "/node-1.pem", ca2, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
  CHECK(verify(r2.dir + "/node-1.pem", ca1, X509_PURPOSE_SSL_CLIENT)
        == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  CHECK(mode_of(r1.dir + "/ca.key") == 0600);
  CHECK(mode_of(r1.dir) == 0700);
  auto ca = load_cert(ca1);
  CHECK(X509_check_ca(ca.get()) == 1);
  CHECK(key_matches(ca1, r1.dir + "/ca.key"));
  // No temporary files are left behind.
  CHECK(std::system(("ls '" + r1.dir + "' | grep -q tmp").c_str()) != 0);
}

TEST_CASE("certs generate - refuses to overwrite without force and never replaces the CA",
          "[tls][certs]") {
  temp_dir d;
  cert_request r;
  r.dir = d.path;
  r.names = {"head", "client"};
  generate_certificates(r);
  const auto ca_before = slurp(d.path + "/ca.pem");
  const auto head_before = slurp(d.path + "/head.pem");

  REQUIRE_THROWS_WITH(generate_certificates(r), Catch::Contains("refusing to overwrite")
                                                  && Catch::Contains("--force"));
  CHECK(slurp(d.path + "/head.pem") == head_before);

  // A new identity is signed by the CA already there.
  cert_request more;
  more.dir = d.path;
  more.names = {"node-9"};
  auto added = generate_certificates(more);
  CHECK_FALSE(added.new_ca);
  CHECK(added.files.size() == 2);
  CHECK(slurp(d.path + "/ca.pem") == ca_before);
  CHECK(verify(d.path + "/node-9.pem", d.path + "/ca.pem", X509_PURPOSE_SSL_CLIENT)
        == X509_V_OK);

  // --force re-issues the identity, keeps the CA.
  r.force = true;
  auto again = generate_certificates(r);
  CHECK_FALSE(again.new_ca);
  CHECK(slurp(d.path + "/ca.pem") == ca_before);
  CHECK(slurp(d.path + "/head.pem") != head_before);
  CHECK(verify(d.path + "/head.pem", d.path + "/ca.pem", X509_PURPOSE_SSL_SERVER) == X509_V_OK);
  CHECK(mode_of(d.path + "/head.key") == 0600);
}

TEST_CASE("certs generate - bad requests are rejected before anything is written",
          "[tls][certs]") {
  temp_dir d;
  cert_request r;
  r.dir = d.path + "/new";
  for (const auto& bad : {"ca", "", "a/b", "-x", ".hidden", "sp ace"}) {
    INFO("name '" << bad << "'");
    r.names = {bad};
    CHECK_THROWS_AS(generate_certificates(r), std::invalid_argument);
  }
  r.names = {"head", "head"};
  CHECK_THROWS_AS(generate_certificates(r), std::invalid_argument);
  r.names = {"head"};
  r.hosts = {"a,DNS:evil"};
  CHECK_THROWS_AS(generate_certificates(r), std::invalid_argument);
  r.hosts = {};
  r.days = 0;
  CHECK_THROWS_AS(generate_certificates(r), std::invalid_argument);
  CHECK_FALSE(exists(r.dir));

  // A CA certificate without its key cannot sign.
  r.days = 30;
  r.dir = d.path;
  std::ofstream{d.path + "/ca.pem"} << "not used\n";
  CHECK_THROWS_WITH(generate_certificates(r), Catch::Contains("ca.key"));
  CHECK_FALSE(exists(d.path + "/head.pem"));
}

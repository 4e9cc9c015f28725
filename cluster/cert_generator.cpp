#include "taskrt/cluster/cert_generator.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <set>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace taskrt {

namespace {

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* p) const { X509_free(p); }
};
struct bn_free {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct ext_free {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const { BIO_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

/// The oldest OpenSSL error as text (and the queue cleared).
std::string ssl_error() {
  unsigned long code = ERR_get_error();
  std::string out;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    out = buf;
  }
  ERR_clear_error();
  return out.empty() ? "unknown OpenSSL error" : out;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + ssl_error());
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

void make_dirs(const std::string& dir) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty() || exists(cur))
      continue;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST)
      throw std::runtime_error("cannot create " + cur + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw std::runtime_error(dir + " is not a directory");
}

pkey_ptr new_p256_key() {
  pkey_ptr key{EVP_EC_gen("P-256")};
  if (!key)
    fail("cannot generate an EC P-256 key");
  return key;
}

/// A random positive 127-bit serial number.
void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1)
    fail("cannot get random bytes for a serial number");
  bytes[0] &= 0x7f;
  std::unique_ptr<BIGNUM, bn_free> bn{BN_bin2bn(bytes, sizeof(bytes), nullptr)};
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)))
    fail("cannot set a serial number");
}

std::string random_hex(size_t n) {
  std::string out;
  unsigned char b[16];
  if (n > sizeof(b) || RAND_bytes(b, static_cast<int>(n)) != 1)
    fail("cannot get random bytes");
  static const char* digits = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    out += digits[b[i] >> 4];
    out += digits[b[i] & 0xf];
  }
  return out;
}

void set_name(X509_NAME* name, const std::string& cn) {
  auto add = [&](const char* field, const std::string& value) {
    if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1,
                                   -1, 0)
        != 1)
      fail(std::string{"cannot set "} + field);
  };
  add("O", "taskrt");
  add("CN", cn);
}

void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  std::unique_ptr<X509_EXTENSION, ext_free> ext{
    X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str())};
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    fail(std::string{"cannot add the "} + OBJ_nid2sn(nid) + " extension '" + value + "'");
}

/// A certificate for `key` named `cn`, issued by `issuer` (self-signed when
/// null) and signed with `issuer_key`, valid from 5 minutes ago (clock skew)
/// for `days` days, capped at `not_after` when given.
x509_ptr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                   int days, bool ca, const std::string& san, const ASN1_TIME* not_after) {
  x509_ptr cert{X509_new()};
  if (!cert || X509_set_version(cert.get(), 2) != 1)
    fail("cannot create a certificate");
  set_random_serial(cert.get());
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300)
      || !X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr))
    fail("cannot set the validity");
  if (not_after && ASN1_TIME_compare(X509_get0_notAfter(cert.get()), not_after) > 0
      && X509_set1_notAfter(cert.get(), not_after) != 1)
    fail("cannot cap the validity at the CA's");
  set_name(X509_get_subject_name(cert.get()), cn);
  X509* signer = issuer ? issuer : cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) != 1
      || X509_set_pubkey(cert.get(), key) != 1)
    fail("cannot set the issuer or public key");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
  if (ca) {
    add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  } else {
    add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
    add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
    add_ext(cert.get(), &ctx, NID_subject_alt_name, san);
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0)
    fail("cannot sign the certificate for " + cn);
  return cert;
}

/// Writes through a temporary file in the same directory, then renames it
/// over `path`: a reader never sees half a file, and a key is 0600 from
/// the moment it exists.
template <class WriteFn>
void write_atomically(const std::string& path, mode_t mode, WriteFn write) {
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmp.data()); // mode 0600
  if (fd < 0)
    throw std::runtime_error("cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = false;
  {
    std::unique_ptr<BIO, bio_free> bio{BIO_new_fd(fd, BIO_NOCLOSE)};
    ok = bio && write(bio.get()) && BIO_flush(bio.get()) == 1;
  }
  std::string why = ok ? "" : ssl_error();
  if (ok && (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0)) {
    ok = false;
    why = std::strerror(errno);
  }
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    why = std::strerror(errno);
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + why);
  }
}

void write_key(const std::string& path, EVP_PKEY* key) {
  write_atomically(path, 0600, [key](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  });
}

void write_cert(const std::string& path, X509* cert) {
  write_atomically(path, 0644, [cert](BIO* b) { return PEM_write_bio_X509(b, cert) == 1; });
}

x509_ptr read_cert(const std::string& path) {
  std::unique_ptr<BIO, bio_free> bio{BIO_new_file(path.c_str(), "r")};
  x509_ptr cert{bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr};
  if (!cert)
    fail("cannot read the certificate " + path);
  return cert;
}

pkey_ptr read_key(const std::string& path) {
  std::unique_ptr<BIO, bio_free> bio{BIO_new_file(path.c_str(), "r")};
  pkey_ptr key{bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr};
  if (!key)
    fail("cannot read the key " + path);
  return key;
}

std::string san_of(const std::vector<std::string>& hosts) {
  std::vector<std::string> entries{"DNS:localhost", "IP:127.0.0.1", "IP:::1"};
  for (const auto& h : hosts) {
    unsigned char buf[16];
    const bool ip = ::inet_pton(AF_INET, h.c_str(), buf) == 1
                    || ::inet_pton(AF_INET6, h.c_str(), buf) == 1;
    auto e = (ip ? "IP:" : "DNS:") + h;
    if (std::find(entries.begin(), entries.end(), e) == entries.end())
      entries.push_back(e);
  }
  std::string out;
  for (const auto& e : entries)
    out += (out.empty() ? "" : ",") + e;
  return out;
}

} // namespace

std::vector<std::string> node_patterns_for(const std::string& name, bool pool) {
  if (pool)
    return {name + "-*"};
  if (name == "head" || name == "client")
    return {};
  return {name};
}

std::vector<std::string> default_identities(int nodes) {
  std::vector<std::string> out{"head"};
  for (int i = 1; i <= nodes; ++i)
    out.push_back("node-" + std::to_string(i));
  out.push_back("client");
  return out;
}

std::string check_identity_name(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return "an identity name has 1 to 64 characters";
  if (name == "ca")
    return "'ca' names the cluster CA, not an identity";
  if (name.front() == '.' || name.front() == '-')
    return "'" + name + "' starts with '" + name.front() + "'";
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return "'" + name + "' has a character other than letters, digits, '.', '_' and '-'";
  return {};
}

std::string check_san_host(const std::string& host) {
  unsigned char buf[16];
  if (::inet_pton(AF_INET, host.c_str(), buf) == 1
      || ::inet_pton(AF_INET6, host.c_str(), buf) == 1)
    return {};
  auto rest = host.rfind("*.", 0) == 0 ? host.substr(2) : host;
  if (rest.empty() || rest.size() > 253)
    return "'" + host + "' is neither an IP address nor a DNS name";
  for (char c : rest)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-')
      return "'" + host + "' is neither an IP address nor a DNS name";
  return {};
}

cert_result generate_certificates(const cert_request& req) {
  if (req.dir.empty())
    throw std::invalid_argument("no directory given");
  if (req.days < 1 || req.days > 36500)
    throw std::invalid_argument("--days must be between 1 and 36500");
  if (req.names.empty() && req.pools.empty())
    throw std::invalid_argument("no identities to generate");
  std::set<std::string> seen;
  std::vector<std::pair<std::string, bool>> all; // name, is a pool
  for (const auto& n : req.names)
    all.emplace_back(n, false);
  for (const auto& n : req.pools)
    all.emplace_back(n, true);
  for (const auto& [n, pool] : all) {
    if (auto why = check_identity_name(n); !why.empty())
      throw std::invalid_argument(why);
    if (!seen.insert(n).second)
      throw std::invalid_argument("identity '" + n + "' is named twice");
  }
  for (const auto& h : req.hosts)
    if (auto why = check_san_host(h); !why.empty())
      throw std::invalid_argument("--host " + why);

  std::string dir = req.dir;
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  const auto ca_pem = dir + "/ca.pem";
  const auto ca_key = dir + "/ca.key";
  const bool have_ca_pem = exists(ca_pem);
  const bool have_ca_key = exists(ca_key);
  if (have_ca_pem != have_ca_key)
    throw std::runtime_error(
      have_ca_pem ? ca_pem + " exists but " + ca_key
                      + " does not: new certificates need the CA's key (use the directory "
                        "where the CA was generated)"
                  : ca_key + " exists but " + ca_pem + " does not");
  std::vector<std::string> clash;
  for (const auto& [n, pool] : all)
    for (const auto* ext : {".pem", ".key"})
      if (exists(dir + "/" + n + ext))
        clash.push_back(dir + "/" + n + ext);
  if (!clash.empty() && !req.force) {
    std::string list;
    for (const auto& c : clash)
      list += (list.empty() ? "" : ", ") + c;
    throw std::runtime_error("refusing to overwrite " + list + " (pass --force to replace)");
  }

  make_dirs(dir);
  cert_result result;
  x509_ptr ca_cert;
  pkey_ptr ca_pkey;
  if (have_ca_pem) {
    ca_cert = read_cert(ca_pem);
    ca_pkey = read_key(ca_key);
    if (X509_check_private_key(ca_cert.get(), ca_pkey.get()) != 1)
      fail(ca_key + " is not the key of " + ca_pem);
    if (X509_check_ca(ca_cert.get()) == 0)
      throw std::runtime_error(ca_pem + " is not a CA certificate");
  } else {
    ca_pkey = new_p256_key();
    ca_cert = make_cert(ca_pkey.get(), "taskrt cluster CA " + random_hex(4), nullptr,
                        ca_pkey.get(), req.days, true, "", nullptr);
    write_key(ca_key, ca_pkey.get());
    write_cert(ca_pem, ca_cert.get());
    result.new_ca = true;
    result.files.push_back({ca_pem, "ca-certificate", "ca"});
    result.files.push_back({ca_key, "ca-key", "ca"});
  }
  const auto san = san_of(req.hosts);
  for (const auto& [n, pool] : all) {
    auto key = new_p256_key();
    auto names = san;
    for (const auto& p : node_patterns_for(n, pool))
      names += ",URI:taskrt:node:" + p;
    auto cert = make_cert(key.get(), n, ca_cert.get(), ca_pkey.get(), req.days, false, names,
                          X509_get0_notAfter(ca_cert.get()));
    write_key(dir + "/" + n + ".key", key.get());
    write_cert(dir + "/" + n + ".pem", cert.get());
    result.files.push_back({dir + "/" + n + ".pem", "certificate", n});
    result.files.push_back({dir + "/" + n + ".key", "key", n});
  }
  return result;
}

} // namespace taskrt

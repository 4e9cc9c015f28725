/// `taskrt certs generate DIR`: a cluster CA and certificates for mutual TLS.

#include "taskrt/cli/commands.hpp"

#include "taskrt/cluster/cert_generator.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <stdexcept>

#include <sys/stat.h>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

const char* kind_text(const std::string& kind) {
  if (kind == "ca-certificate")
    return "CA certificate (copy to every machine)";
  if (kind == "ca-key")
    return "CA key (keep secret, off the nodes: it signs new certificates)";
  if (kind == "certificate")
    return "certificate";
  return "key (0600; only this identity's machine)";
}

/// The permission bits of `path` in octal, e.g. "0600".
std::string file_mode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return "";
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(st.st_mode & 0777));
  return buf;
}

} // namespace

void add_certs_command(CLI::App& app, cli_env& env) {
  auto* certs = app.add_subcommand("certs", "Certificates for mutual TLS between head, nodes "
                                            "and clients");
  certs->require_subcommand(1);
  certs->footer("Run `taskrt certs generate --help` for the options and examples.");

  struct args_t {
    std::string dir, output = "table";
    int nodes = 2;
    std::vector<std::string> names, hosts, pools;
    int days = 825;
    bool force = false;
  };
  auto a = std::make_shared<args_t>();
  auto* cmd = certs->add_subcommand(
    "generate", "Make a cluster CA and a certificate + key per identity, signed by it");
  cmd->footer(R"(Writes DIR/ca.pem and DIR/ca.key (the cluster CA) and NAME.pem + NAME.key for
each identity: head, node-1 .. node-N and client by default. Keys are EC P-256,
unencrypted, mode 0600. If DIR already holds ca.pem and ca.key, that CA signs
the new identities (to add a node later) and is kept. Existing identity files
are never overwritten without --force.

Which identity a process uses from --tls-dir DIR: --tls-name if given; else
"head" for a head, the node id for a worker node, "client" for CLI commands;
else the only identity in DIR. Give each machine ca.pem and its own pair only.

Every certificate carries subjectAltNames DNS:localhost, IP:127.0.0.1, IP:::1
and each --host. Peers check that a certificate is signed by the cluster CA
and not expired; host names are not checked. A head with TLS lets a node
register only under a node id its certificate allows (URI subjectAltNames
taskrt:node:ID): a node certificate allows its own name, a --pool NAME
certificate allows NAME-* (one Kubernetes Secret for all replicas of a
Deployment, each with its own --node-id NAME-...), "client" and "head" allow
none (the client submits and inspects; it cannot register as a node).
Examples:
  taskrt certs generate ./tls                       # head, node-1, node-2, client
  taskrt certs generate ./tls --nodes 5 --host 10.0.0.5 --host head.example.com
  taskrt certs generate ./tls --names gpu-1,gpu-2   # add nodes signed by ./tls/ca.pem
  taskrt certs generate ./tls --names head --force  # re-issue the head's certificate
  taskrt certs generate ./tls --pool pool-a        # pool-a.pem: node ids pool-a-*
  taskrt certs generate ./tls -o json               # the files written)");
  cmd->add_option("dir", a->dir, "Directory to write (created with mode 0700)")->required();
  auto* nodes = cmd->add_option("--nodes", a->nodes, "Node identities node-1 .. node-N")
                  ->capture_default_str()->check(CLI::Range(0, 1000));
  cmd->add_option("--names", a->names,
                  "Exactly these identities (comma-separated) instead of head, node-1..N, client")
    ->delimiter(',')->excludes(nodes);
  cmd->add_option("--pool", a->pools,
                  "Pool identities (comma-separated): NAME.pem lets nodes register as NAME-*")
    ->delimiter(',');
  cmd->add_option("--host", a->hosts,
                  "Extra subjectAltName: IP address or DNS name (repeatable, comma-separated)")
    ->delimiter(',');
  cmd->add_option("--days", a->days, "Validity in days")->capture_default_str()
    ->check(CLI::Range(1, 36500));
  cmd->add_flag("--force", a->force, "Replace identity files that exist (never the CA)");
  cmd->add_option("-o,--output", a->output, "table or json")
    ->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  cmd->callback([&env, a] {
    cert_request req;
    req.dir = a->dir;
    req.names = a->names.empty() && a->pools.empty() ? default_identities(a->nodes) : a->names;
    req.pools = a->pools;
    req.hosts = a->hosts;
    req.days = a->days;
    req.force = a->force;
    cert_result res;
    try {
      res = generate_certificates(req);
    } catch (const std::invalid_argument& e) {
      env.exit_code = fail(usage, std::string{"certs generate: "} + e.what());
      return;
    } catch (const std::exception& e) {
      env.exit_code = fail(failed, std::string{"certs generate: "} + e.what());
      return;
    }
    if (a->output == "json") {
      json files = json::array();
      for (const auto& f : res.files)
        files.push_back({{"path", f.path}, {"kind", f.kind}, {"name", f.name},
                         {"mode", file_mode(f.path)}});
      json out = {{"dir", a->dir},
                  {"ca", res.new_ca ? "new" : "existing"},
                  {"files", files}};
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      if (!res.new_ca)
        std::printf("signed by the existing CA %s/ca.pem\n", a->dir.c_str());
      for (const auto& f : res.files)
        std::printf("  %-40s %s\n", f.path.c_str(), kind_text(f.kind));
      std::printf("Next: taskrt start --head --tls-dir %s ...; nodes and clients use the "
                  "same --tls-dir (or $TASKRT_TLS_DIR)\n",
                  a->dir.c_str());
    }
    env.exit_code = ok;
  });
}

} // namespace taskrt::cli

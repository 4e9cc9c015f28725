#include "tests/e2e/netns_link.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>

#include <sys/wait.h>
#include <unistd.h>

namespace taskrt::test {

namespace {

/// Runs `cmd` through the shell; its exit status, output (stdout and
/// stderr) in `out`.
int run(const std::string& cmd, std::string* out = nullptr) {
  // The redirection comes first: `cmd` may end in a here-document.
  FILE* p = ::popen(("exec 2>&1\n" + cmd).c_str(), "r");
  if (!p)
    return -1;
  std::array<char, 256> buf{};
  std::string text;
  while (std::fgets(buf.data(), buf.size(), p))
    text += buf.data();
  const int st = ::pclose(p);
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  if (out)
    *out = text;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void must(const std::string& cmd) {
  std::string out;
  if (run(cmd, &out) != 0)
    throw std::runtime_error("`" + cmd + "` failed: " + out);
}

/// An nftables table with a netdev ingress chain on `dev` that drops all.
std::string drop_rules(const std::string& table, const std::string& dev) {
  return "nft -f - <<'EOF'\n"
         "table netdev " + table + " {\n"
         "  chain in { type filter hook ingress device \"" + dev + "\" priority 0; policy drop; }\n"
         "}\n"
         "EOF";
}

} // namespace

netns_link::netns_link() {
  if (::geteuid() != 0)
    throw netns_unavailable("needs root to create network namespaces and nftables rules");
  for (const char* tool : {"ip", "nft"})
    if (run(std::string{"command -v "} + tool) != 0)
      throw netns_unavailable(std::string{"`"} + tool + "` not found"
                              + (std::string{tool} == "nft"
                                   ? " (Debian package nftables; scripts/install-deps installs it)"
                                   : " (Debian package iproute2)"));
  const auto pid = static_cast<unsigned>(::getpid());
  char tag[8];
  std::snprintf(tag, sizeof(tag), "%04x", pid & 0xffffu);
  tag_ = tag;
  ns_ = "taskrt-test-" + tag_;
  veth_root_ = "trt" + tag_ + "r";
  veth_ns_ = "trt" + tag_ + "n";
  table_ = "taskrt_test_" + tag_;
  const auto net = "10.77." + std::to_string(pid % 250 + 1) + ".";
  root_ip_ = net + "1";
  ns_ip_ = net + "2";
  // Leftovers of an earlier run of the same pid that died uncleanly.
  run("ip link del " + veth_root_);
  run("ip netns del " + ns_);
  std::string out;
  if (run("ip netns add " + ns_, &out) != 0)
    throw netns_unavailable("cannot create a network namespace: " + out);
  ns_made_ = true;
  if (run("ip link add " + veth_root_ + " type veth peer name " + veth_ns_ + " netns " + ns_,
          &out)
      != 0) {
    cleanup();
    throw netns_unavailable("cannot create a veth pair: " + out);
  }
  veth_made_ = true;
  try {
    must("ip addr add " + root_ip_ + "/30 dev " + veth_root_);
    must("ip link set " + veth_root_ + " up");
    must("ip -n " + ns_ + " addr add " + ns_ip_ + "/30 dev " + veth_ns_);
    must("ip -n " + ns_ + " link set " + veth_ns_ + " up");
    must("ip -n " + ns_ + " link set lo up");
    must("ip netns exec " + ns_ + " sh -c 'echo 1 > /proc/sys/net/ipv4/tcp_syn_retries'");
  } catch (...) {
    cleanup();
    throw;
  }
  try {
    partition();
    heal();
  } catch (const std::exception& e) {
    cleanup();
    throw netns_unavailable(std::string{"cannot make a partition with nftables: "} + e.what());
  }
}

netns_link::~netns_link() {
  cleanup();
}

void netns_link::partition() {
  must(drop_rules(table_, veth_root_));
  must("ip netns exec " + ns_ + " " + drop_rules(table_, veth_ns_));
  partitioned_ = true;
}

void netns_link::cut() {
  // The resets the rules make pass (reject never answers a reset anyway).
  const auto dev = "\"" + veth_ns_ + "\"";
  must("ip netns exec " + ns_ + " nft -f - <<'EOF'\n"
       "table inet " + table_ + " {\n"
       "  chain in { type filter hook input priority 0; policy accept;\n"
       "    iifname " + dev + " meta l4proto tcp reject with tcp reset\n"
       "    iifname " + dev + " drop\n"
       "  }\n"
       "  chain out { type filter hook output priority 0; policy accept;\n"
       "    oifname " + dev + " tcp flags & rst == rst accept\n"
       "    oifname " + dev + " meta l4proto tcp reject with tcp reset\n"
       "    oifname " + dev + " drop\n"
       "  }\n"
       "}\n"
       "EOF");
  cut_ = true;
}

void netns_link::heal() {
  if (partitioned_) {
    must("nft delete table netdev " + table_);
    must("ip netns exec " + ns_ + " nft delete table netdev " + table_);
    partitioned_ = false;
  }
  if (cut_) {
    must("ip netns exec " + ns_ + " nft delete table inet " + table_);
    cut_ = false;
  }
}

std::vector<std::string> netns_link::exec_prefix() const {
  return {"ip", "netns", "exec", ns_};
}

void netns_link::cleanup() {
  // Every step runs even if an earlier one fails; none throws.
  run("nft delete table netdev " + table_);
  if (ns_made_) {
    run("ip netns exec " + ns_ + " nft delete table netdev " + table_);
    run("ip netns exec " + ns_ + " nft delete table inet " + table_);
  }
  if (veth_made_)
    run("ip link del " + veth_root_);
  veth_made_ = false;
  if (ns_made_)
    run("ip netns del " + ns_);
  ns_made_ = false;
}

} // namespace taskrt::test

#pragma once
/// A network namespace of our own, joined to the root namespace by a veth
/// pair, that a test can cut off and reconnect: the partition drops every
/// packet silently on both ends (nftables netdev ingress chains, one per veth
/// end), so neither side sees a reset or an unreachable error — to each side
/// the other looks hung. Everything it creates is removed by the destructor.
///
///   root namespace  ROOT_IP/30 on veth "trt<tag>r"  <->  "trt<tag>n" NS_IP/30
///                                                        in namespace taskrt-test-<tag>

#include <stdexcept>
#include <string>
#include <vector>

namespace taskrt::test {

/// Thrown when this machine cannot make the namespace (not root, no `ip` or
/// `nft`, no kernel support); what() says why, for the skip message.
struct netns_unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The namespace, the veth pair and the partition switch.
class netns_link {
public:
  /// Creates namespace, veth pair and addresses, sets
  /// net.ipv4.tcp_syn_retries=1 inside the namespace (a connect during the
  /// partition gives up after ~3 s), and checks that a partition can be
  /// made. Throws netns_unavailable when it cannot (after cleaning up).
  netns_link();

  /// Heals, deletes the veth pair (and so any rule on it) and the namespace.
  ~netns_link();

  netns_link(const netns_link&) = delete;
  netns_link& operator=(const netns_link&) = delete;

  /// Drops every packet in both directions.
  void partition();

  /// Cuts the namespace off loudly: inside it, every TCP segment in or out
  /// of the veth end is refused with a reset (nftables inet reject), so
  /// both ends see their connection reset at once, and every new connection
  /// from the namespace is refused; nothing gets through.
  void cut();

  /// Lets packets through again (after partition() or cut()).
  void heal();

  /// The namespace's name.
  const std::string& ns() const { return ns_; }

  /// The address of the root namespace's end ("10.77.N.1").
  const std::string& root_ip() const { return root_ip_; }

  /// The address of the namespace's end ("10.77.N.2").
  const std::string& ns_ip() const { return ns_ip_; }

  /// The prefix that runs a program inside the namespace: {"ip", "netns",
  /// "exec", NS}.
  std::vector<std::string> exec_prefix() const;

private:
  void cleanup();

  std::string tag_, ns_, veth_root_, veth_ns_, root_ip_, ns_ip_, table_;
  bool ns_made_ = false, veth_made_ = false, partitioned_ = false, cut_ = false;
};

} // namespace taskrt::test

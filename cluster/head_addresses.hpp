#pragma once
/// Lists of head addresses: `--address HOST:PORT[,HOST:PORT...]` for worker
/// nodes, the CLI and the blocking client. Only the active head listens (a
/// standby publishes its port after it took over), so "whichever address
/// answers" is the active head; after a takeover the next one answers.

#include "taskrt/runtime/protocol.hpp"

#include <caf/actor_system.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace taskrt {

/// One head address.
struct head_address {
  std::string host;
  uint16_t port = 0;

  /// "HOST:PORT".
  std::string str() const;
};

/// Parses "HOST:PORT[,HOST:PORT...]" (spaces around commas allowed), or
/// errc::bad_request ("expected HOST:PORT[,HOST:PORT...], got 'x'").
caf::expected<std::vector<head_address>> parse_head_addresses(const std::string& list);

/// Parses one "HOST:PORT" (a list of one), or errc::bad_request.
caf::expected<head_address> parse_head_address(const std::string& text);

/// "a:1,b:2".
std::string join_head_addresses(const std::vector<head_address>& addrs);

/// Connects to the first address that answers, trying them in turn from
/// `index` (wrapping around); on success `index` is the one that answered.
/// When none does: with one address its error, with several an error naming
/// every address tried and its reason.
caf::expected<head_actor> connect_any_head(caf::actor_system& sys,
                                           const std::vector<head_address>& addrs,
                                           size_t& index);

} // namespace taskrt

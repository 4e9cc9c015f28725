#pragma once
/// Ties a node registration to the TLS certificate of the connection it came
/// over (issue item 9). CAF 0.17 gives actors no access to the peer
/// certificate, so the join is made in two halves:
///
/// 1. cluster/tls_observer records, for every verified incoming handshake,
///    what the peer's certificate allows (its taskrt:node: URI patterns),
///    keyed by the peer's address and port, until the connection is freed.
/// 2. The middleman actor answers (get_atom, caf::node_id) with the address
///    and port of its direct BASP connection to that node (basp_broker:
///    routing_table::lookup_direct + remote_addr/remote_port of the socket).
///
/// The scheduler asks this actor with the node of the registration's sender
/// (`current_sender()->node()`): a direct BASP message's sender node is the
/// node of the connection it arrived on, so the address found is the one
/// whose certificate was verified. What this does not stop: a peer may send a
/// *routed* BASP message that claims another node as its source; then the
/// lookup finds that other node's connection. Such a spoofer gains nothing:
/// the registration's reply, and every dispatch to the registered
/// supervisor and workers, goes to the node it named (the real owner of
/// that certificate), never to the spoofer's connection.

#include <caf/all.hpp>

namespace taskrt {

/// Spawns the authority: (register_atom, caf::node_id peer, std::string
/// node_id) → std::string, "" when the certificate of peer's connection
/// allows node_id, else the reason for the refusal.
caf::actor spawn_node_authority(caf::actor_system& sys);

} // namespace taskrt

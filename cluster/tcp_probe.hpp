#pragma once
/// A bounded TCP connect, tried before CAF is asked to connect.
///
/// CAF 0.17's middleman connects with a *blocking* connect(2) on the
/// middleman actor's own thread (libcaf_io default_multiplexer.cpp,
/// new_tcp_connection, called from middleman_actor_impl's connect_atom
/// handler), and middleman::remote_actor waits for it without a timeout.
/// When the head's address drops SYNs (a partition, a host gone, a full
/// accept queue) that connect sits in the kernel's SYN retransmissions (1, 2,
/// 4, 8, 16, 32 s apart; 127 s in all with tcp_syn_retries = 6), every later
/// remote_actor of the process queues behind it, and once the head is
/// reachable again the node only gets through at the next retransmission:
/// seconds to tens of seconds later. A probe with its own deadline keeps
/// CAF's connect for addresses that just accepted a connection.

#include <chrono>
#include <cstdint>
#include <string>

namespace taskrt {

/// Opens and closes a TCP connection to host:port, waiting at most
/// `deadline`. Returns "" when the connection was accepted, else why not
/// ("connection refused", "no answer within 500 ms", "no such host ...").
std::string tcp_probe(const std::string& host, uint16_t port,
                      std::chrono::milliseconds deadline);

} // namespace taskrt

#include "taskrt/cluster/frame_guard.hpp"

#include "taskrt/cluster/connection_reuse.hpp"
#include "taskrt/cluster/frame_budget.hpp"
#include "taskrt/runtime/limits.hpp"

#include <caf/io/abstract_broker.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/io/basp/instance.hpp>
#include <caf/io/system_messages.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include <dlfcn.h>

// How: this program defines caf::io::basp::instance::handle(execution_unit*,
// new_data_msg&, header&, bool), the function CAF's BASP broker calls for
// every header and payload it reads. libcaf_io calls it through its PLT, so
// the dynamic linker binds that call to the executable's definition (ELF
// symbol interposition, as a program's own malloc replaces libc's). Ours
// calls CAF's own (found with dlsym(RTLD_NEXT)) and only looks at what it
// decided about a header: CAF parses and validates as before; the guard adds
// a size limit and a log line. frame_guard_active() checks at start that
// both definitions exist and differ, so a build where the interposition did
// not take effect says so instead of silently going without.
//
// The budget: when a header announces a payload (CAF sizes its read buffer
// to it at once), the guard reserves the bytes in frame_budget and closes the
// connection instead when they do not fit. The payload's arrival releases
// them, and so does basp_broker::connection_cleanup (wrapped the same way),
// which CAF calls for every connection that closes.

namespace {

using namespace caf::io;

constexpr const char* handle_symbol
  = "_ZN3caf2io4basp8instance6handleEPNS_14execution_unitERNS0_12new_data_msgERNS1_6headerEb";

using handle_fn = basp::connection_state (*)(basp::instance*, caf::execution_unit*,
                                             new_data_msg&, basp::header&, bool);

handle_fn caf_handle() {
  static const handle_fn fn = reinterpret_cast<handle_fn>(::dlsym(RTLD_NEXT, handle_symbol));
  return fn;
}

constexpr const char* cleanup_symbol
  = "_ZN3caf2io11basp_broker18connection_cleanupENS0_17connection_handleENS_3secE";

using cleanup_fn = void (*)(basp_broker*, connection_handle, caf::sec);

cleanup_fn caf_cleanup() {
  static const cleanup_fn fn = reinterpret_cast<cleanup_fn>(::dlsym(RTLD_NEXT, cleanup_symbol));
  return fn;
}

std::atomic<uint64_t> oversized{0};
std::atomic<uint64_t> refused{0};
std::atomic<uint64_t> over_budget{0};

/// The process's budget, made at the first header (after the process limits
/// are set): the total holds at least two of the largest frames.
taskrt::frame_budget& budget() {
  static taskrt::frame_budget b{[] {
    taskrt::frame_budget_limits l;
    l.total = std::max(l.total, 2 * taskrt::max_frame_bytes());
    return l;
  }()};
  return b;
}

/// At most 10 lines a minute; then one line saying how many were not logged.
class rate_limit {
public:
  bool admit() {
    std::lock_guard<std::mutex> guard{m_};
    const auto now = std::chrono::steady_clock::now();
    if (now - window_ > std::chrono::minutes(1)) {
      if (dropped_ > 0)
        spdlog::warn("cluster port: {} more refused connection(s) in the last minute were not "
                     "logged", dropped_);
      window_ = now;
      lines_ = dropped_ = 0;
    }
    if (lines_ < 10) {
      ++lines_;
      return true;
    }
    ++dropped_;
    return false;
  }

private:
  std::mutex m_;
  std::chrono::steady_clock::time_point window_{};
  int lines_ = 0;
  uint64_t dropped_ = 0;
};

rate_limit log_limit;

std::string peer_of(basp::instance& self, connection_handle hdl) {
  auto* broker = self.tbl().parent();
  if (broker == nullptr)
    return "an unknown peer";
  auto addr = broker->remote_addr(hdl);
  return addr.empty() ? "an unknown peer" : addr + ":" + std::to_string(broker->remote_port(hdl));
}

/// Why CAF's BASP closed a connection, for the log.
std::string why_closed(basp::connection_state s) {
  switch (s) {
    case basp::malformed_basp_message:
      return "not a taskrt peer (its bytes are not a valid BASP message)";
    case basp::incompatible_versions:
      return "its BASP protocol version differs (another CAF version)";
    case basp::incompatible_application_ids:
      return "another application (its CAF application id is not taskrt's)";
    default:
      return "BASP error " + basp::to_string(s);
  }
}

} // namespace

namespace caf::io::basp {

connection_state instance::handle(execution_unit* ctx, new_data_msg& dm, header& hdr,
                                  bool is_payload) {
  if (is_payload)
    ::budget().release(dm.handle.id());
  const auto next = caf_handle()(this, ctx, dm, hdr, is_payload);
  if (!is_payload && next == await_payload && hdr.payload_len > taskrt::max_frame_bytes()) {
    ++oversized;
    if (log_limit.admit())
      spdlog::warn("cluster port: closed the connection from {}: it announced a frame of {} "
                   "bytes, over the limit of {}", peer_of(*this, dm.handle), hdr.payload_len,
                   taskrt::max_frame_bytes());
    return close_connection;
  }
  if (!is_payload && next == await_payload) {
    const bool registered = tbl().lookup_direct(dm.handle) != none;
    const auto verdict = ::budget().reserve(dm.handle.id(), hdr.payload_len, registered);
    if (verdict != taskrt::frame_budget_verdict::admitted) {
      ++over_budget;
      if (log_limit.admit()) {
        const auto use = ::budget().usage();
        spdlog::warn("cluster port: closed the connection from {}: it announced a frame of {} "
                     "bytes, {} ({} bytes in flight from {} connection(s), {} before their "
                     "handshake)", peer_of(*this, dm.handle), hdr.payload_len,
                     taskrt::to_string(verdict), use.total, use.connections, use.unregistered);
      }
      return close_connection;
    }
  }
  // CAF closes the connection on any other state; a second connection
  // between two nodes that already have one is routine.
  if (next != await_header && next != await_payload && next != redundant_connection) {
    ++refused;
    if (log_limit.admit())
      spdlog::warn("cluster port: closed the connection from {}: {}", peer_of(*this, dm.handle),
                   why_closed(next));
  }
  return next;
}

} // namespace caf::io::basp

namespace caf::io {

void basp_broker::connection_cleanup(connection_handle hdl, sec code) {
  if (taskrt::superseded_cleanup(*this, hdl))
    return; // a closed connection's queued cleanup; `hdl` is a newer connection now
  ::budget().release(hdl.id());
  caf_cleanup()(this, hdl, code);
}

} // namespace caf::io

namespace taskrt {

size_t max_frame_bytes() {
  return (size_t{64} << 20) + 2 * process_limits().max_json_bytes;
}

frame_guard_counts frame_guard_stats() {
  return {oversized.load(), refused.load(), over_budget.load()};
}

bool frame_guard_active() {
  auto wrapped = [](const char* symbol, void* theirs) {
    auto ours = ::dlsym(RTLD_DEFAULT, symbol);
    return ours != nullptr && theirs != nullptr && ours != theirs;
  };
  const bool active = wrapped(handle_symbol, reinterpret_cast<void*>(caf_handle()))
                      && wrapped(cleanup_symbol, reinterpret_cast<void*>(caf_cleanup()));
  if (!active)
    spdlog::warn("the cluster port's frame guard is not in place (CAF's BASP handler was not "
                 "wrapped): frames are not size-limited in this process");
  return active;
}

} // namespace taskrt

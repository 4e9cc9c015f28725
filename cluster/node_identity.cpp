#include "taskrt/cluster/node_identity.hpp"

#include <caf/detail/get_root_uuid.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <dlfcn.h>
#include <sys/random.h>
#include <unistd.h>

// How: caf::node_id::default_data::local() hashes the hardware addresses plus
// caf::detail::get_root_uuid() into the host id, and libcaf_core calls
// get_root_uuid through its PLT, so the executable's definition below is the
// one bound (ELF symbol interposition). Ours returns CAF's answer plus a
// nonce: the host id stays a hash of the machine, now salted per process.
// Nothing else in CAF 0.17 calls get_root_uuid.

namespace {

constexpr const char* root_uuid_symbol = "_ZN3caf6detail13get_root_uuidB5cxx11Ev";

using root_uuid_fn = std::string (*)();

root_uuid_fn caf_root_uuid() {
  static const root_uuid_fn fn
    = reinterpret_cast<root_uuid_fn>(::dlsym(RTLD_NEXT, root_uuid_symbol));
  return fn;
}

/// 16 random bytes in hex, from getrandom(); should the kernel refuse, the
/// clock and process id (distinct for processes that do not share a PID
/// namespace, and the clock differs between those that do).
std::string process_nonce() {
  unsigned char bytes[16] = {};
  if (::getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
    auto t = static_cast<unsigned long long>(
      std::chrono::steady_clock::now().time_since_epoch().count());
    auto p = static_cast<unsigned long long>(::getpid());
    for (size_t i = 0; i < 8; ++i) {
      bytes[i] = static_cast<unsigned char>(t >> (8 * i));
      bytes[8 + i] = static_cast<unsigned char>(p >> (8 * i));
    }
  }
  std::string out;
  char hex[3];
  for (auto b : bytes) {
    std::snprintf(hex, sizeof(hex), "%02x", b);
    out += hex;
  }
  return out;
}

} // namespace

namespace caf::detail {

std::string get_root_uuid() {
  static const std::string salted = [] {
    auto fn = caf_root_uuid();
    return (fn != nullptr ? fn() : std::string{}) + process_nonce();
  }();
  return salted;
}

} // namespace caf::detail

namespace taskrt {

bool node_identity_active() {
  auto ours = reinterpret_cast<void*>(::dlsym(RTLD_DEFAULT, root_uuid_symbol));
  auto theirs = reinterpret_cast<void*>(caf_root_uuid());
  const bool active = ours != nullptr && theirs != nullptr && ours != theirs;
  if (!active)
    spdlog::warn("this process's CAF node id is not salted (caf::detail::get_root_uuid was not "
                 "wrapped): two processes that are both PID 1 on one host network would share "
                 "a node id");
  return active;
}

} // namespace taskrt

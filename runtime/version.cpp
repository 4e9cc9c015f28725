#include "taskrt/runtime/version.hpp"

#include "taskrt/runtime/fault.hpp"

#include <cstdio>
#include <cstdlib>

#ifndef TASKRT_VERSION
#error "TASKRT_VERSION is set by runtime/CMakeLists.txt"
#endif
#ifndef TASKRT_BUILD_COMMIT
#define TASKRT_BUILD_COMMIT "unknown"
#endif

namespace taskrt {

#if defined(TASKRT_FAULT_HOOKS) && TASKRT_FAULT_HOOKS
namespace {

/// The release announce_version set; "" for the build's own.
std::string& announced() {
  static std::string v;
  return v;
}

} // namespace

void announce_version(const std::string& v) {
  announced() = v;
}
#endif

const char* version() {
  TASKRT_FAULT_HOOK(!announced().empty(), return announced().c_str(););
  return TASKRT_VERSION;
}

const char* build_commit() {
  return TASKRT_BUILD_COMMIT;
}

std::string version_line() {
  return std::string{version()} + " (commit " + build_commit() + ")";
}

std::pair<int, int> major_minor(const std::string& v) {
  int major = -1, minor = -1, n = 0;
  if (std::sscanf(v.c_str(), "%d.%d%n", &major, &minor, &n) != 2 || major < 0 || minor < 0)
    return {-1, -1};
  return {major, minor};
}

bool within_supported_skew(const std::string& head, const std::string& node) {
  const auto h = major_minor(head), n = major_minor(node);
  if (h.first < 0 || n.first < 0)
    return true;
  return h.first == n.first && std::abs(h.second - n.second) <= 1;
}

} // namespace taskrt

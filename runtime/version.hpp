#pragma once
/// The build's identity: the release version and the commit it was built from.

#include <string>
#include <utility>

namespace taskrt {

/// The release, from project(VERSION) of CMakeLists.txt: "0.1.0". In a
/// test build (TASKRT_FAULT_HOOKS) a process may announce another release
/// instead (announce_version): what the rolling upgrade test runs as its
/// "new" release. Every place that shows or checks a version asks here.
const char* version();

/// The commit the build comes from (`git describe` at configure time), or
/// "unknown" when the source was not a git checkout.
const char* build_commit();

/// "0.1.0 (commit 1a2b3c4d5e6f)": what `taskrt --version` prints.
std::string version_line();

/// The (major, minor) of a version string "M.m.p"; {-1, -1} if it is not one.
std::pair<int, int> major_minor(const std::string& v);

/// Whether a node of version `node` may join a head of version `head`: the
/// same major version and minor versions at most one apart (docs/deploy.md,
/// "Upgrades"). An unparsable version (a build without one) is allowed.
bool within_supported_skew(const std::string& head, const std::string& node);

#if defined(TASKRT_FAULT_HOOKS) && TASKRT_FAULT_HOOKS
/// Tests only ($TASKRT_FAULT_VERSION, runtime/fault.hpp): from now on this
/// process announces release `v` ("M.m.p") instead of its own, everywhere
/// version() is asked. Call once, before any thread starts. Compiled only
/// into test builds: a shipped binary always announces its own release.
void announce_version(const std::string& v);
#endif

} // namespace taskrt

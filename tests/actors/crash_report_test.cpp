/// The crash report's symbolization (pure text and the ELF symbol table of
/// this test binary); the handler itself runs in the e2e crash test.

#include "taskrt/actors/crash_report.hpp"

#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <unistd.h>

using namespace taskrt;

namespace {

/// A static function: no dynamic symbol, only the ELF symbol table names it.
__attribute__((noinline)) int local_marker(int x) {
  return x * 3 + 1;
}

std::string self_exe() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  REQUIRE(n > 0);
  return std::string(buf, static_cast<size_t>(n));
}

std::string nothing(unsigned long) {
  return {};
}

} // namespace

TEST_CASE("symbolize_backtrace demangles names and names the executable's frames",
          "[crash_report]") {
  const std::string text =
    "worker process stack at SIGSEGV:\n"
    "/usr/bin/app(_ZN6taskrt18run_worker_processERKNS_13task_registryE+0x2a) [0x55d0]\n"
    "/usr/bin/app(+0x1f2) [0x55d1]\n"
    "/lib/x86_64-linux-gnu/libc.so.6(+0x3c050) [0x7f00]\n"
    "/lib/x86_64-linux-gnu/libc.so.6(raise+0x10) [0x7f01]\n";
  auto out = symbolize_backtrace(text, "/usr/bin/app", [](unsigned long off) {
    return off == 0x1f2 ? std::string{"(anonymous namespace)::crash+0x12"} : std::string{};
  });
  CHECK(out
        == "worker process stack at SIGSEGV:\n"
           "/usr/bin/app(taskrt::run_worker_process(taskrt::task_registry const&)+0x2a) [0x55d0]\n"
           "/usr/bin/app((anonymous namespace)::crash+0x12) [0x55d1]\n"
           "/lib/x86_64-linux-gnu/libc.so.6(+0x3c050) [0x7f00]\n"
           "/lib/x86_64-linux-gnu/libc.so.6(raise+0x10) [0x7f01]\n");
  // Nothing found: the line stays as it was.
  CHECK(symbolize_backtrace("app(+0x10) [0x1]\n", "app", nothing) == "app(+0x10) [0x1]\n");
}

TEST_CASE("elf_symbols finds a static function of this binary by its offset",
          "[crash_report]") {
  CHECK(local_marker(1) == 4);
  Dl_info info{};
  REQUIRE(::dladdr(reinterpret_cast<void*>(&local_marker), &info) != 0);
  const auto offset = reinterpret_cast<unsigned long>(&local_marker)
                      - reinterpret_cast<unsigned long>(info.dli_fbase);
  auto lookup = elf_symbols(self_exe());
  CHECK(lookup(offset) == "(anonymous namespace)::local_marker(int)+0x0");
  CHECK(lookup(offset + 1) == "(anonymous namespace)::local_marker(int)+0x1");
  CHECK(elf_symbols("/nonexistent/file")(offset).empty());
}

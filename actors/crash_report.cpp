#include "taskrt/actors/crash_report.hpp"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <typeinfo>
#include <vector>

#include <nlohmann/json.hpp>

#include <cxxabi.h>
#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace taskrt {

namespace {

constexpr int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

/// Most frames written; enough for a task's stack below the worker loop.
constexpr int max_frames = 64;

const char* signal_text(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "signal";
  }
}

void write_all(const char* p, size_t n) {
  while (n > 0) {
    auto w = ::write(worker_crash_fd, p, n);
    if (w <= 0)
      return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

/// The handler: async-signal-safe calls only (write, backtrace after its
/// warm-up at install, backtrace_symbols_fd, raise).
void on_crash(int sig) {
  const char* name = signal_text(sig);
  write_all("worker process stack at ", 24);
  write_all(name, std::strlen(name));
  write_all(":\n", 2);
  void* frames[max_frames];
  const int n = ::backtrace(frames, max_frames);
  ::backtrace_symbols_fd(frames, n, worker_crash_fd);
  // SA_RESETHAND made the action the default again: the process dies of
  // `sig` once the handler returns.
  ::raise(sig);
}

std::string demangle_raw(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> p{abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                           std::free};
  return status == 0 && p ? std::string{p.get()} : std::string{name};
}

/// A demangled name with the long spellings of nlohmann::json and
/// std::string (as this compiler spells them) shortened.
std::string demangle(const std::string& name) {
  static const std::pair<std::string, std::string> short_names[] = {
    {demangle_raw(typeid(nlohmann::json).name()), "nlohmann::json"},
    {demangle_raw(typeid(std::string).name()), "std::string"},
  };
  auto out = demangle_raw(name.c_str());
  for (const auto& [long_name, short_name] : short_names)
    for (auto pos = out.find(long_name); pos != std::string::npos;
         pos = out.find(long_name, pos + short_name.size()))
      out.replace(pos, long_name.size(), short_name);
  return out;
}

struct elf_symbol {
  unsigned long start, end;
  std::string name;
};

/// The function symbols of an ELF64 image in memory, offsets relative to its
/// lowest loaded page.
std::vector<elf_symbol> read_symbols(const unsigned char* img, size_t size) {
  std::vector<elf_symbol> out;
  if (size < sizeof(Elf64_Ehdr) || std::memcmp(img, ELFMAG, SELFMAG) != 0
      || img[EI_CLASS] != ELFCLASS64)
    return out;
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(img);
  auto in_file = [size](uint64_t off, uint64_t len) { return off <= size && len <= size - off; };
  if (!in_file(eh->e_phoff, uint64_t{eh->e_phnum} * sizeof(Elf64_Phdr))
      || !in_file(eh->e_shoff, uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr)))
    return out;
  const auto* ph = reinterpret_cast<const Elf64_Phdr*>(img + eh->e_phoff);
  uint64_t base = ~uint64_t{0};
  for (int i = 0; i < eh->e_phnum; ++i)
    if (ph[i].p_type == PT_LOAD)
      base = std::min(base, ph[i].p_vaddr & ~uint64_t{0xfff});
  if (base == ~uint64_t{0})
    return out;
  const auto* sh = reinterpret_cast<const Elf64_Shdr*>(img + eh->e_shoff);
  for (int want : {SHT_SYMTAB, SHT_DYNSYM}) {
    for (int i = 0; i < eh->e_shnum; ++i) {
      if (static_cast<int>(sh[i].sh_type) != want || sh[i].sh_link >= eh->e_shnum)
        continue;
      const auto& strs = sh[sh[i].sh_link];
      if (!in_file(sh[i].sh_offset, sh[i].sh_size) || !in_file(strs.sh_offset, strs.sh_size))
        continue;
      const auto* syms = reinterpret_cast<const Elf64_Sym*>(img + sh[i].sh_offset);
      const char* names = reinterpret_cast<const char*>(img + strs.sh_offset);
      for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); ++k) {
        const auto& s = syms[k];
        if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_value == 0 || s.st_name >= strs.sh_size)
          continue;
        const char* n = names + s.st_name;
        const size_t len = strnlen(n, strs.sh_size - s.st_name);
        out.push_back({s.st_value - base, s.st_value - base + std::max<uint64_t>(s.st_size, 1),
                       std::string{n, len}});
      }
    }
    if (!out.empty())
      break; // the full table found: the dynamic one is a subset
  }
  return out;
}

/// True when `path` (as backtrace_symbols prints it) names `exe`.
bool same_file(const std::string& path, const std::string& exe) {
  if (path == exe)
    return true;
  auto base = [](const std::string& p) { return p.substr(p.rfind('/') + 1); };
  return !path.empty() && base(path) == base(exe);
}

} // namespace

int open_crash_report() {
  return ::memfd_create("taskrt-crash-report", MFD_CLOEXEC);
}

void install_crash_handlers() {
  if (::fcntl(worker_crash_fd, F_GETFD) < 0)
    return; // not started by a worker actor: nowhere to report
  // The first backtrace() loads libgcc's unwinder (it allocates): do it now.
  void* warm[1];
  ::backtrace(warm, 1);
  // Handlers run on their own stack, so a stack overflow is reported too (on
  // the thread running tasks; this is it).
  static char alt_stack[64 * 1024];
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof(alt_stack);
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa{};
  sa.sa_handler = on_crash;
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  ::sigemptyset(&sa.sa_mask);
  for (int sig : crash_signals)
    ::sigaction(sig, &sa, nullptr);
}

std::string symbolize_backtrace(const std::string& text, const std::string& exe,
                                const symbol_lookup& lookup) {
  std::istringstream in{text};
  std::string line, out;
  while (std::getline(in, line)) {
    // "path(name+0xoff) [0xaddr]" or "path(+0xoff) [0xaddr]" or "path() [...]"
    const auto open = line.find('(');
    const auto close = open == std::string::npos ? open : line.find(')', open);
    if (close != std::string::npos) {
      const auto path = line.substr(0, open);
      const auto inside = line.substr(open + 1, close - open - 1);
      const auto plus = inside.rfind('+');
      std::string name = plus == std::string::npos ? inside : inside.substr(0, plus);
      std::string off = plus == std::string::npos ? "" : inside.substr(plus);
      if (!name.empty()) {
        name = demangle(name);
      } else if (off.size() > 3 && same_file(path, exe)) {
        name = lookup(std::strtoul(off.c_str() + 1, nullptr, 16)); // "name+0xdelta"
        off.clear();
      }
      if (!name.empty())
        line = path + "(" + name + off + ")" + line.substr(close + 1);
    }
    out += line;
    out += '\n';
  }
  return out;
}

symbol_lookup elf_symbols(const std::string& exe) {
  auto symbols = std::make_shared<std::vector<elf_symbol>>();
  int fd = ::open(exe.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat sb{};
  if (fd >= 0 && ::fstat(fd, &sb) == 0 && sb.st_size > 0) {
    void* p = ::mmap(nullptr, static_cast<size_t>(sb.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      *symbols = read_symbols(static_cast<const unsigned char*>(p),
                              static_cast<size_t>(sb.st_size));
      ::munmap(p, static_cast<size_t>(sb.st_size));
    }
  }
  if (fd >= 0)
    ::close(fd);
  return [symbols](unsigned long offset) -> std::string {
    // The innermost symbol holding the offset (the smallest one).
    const elf_symbol* best = nullptr;
    for (const auto& s : *symbols)
      if (offset >= s.start && offset < s.end
          && (!best || s.end - s.start < best->end - best->start))
        best = &s;
    if (!best)
      return {};
    char buf[32];
    std::snprintf(buf, sizeof(buf), "+0x%lx", offset - best->start);
    return demangle(best->name) + buf;
  };
}

std::string take_crash_report(int fd, const std::string& exe) {
  if (fd < 0)
    return {};
  std::string text;
  char chunk[8192];
  off_t at = 0;
  for (;;) {
    auto n = ::pread(fd, chunk, sizeof(chunk), at);
    if (n <= 0)
      break;
    text.append(chunk, static_cast<size_t>(n));
    at += n;
    if (text.size() > (1u << 20))
      break; // a report is a few KiB; never read more than 1 MiB
  }
  ::close(fd);
  if (text.empty())
    return {};
  for (auto& c : text) // plain ASCII, so the error always journals
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t')
        || static_cast<unsigned char>(c) >= 0x7f)
      c = '?';
  return symbolize_backtrace(text, exe, elf_symbols(exe));
}

} // namespace taskrt

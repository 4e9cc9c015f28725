#pragma once
/// The stack of a worker process that dies of a crashing signal (SIGSEGV,
/// SIGBUS, SIGFPE, SIGILL, SIGABRT).
///
/// The worker actor creates an anonymous in-memory file (memfd) per worker
/// process and hands it over as fd 5. In the process, a handler on the
/// crashing signals writes the signal and backtrace_symbols_fd() of the stack
/// into it (async-signal-safe: no allocation, on an alternate stack so a stack
/// overflow is reported too), then re-raises the signal with its default
/// action, so the process still dies of it. After waitpid the worker actor
/// reads the file and symbolizes it: mangled names are demangled, and frames
/// of the executable that backtrace_symbols could not name (static functions,
/// lambdas: no dynamic symbol) are looked up in its ELF symbol table.

#include <functional>
#include <string>

namespace taskrt {

/// Fd on which a worker process writes its crash report.
inline constexpr int worker_crash_fd = 5;

/// Node side: a fresh, empty crash-report file for one worker process
/// (close-on-exec), or -1 when none could be made (no report then).
int open_crash_report();

/// Node side: what the process wrote into `fd`, symbolized with the symbol
/// table of `exe` (the binary it ran); "" when nothing was written. Closes
/// `fd`; -1 gives "".
std::string take_crash_report(int fd, const std::string& exe);

/// Process side: installs the handlers (only when fd 5 is open, i.e. the
/// process was started by a worker actor).
void install_crash_handlers();

/// Names an offset into the executable ("" when unknown).
using symbol_lookup = std::function<std::string(unsigned long offset)>;

/// Symbolizes backtrace_symbols lines: "path(mangled+0x1f) [0x...]" gets the
/// demangled name; "path(+0x1f2) [0x...]" where path is `exe` gets the name
/// `lookup(0x1f2)` gives. Other lines are kept as they are.
std::string symbolize_backtrace(const std::string& text, const std::string& exe,
                                const symbol_lookup& lookup);

/// The function symbols of the ELF file `exe` as a lookup by offset from its
/// load address (what backtrace_symbols prints as "+0x..."); a lookup that
/// names nothing when the file cannot be read.
symbol_lookup elf_symbols(const std::string& exe);

} // namespace taskrt

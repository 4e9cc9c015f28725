#pragma once
/// Background processes that `taskrt up` starts and `taskrt down` stops: how
/// they are started detached, recognised again later (a pid plus its start
/// time, so a recycled pid is never taken for ours), signalled and awaited.

#include <cstdint>
#include <string>
#include <vector>

namespace taskrt::cli {

/// A process as recorded: its pid and its start time in clock ticks since
/// boot (field 22 of /proc/PID/stat).
struct process_ref {
  int pid = 0;
  uint64_t start_ticks = 0;
};

/// The start time of `pid` in clock ticks since boot; 0 when there is no
/// such process.
uint64_t process_start_ticks(int pid);

/// True while the recorded process runs: same pid, same start time, and not
/// a zombie (an exited process nobody has reaped yet counts as gone).
bool process_alive(const process_ref& p);

/// Starts `argv` (argv[0] is the program path) in its own session with stdin
/// from /dev/null and stdout and stderr appended to `log` (created 0600).
/// `env` ("NAME=value") is added to its environment (this process's stays
/// as it is). Throws std::runtime_error when the log cannot be opened or
/// exec fails.
process_ref spawn_detached(const std::vector<std::string>& argv, const std::string& log,
                           const std::vector<std::string>& env = {});

/// For a child of this process that has exited: reaps it, stores a
/// description of how it ended ("exit status 1", "killed by signal 9") and
/// returns true. False while it runs (or when it is not our child).
bool child_exited(int pid, std::string& how);

/// The size of `path` in bytes (0 when absent): where this run's part of an
/// appended log starts.
uint64_t file_size(const std::string& path);

/// The last `lines` lines of `path` from byte `offset` on ("" when absent).
std::string tail_file(const std::string& path, size_t lines, uint64_t offset = 0);

/// `text` with every line prefixed by `indent` (for log tails in messages).
std::string indent_lines(const std::string& text, const std::string& indent);

/// Creates `dir` and its missing parents (mode 0700); false on failure.
bool make_dirs(const std::string& dir);

} // namespace taskrt::cli

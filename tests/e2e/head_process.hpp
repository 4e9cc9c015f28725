#pragma once
/// A real `taskrt start --head` process for end-to-end tests: its own data dir,
/// a fresh Postgres schema, loopback only.

#include "taskrt/cluster/client.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace taskrt::test {

/// What a CLI run printed and returned.
struct cli_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs build/bin/taskrt with `args` (each one shell-quoted) and waits.
/// `env`: NAME=VALUE entries for that process's environment only.
cli_result run_cli(const std::vector<std::string>& args,
                   const std::vector<std::string>& env = {});

/// The environment of a child process: this process's environment with the
/// NAME=VALUE entries of `env` added (replacing an entry of the same NAME).
/// Built before fork() and passed to execve(), so that a test never changes
/// its own environment (which every later child, and the test's own
/// clients, would inherit) to configure one child.
std::vector<std::string> child_environment(const std::vector<std::string>& env);

/// A head process started with `taskrt start --head --db DSN`.
class head_process {
public:
  /// Starts the head with `extra` arguments (e.g. {"--workers","2"}) and waits
  /// until its state file appears. Throws std::runtime_error on failure.
  /// `env`: NAME=VALUE entries added to the environment of this first start
  /// only, e.g. {"TASKRT_FAULT=exit_after_dispatch"} for a head that must hit
  /// a fault point; restart() starts without them unless given its own.
  head_process(std::string dsn, std::vector<std::string> extra,
               std::vector<std::string> env = {});

  /// SIGTERM (drain), then SIGKILL if it does not exit; removes the data dir.
  ~head_process();

  head_process(const head_process&) = delete;
  head_process& operator=(const head_process&) = delete;

  /// kill -9 of the head process (its workers die with it).
  void kill9();

  /// Starts the head again with the same DSN, data dir and arguments, plus
  /// `more` (e.g. {"--port", "7400"} to come back on the same port), and
  /// the NAME=VALUE entries of `env` in its environment (the constructor's
  /// are not repeated: a restarted head runs without the first one's fault).
  void restart(const std::vector<std::string>& more = {},
               const std::vector<std::string>& env = {});

  /// SIGTERM and wait; returns the exit status (or -1 on timeout).
  int terminate(int timeout_s = 60);

  /// Waits (no signal) for the head to exit by itself; returns its exit
  /// status (128 + signal when killed), or -1 when it still runs after
  /// `timeout_s`.
  int wait_exit_code(int timeout_s);

  /// A blocking client connected to the head (reconnects after restart());
  /// over mutual TLS when the head was started with --tls-dir.
  client& connect();

  /// "HOST:PORT" as the head wrote it to its state file (127.0.0.1 unless
  /// started with --host).
  std::string address() const;

  /// The data dir (state file, head log).
  const std::string& data_dir() const { return dir_; }

  /// The head's process id (-1 when it is not running).
  int pid() const { return pid_; }

  /// The DSN the head uses.
  const std::string& dsn() const { return dsn_; }

  /// The head's log so far.
  std::string log() const;

private:
  void start(const std::vector<std::string>& env);

  std::string dsn_;
  std::vector<std::string> extra_;
  std::string dir_;
  int pid_ = -1;
  uint16_t port_ = 0;
  std::string host_ = "127.0.0.1";
  std::unique_ptr<client> client_;
};

/// A loopback port nobody listens on right now (bound to 0, read back,
/// closed), for a process that must come back on a known port.
std::string free_port();

/// Path of the taskrt binary under test.
std::string taskrt_bin();

/// A task spec from the test (origin "e2e").
task_spec spec(const std::string& name, const nlohmann::json& args,
               const std::string& policy = "");

/// The nodes of the journaled ends (succeed or fail events) of task `id` at
/// `dsn`, in journal order: who had a result of it accepted.
std::vector<std::string> result_nodes(const std::string& dsn, int64_t id);

/// The whole content of a file ("" when it cannot be read).
std::string slurp(const std::string& path);

/// Polls `pred` every 50 ms until it holds or `timeout_ms` passed; returns
/// its last value.
template <class F>
bool eventually(F pred, int timeout_ms = 20'000) {
  for (int t = 0; t < timeout_ms; t += 50) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

} // namespace taskrt::test

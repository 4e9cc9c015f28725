#pragma once
/// The wire between a worker actor and its worker process (actors/worker.cpp
/// and actors/worker_process.cpp): one codec for both ends. One JSON object a
/// line, "op" names the message:
///
///   worker → process (fd 3):  run, cancel, submitted, submit_failed, lease
///   process → worker (fd 4):  ready, progress, checkpoint, submit, done
///
/// encode() gives a whole line (with its '\n'); several lines may go in one
/// write, and line_splitter cuts a byte stream back into lines. decode_*()
/// never throws: a line of the wrong shape gives nullopt and the reason.

#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/task.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace taskrt::wire {

// -- worker → process ------------------------------------------------------------

/// Run one attempt (the process runs them one at a time, in order).
struct run_cmd {
  int64_t task_id = 0;
  int32_t attempt = 0;      ///< the lease's attempt number (what results name)
  int32_t task_attempt = 0; ///< the number the task sees
  int64_t lease_epoch = 0;
  std::string name;
  std::string args = "{}";  ///< JSON text
  std::string checkpoint;   ///< JSON text; empty: none
  bool last_attempt = false;
  std::string parents;      ///< JSON array of its parents; empty: none
};

/// Cancel the running attempt of `task_id` (cooperative).
struct cancel_cmd {
  int64_t task_id = 0;
};

/// The answer to a child-task submit: the new id, or why it was refused.
struct submit_reply {
  int64_t req = 0;
  bool ok = false;
  int64_t id = 0;
  std::string error;
};

// -- process → worker ------------------------------------------------------------

/// The process is up (sent once at start) or free again (after each done).
struct ready_evt {
  int64_t pid = 0;
};

/// Progress or a checkpoint of the running attempt.
struct attempt_note {
  bool checkpoint = false; ///< false: progress
  int64_t task_id = 0;
  int32_t attempt = 0;
  int64_t lease_epoch = 0;
  nlohmann::json data;
};

/// A child task submitted by the running task; answered by submit_reply.
struct submit_req {
  int64_t req = 0;
  task_spec spec; ///< name, args, queue, priority, lock, run_at_us, policy,
                  ///< time_limit_s, parent_id
};

/// The end of an attempt. `outcome`: "succeeded", "failed" or "cancelled".
struct done_evt {
  int64_t task_id = 0;
  int32_t attempt = 0;
  int64_t lease_epoch = 0;
  std::string outcome = "failed";
  nlohmann::json result; ///< null unless succeeded
  nlohmann::json error;  ///< an error_info object, or null
};

/// A lease renewal forwarded from the node: the node's lease ends at
/// `end_ns` (CLOCK_MONOTONIC of this host) and the process must be gone
/// `margin_ns` before that unless another renewal comes (runtime/lease.hpp).
struct lease_cmd {
  int64_t end_ns = 0;
  int64_t margin_ns = 0;
};

/// What the worker actor sends to its process.
using to_process = std::variant<run_cmd, cancel_cmd, submit_reply, lease_cmd>;

/// What the process sends to its worker actor.
using from_process = std::variant<ready_evt, attempt_note, submit_req, done_evt>;

/// One line (ending in '\n') carrying `msg`.
std::string encode(const to_process& msg);

/// One line (ending in '\n') carrying `msg`.
std::string encode(const from_process& msg);

/// A line read by the process (without its '\n'), or errc::bad_request
/// saying why it is not a message of this wire.
caf::expected<to_process> decode_to_process(std::string_view line);

/// A line read by the worker actor (without its '\n'), or errc::bad_request
/// saying why it is not a message of this wire.
caf::expected<from_process> decode_from_process(std::string_view line);

/// Cuts a byte stream into lines.
class line_splitter {
public:
  /// Appends bytes read from the pipe.
  void feed(const char* data, size_t n) { buf_.append(data, n); }

  /// The next whole line (without '\n'), or false when none is complete.
  bool next(std::string& line);

private:
  std::string buf_;
  size_t pos_ = 0; ///< start of the first line not yet returned
};

} // namespace taskrt::wire

#pragma once
/// Errors of task attempts: what a failed attempt records and what retry
/// allow-/deny-lists match against.
///
/// A task fails by throwing. An exception of class type maps to its type name
/// and every public base class, nearest first, read from the C++ type
/// information: std ones (std::invalid_argument → std::logic_error →
/// std::exception) as well as a team's own hierarchy (team::ConnectionReset →
/// team::TransientError → std::runtime_error → std::exception), so retry_on /
/// no_retry_on match subclasses with nothing to declare. A
/// taskrt::task_error carries a dotted kind the task declares (for example
/// "payments.PermanentError") and optional parent kinds. The runtime itself
/// produces "taskrt.lost" (worker or node died) and "taskrt.timeout".

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace taskrt {

/// Error kind of an attempt whose worker crashed or whose node vanished.
inline constexpr const char* lost_kind = "taskrt.lost";

/// Error kind of an attempt that ran past its time limit.
inline constexpr const char* timeout_kind = "taskrt.timeout";

/// Error kind of an attempt that named a task that is not registered, or
/// whose arguments were rejected before user code ran.
inline constexpr const char* bad_task_kind = "taskrt.bad_task";

/// A failure as recorded in the journal: kind, ancestors (nearest first),
/// message and backtrace (the stack of a worker process that died of a
/// crashing signal, actors/crash_report.hpp; empty for thrown exceptions).
struct error_info {
  std::string kind;
  std::vector<std::string> ancestors;
  std::string message;
  std::string backtrace;

  /// True if `k` equals the kind or any ancestor.
  bool is_a(const std::string& k) const;
};

/// The exception a task throws to fail with a declared kind.
class task_error : public std::runtime_error {
public:
  /// `kind` is a dotted name such as "payments.PermanentError"; `parents`
  /// are the kinds it derives from, nearest first.
  task_error(std::string kind, std::string message,
             std::vector<std::string> parents = {});

  /// The declared kind.
  const std::string& kind() const noexcept { return kind_; }

  /// The declared parent kinds, nearest first.
  const std::vector<std::string>& parents() const noexcept { return parents_; }

private:
  std::string kind_;
  std::vector<std::string> parents_;
};

/// Maps a caught exception to an error_info. For an exception of class type
/// the kind is the demangled type name and the ancestors are its public base
/// classes, nearest first, each once; a task_error gives its declared kind and
/// parents; anything else (`throw 42`) is "unknown".
error_info classify_exception(std::exception_ptr ep);

/// The error_info of an error of kind `kind` as a task would raise it: std
/// type names get their std ancestors, other kinds none.
error_info error_info_for_kind(const std::string& kind);

/// Throws a real exception of the std type `kind` names ("std::out_of_range",
/// ...) or a task_error of that kind when it names no std type.
[[noreturn]] void throw_error_of_kind(const std::string& kind,
                                      const std::string& message);

} // namespace taskrt

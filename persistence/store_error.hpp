#pragma once
/// The one exception type of taskrt_persistence.

#include <stdexcept>
#include <string>

namespace taskrt {

/// A failed store operation. Messages never contain the DSN password.
class store_error : public std::runtime_error {
public:
  /// `transient`: the connection broke (or the server went away); the same
  /// call may succeed after a reconnect, which the store does by itself on the
  /// next call. `in_doubt`: a commit whose outcome is unknown; re-read before
  /// retrying. `sqlstate`: the SQLSTATE code when Postgres reported one.
  store_error(const std::string& message, bool transient, bool in_doubt = false,
              std::string sqlstate = {});

  /// True when retrying after a reconnect makes sense.
  bool transient() const noexcept { return transient_; }

  /// True when a commit was sent but its outcome is unknown.
  bool in_doubt() const noexcept { return in_doubt_; }

  /// The SQLSTATE reported by Postgres, or empty.
  const std::string& sqlstate() const noexcept { return sqlstate_; }

private:
  bool transient_;
  bool in_doubt_;
  std::string sqlstate_;
};

} // namespace taskrt

#pragma once
/// The one exception type of taskrt_persistence.

#include <stdexcept>
#include <string>

namespace taskrt {

/// What a failed store operation means for the caller.
enum class store_error_class {
  /// Serialization failure (40001) or deadlock (40P01): run the same
  /// transaction again right away.
  retry,
  /// Postgres is unreachable or cannot work (broken connection, class 08,
  /// admin shutdown 57P01/57P02, cannot connect now 57P03, disk full 53100,
  /// out of resources 53xxx, statement timeout 57014, anything unknown):
  /// keep the work and retry after a reconnect, with backoff.
  outage,
  /// The data of the request was rejected (SQLSTATE classes 22, 23, 54):
  /// retrying cannot help; fail only the request that caused it.
  data,
  /// Another head took a newer head generation (journal_store::
  /// next_head_generation): this process no longer leads and must stop
  /// writing; nothing of the request was written.
  fenced,
};

/// A failed store operation. Messages never contain the DSN password.
class store_error : public std::runtime_error {
public:
  /// `transient`: the same call may succeed later (retry or outage class);
  /// the store reconnects by itself on the next call after an outage.
  /// `in_doubt`: a commit whose outcome is unknown; re-read before retrying.
  /// `sqlstate`: the SQLSTATE code when Postgres reported one.
  store_error(const std::string& message, bool transient, bool in_doubt = false,
              std::string sqlstate = {});

  /// A write refused because another head took over (class fenced).
  static store_error fenced(const std::string& message);
  /// The class of `sqlstate` ("" stands for a broken connection).
  static store_error_class classify(const std::string& sqlstate);

  /// The class of this error.
  store_error_class error_class() const noexcept { return class_; }

  /// True when retrying after a reconnect makes sense.
  bool transient() const noexcept { return transient_; }

  /// True when the request's own data was rejected (classes 22, 23, 54).
  bool data_error() const noexcept { return class_ == store_error_class::data; }

  /// True when a commit was sent but its outcome is unknown.
  bool in_doubt() const noexcept { return in_doubt_; }

  /// The SQLSTATE reported by Postgres, or empty.
  const std::string& sqlstate() const noexcept { return sqlstate_; }

private:
  bool transient_;
  bool in_doubt_;
  std::string sqlstate_;
  store_error_class class_;
};

} // namespace taskrt

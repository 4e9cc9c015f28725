#pragma once
/// Postgres array literals, built element by element (private).
///
/// libpqxx 6 has no array parameters. A batch therefore travels as one array
/// literal per column, expanded server-side with unnest(): parsing a handful
/// of literals is far cheaper for Postgres than planning a VALUES list of
/// thousands of rows.

#include "taskrt/persistence/detail/pqxx.hpp"

#include <cstdint>
#include <string>

namespace taskrt::detail {

/// One column of a batch as a Postgres array literal.
class array_literal {
public:
  /// Appends a text element (any characters but NUL).
  void add(const std::string& value);

  /// Appends a number.
  void add(int64_t value);

  /// Appends a boolean.
  void add_bool(bool value);

  /// Appends NULL.
  void add_null();

  /// Appends `value`, or NULL when it is empty.
  void add_or_null(const std::string& value);

  /// The literal as SQL: a quoted string cast to `element_type`[].
  std::string sql(pqxx::transaction_base& tx, const char* element_type) const;

private:
  void separate();

  std::string text_ = "{";
  bool empty_ = true;
};

} // namespace taskrt::detail

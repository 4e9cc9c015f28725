#include "taskrt/persistence/detail/array_literal.hpp"

namespace taskrt::detail {

void array_literal::separate() {
  if (!empty_)
    text_ += ',';
  empty_ = false;
}

void array_literal::add(const std::string& value) {
  separate();
  text_ += '"';
  for (char c : value) {
    if (c == '"' || c == '\\')
      text_ += '\\';
    text_ += c;
  }
  text_ += '"';
}

void array_literal::add(int64_t value) {
  separate();
  text_ += std::to_string(value);
}

void array_literal::add_bool(bool value) {
  separate();
  text_ += value ? "t" : "f";
}

void array_literal::add_null() {
  separate();
  text_ += "NULL";
}

void array_literal::add_or_null(const std::string& value) {
  if (value.empty())
    add_null();
  else
    add(value);
}

std::string array_literal::sql(pqxx::transaction_base& tx,
                               const char* element_type) const {
  return tx.quote(text_ + "}") + "::" + element_type + "[]";
}

} // namespace taskrt::detail

#include "taskrt/persistence/store_error.hpp"

#include <utility>

namespace taskrt {

store_error::store_error(const std::string& message, bool transient,
                         bool in_doubt, std::string sqlstate)
  : std::runtime_error(message),
    transient_(transient),
    in_doubt_(in_doubt),
    sqlstate_(std::move(sqlstate)),
    class_(classify(sqlstate_)) {
  if (class_ == store_error_class::data)
    transient_ = false;
  else if (!transient_ && sqlstate_.empty())
    class_ = store_error_class::data; // a local failure (bad value, ...)
}

store_error store_error::fenced(const std::string& message) {
  store_error e{message, false, false, {}};
  e.class_ = store_error_class::fenced;
  return e;
}

store_error_class store_error::classify(const std::string& st) {
  if (st == "40001" || st == "40P01")
    return store_error_class::retry;
  auto in_class = [&](const char* c) { return st.rfind(c, 0) == 0; };
  if (in_class("22") || in_class("23") || in_class("54"))
    return store_error_class::data;
  return store_error_class::outage;
}

} // namespace taskrt

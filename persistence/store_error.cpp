#include "persistence/store_error.hpp"

#include <utility>

namespace taskrt {

store_error::store_error(const std::string& message, bool transient,
                         bool in_doubt, std::string sqlstate)
  : std::runtime_error(message),
    transient_(transient),
    in_doubt_(in_doubt),
    sqlstate_(std::move(sqlstate)) {
  // nop
}

} // namespace taskrt

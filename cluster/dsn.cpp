#include "cluster/dsn.hpp"

#include <regex>

namespace taskrt {

std::string redact_dsn(const std::string& dsn) {
  // postgresql://user:secret@host → postgresql://user:***@host
  static const std::regex uri{R"(^([a-z]+://[^:/@]*):[^@]*@)"};
  // password=secret → password=***
  static const std::regex kv{R"((password\s*=\s*)('[^']*'|\S+))"};
  auto out = std::regex_replace(dsn, uri, "$1:***@");
  return std::regex_replace(out, kv, "$1***");
}

} // namespace taskrt

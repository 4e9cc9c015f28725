#pragma once
/// The head of an HTTP/1.x request (request line and headers), parsed from
/// the bytes received so far; pure logic, no I/O.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace taskrt::http {

/// What the server needs of a request head.
struct request_head {
  std::string method;
  std::string target; ///< as sent ("/metrics?x=1")
  std::string path;   ///< target without the query
  size_t content_length = 0;
  bool chunked = false;   ///< Transfer-Encoding was given (not supported)
  bool keep_alive = true; ///< HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive
  /// Every header by lower-case name (a repeated one: the values joined
  /// with ", ").
  std::map<std::string, std::string> headers;
};

/// The state of the bytes received so far.
enum class head_status : unsigned char {
  incomplete, ///< no blank line yet, within the size limit
  complete,   ///< parsed; `consumed` bytes were the head
  bad,        ///< not an HTTP/1.x request head
  too_large,  ///< no blank line within `max_bytes`
};

/// Parses the head at the start of `buf` (at most `max_bytes` of it).
head_status parse_request_head(std::string_view buf, size_t max_bytes, request_head& out,
                               size_t& consumed);

} // namespace taskrt::http

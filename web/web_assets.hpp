#pragma once
/// The dashboard's files (web/), built into the binary by
/// cmake/embed_files.cmake: a head serves them with no file system access.

#include <cstddef>
#include <string_view>

namespace taskrt::web {

/// One built-in file.
struct embedded_file {
  const char* path;          ///< relative to web/, with a leading '/': "/js/app.js"
  const unsigned char* data; ///< its bytes (followed by a 0 not counted in size)
  std::size_t size;
};

/// The file at `path` ("/index.html", "/js/app.js"), or nullptr.
const embedded_file* find_file(std::string_view path);

/// The MIME type for `path` by its extension (UTF-8 for text).
std::string_view content_type(std::string_view path);

namespace detail {
/// Defined in the generated source (build/web/web_assets_data.cpp).
extern const embedded_file table[];
extern const std::size_t table_size;
} // namespace detail

} // namespace taskrt::web

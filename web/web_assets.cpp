#include "taskrt/web/web_assets.hpp"

namespace taskrt::web {

const embedded_file* find_file(std::string_view path) {
  for (std::size_t i = 0; i < detail::table_size; ++i)
    if (path == detail::table[i].path)
      return &detail::table[i];
  return nullptr;
}

std::string_view content_type(std::string_view path) {
  auto ends = [&](std::string_view ext) {
    return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
  };
  if (ends(".html"))
    return "text/html; charset=utf-8";
  if (ends(".css"))
    return "text/css; charset=utf-8";
  if (ends(".js"))
    return "text/javascript; charset=utf-8";
  if (ends(".svg"))
    return "image/svg+xml";
  if (ends(".png"))
    return "image/png";
  return "application/octet-stream";
}

} // namespace taskrt::web

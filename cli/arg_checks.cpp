#include "taskrt/cli/arg_checks.hpp"

#include "taskrt/runtime/limits.hpp"

#include <charconv>
#include <cstdint>

namespace taskrt::cli {

CLI::Validator task_id_check() {
  return CLI::Validator(
    [](std::string& text) -> std::string {
      int64_t v = 0;
      const auto* end = text.data() + text.size();
      auto [p, ec] = std::from_chars(text.data(), end, v);
      if (ec == std::errc::result_out_of_range && p == end)
        return text + " is out of range (task ids go up to 9223372036854775807)";
      if (text.empty() || ec != std::errc() || p != end || v < 1)
        return "'" + text + "' is not a task id (a whole number from 1)";
      return {};
    },
    "ID");
}

std::optional<std::string> check_filter_text(const std::string& value, const std::string& flag) {
  // The rules of names at submit, but without the length limit: a head may
  // run with a larger --max-name-bytes than this process knows of.
  limits l = process_limits();
  l.max_name_bytes = value.size() + 1;
  return check_name(value, flag, false, l);
}

} // namespace taskrt::cli

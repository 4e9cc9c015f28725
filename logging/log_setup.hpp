#pragma once
/// How a head or worker node logs (spdlog's default logger, on stdout):
/// - text: today's human format, `[time] [level] message`;
/// - json: one JSON object per line with the keys time (RFC 3339, UTC,
///   microseconds), level, message, node (the process's node id unless the
///   message names one with node=ID), and task and attempt when the message
///   carries task=ID and attempt=N (the key=value convention of taskrt logs;
///   numbers when they are digits).

#include <spdlog/formatter.h>

#include <memory>
#include <optional>
#include <string>

namespace taskrt::logging {

/// The output formats of `--log-format`.
enum class log_format { text, json };

/// Parses "text" or "json"; nothing otherwise.
std::optional<log_format> parse_log_format(const std::string& s);

/// Makes spdlog's default logger write `format` to stdout, naming `node`.
void setup_logging(log_format format, const std::string& node);

/// The value of `key=` in `message` (up to the next space, comma or
/// semicolon), or empty.
std::string field_of(const std::string& message, const std::string& key);

/// The spdlog formatter behind log_format::json.
class json_formatter final : public spdlog::formatter {
public:
  /// Lines name `node` unless a message says node=ID.
  explicit json_formatter(std::string node) : node_(std::move(node)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

private:
  std::string node_;
};

} // namespace taskrt::logging

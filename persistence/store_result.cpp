#include "taskrt/persistence/store_result.hpp"

#include "taskrt/persistence/store_error.hpp"

#include <caf/message.hpp>

namespace taskrt {

namespace {

const caf::atom_value category = caf::atom("store");

store_errc code_of(store_error_class c) {
  switch (c) {
    case store_error_class::retry: return store_errc::retry;
    case store_error_class::outage: return store_errc::outage;
    case store_error_class::data: return store_errc::data;
    case store_error_class::fenced: return store_errc::fenced;
  }
  return store_errc::outage;
}

/// The context of a store error: (message, sqlstate).
bool has_context(const caf::error& err) {
  return err && err.category() == category
         && err.context().match_elements<std::string, std::string>();
}

} // namespace

const char* to_string(store_errc x) {
  switch (x) {
    case store_errc::retry: return "retry";
    case store_errc::outage: return "outage";
    case store_errc::data: return "data";
    case store_errc::fenced: return "fenced";
  }
  return "unknown";
}

caf::error make_error(store_errc code, std::string message, std::string sqlstate) {
  return caf::error{static_cast<uint8_t>(code), category,
                    caf::make_message(std::move(message), std::move(sqlstate))};
}

std::optional<store_errc> store_code(const caf::error& err) {
  if (!err || err.category() != category)
    return std::nullopt;
  return static_cast<store_errc>(err.code());
}

bool store_transient(const caf::error& err) {
  const auto c = store_code(err);
  return c == store_errc::retry || c == store_errc::outage;
}

std::string store_message(const caf::error& err) {
  if (has_context(err))
    return err.context().get_as<std::string>(0);
  return caf::to_string(err);
}

std::string store_sqlstate(const caf::error& err) {
  return has_context(err) ? err.context().get_as<std::string>(1) : std::string{};
}

bool store_table_missing(const caf::error& err) {
  return store_sqlstate(err) == "42P01";
}

void register_store_errors(caf::actor_system_config& cfg) {
  cfg.add_error_category(category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
    std::string text = "store.";
    text += to_string(static_cast<store_errc>(code));
    if (ctx.match_elements<std::string, std::string>())
      text += ": " + ctx.get_as<std::string>(0);
    return text;
  });
}

namespace detail {

caf::error run_store_call(const std::function<void()>& f) {
  try {
    f();
    return caf::none;
  } catch (const store_error& e) {
    return make_error(code_of(e.error_class()), e.what(), e.sqlstate());
  }
}

} // namespace detail

} // namespace taskrt

#pragma once
/// caf::expected at the boundary of taskrt_persistence. Inside it, and in
/// its adapters (actors/persistence_actor.cpp, actors/schedule_actor.cpp),
/// a failed store call throws store_error (store_error.hpp). Callers in
/// other modules (cli/, http/, cluster/) run their store calls through
/// store_call() and get a caf::expected whose error is of the "store"
/// category: one code per store_error_class, the message (never a DSN
/// password) and the SQLSTATE when Postgres reported one.

#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace taskrt {

/// Error codes of the "store" caf::error category: the classes of
/// store_error (store_error_class), never renumbered.
enum class store_errc : uint8_t {
  retry = 1,  ///< serialization failure or deadlock: run the same call again
  outage = 2, ///< Postgres unreachable or cannot work: retry after a while
  data = 3,   ///< the request's data was rejected: retrying cannot help
  fenced = 4, ///< another head took over the journal: this one stops writing
};

/// "retry", "outage", "data", "fenced".
const char* to_string(store_errc x);

/// An error of the "store" category: `code`, `message`, and `sqlstate`
/// ("" when Postgres reported none).
caf::error make_error(store_errc code, std::string message, std::string sqlstate = {});

/// The code of an error of the "store" category; nothing for other errors.
std::optional<store_errc> store_code(const caf::error& err);

/// True for a store error the same call may get past later (retry, outage).
bool store_transient(const caf::error& err);

/// The message of a store error (as store_error::what() said it); CAF's
/// rendering for errors of other categories.
std::string store_message(const caf::error& err);

/// The SQLSTATE of a store error, "" when none.
std::string store_sqlstate(const caf::error& err);

/// True when the journal lacks a table the call needs (SQLSTATE 42P01):
/// no head of this version has migrated it yet.
bool store_table_missing(const caf::error& err);

/// Lets an actor system render errors of the "store" category
/// ("store.outage: MESSAGE"); configure_network (cluster/net_config.hpp)
/// calls it for every process.
void register_store_errors(caf::actor_system_config& cfg);

namespace detail {

/// Runs `f`; the store_error it throws, as an error of the "store" category
/// (none when it returned). Other exceptions pass through.
caf::error run_store_call(const std::function<void()>& f);

} // namespace detail

/// Runs `f()` (store calls); its result, or the store_error it threw as an
/// error of the "store" category. Other exceptions pass through.
template <class F>
auto store_call(F&& f) -> caf::expected<std::invoke_result_t<F&>> {
  using result = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<result>) {
    if (auto err = detail::run_store_call([&] { f(); }))
      return err;
    return caf::unit;
  } else {
    std::optional<result> out;
    if (auto err = detail::run_store_call([&] { out.emplace(f()); }))
      return err;
    return std::move(*out);
  }
}

} // namespace taskrt

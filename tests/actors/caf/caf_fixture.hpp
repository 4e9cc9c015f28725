#pragma once
/// What the deterministic actor tests share: a test_coordinator_fixture
/// whose actor system knows the taskrt protocol, and helpers to read the
/// replies the test's own (scoped) actor got.

#include "taskrt/runtime/protocol.hpp"

#include <caf/all.hpp>
#include <caf/test/dsl.hpp>

#include <chrono>
#include <optional>

namespace taskrt::test {

/// An actor system config with every taskrt message type registered.
struct protocol_config : caf::actor_system_config {
  protocol_config() { register_protocol(*this); }
};

/// The deterministic harness: `sched` runs actors only inside run(),
/// consume_message(), trigger_timeouts() and advance_time().
struct caf_fixture : test_coordinator_fixture<protocol_config> {
  /// Runs every actor until no message is left; timeouts fire only when the
  /// test moves the clock (pass). (The base class's run() would also fire
  /// every pending timeout, and a periodic one forever.)
  size_t run() { return sched.run(); }

  /// Sends `xs` to `to` as a request of the test's actor and runs every
  /// actor until nothing is left to do; the reply (if any) waits in the
  /// test actor's mailbox.
  template <class... Ts>
  void ask(const caf::actor& to, Ts&&... xs) {
    self->send(to, std::forward<Ts>(xs)...);
    run();
  }

  /// The next message of type T in the test actor's mailbox (others stay),
  /// or nullopt when there is none. Never waits.
  template <class T>
  std::optional<T> next() {
    std::optional<T> out;
    if (!self->has_next_message())
      return out;
    self->receive([&](T& x) { out = std::move(x); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return out;
  }

  /// The errc of the next error in the test actor's mailbox (0: none).
  uint8_t next_error_code() {
    auto e = next<caf::error>();
    return e ? taskrt_code(*e) : 0;
  }

  /// The next (journal_atom, up, reason) the test actor was told, if any.
  std::optional<std::pair<bool, std::string>> next_journal_state() {
    std::optional<std::pair<bool, std::string>> out;
    if (!self->has_next_message())
      return out;
    self->receive([&](journal_atom, bool up, std::string& why) { out.emplace(up, why); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return out;
  }

  /// Moves the test clock by `d` and runs whatever became due and what it sent.
  size_t pass(caf::timespan d) {
    auto n = sched.advance_time(d);
    run();
    return n;
  }
};

} // namespace taskrt::test

/// Error classification: std exceptions and their std ancestors, user classes,
/// task_error with parents, throw_error_of_kind and is_a.

#include "taskrt/runtime/task_error.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <system_error>

using namespace taskrt;

namespace {

/// A user exception derived from a std one.
class payment_declined : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

template <class F>
error_info classify(F&& throw_it) {
  try {
    throw_it();
  } catch (...) {
    return classify_exception(std::current_exception());
  }
  FAIL("nothing was thrown");
  return {};
}

using strings = std::vector<std::string>;

} // namespace

TEST_CASE("std::invalid_argument derives from logic_error and exception", "[task_error]") {
  auto e = classify([] { throw std::invalid_argument{"bad x"}; });
  CHECK(e.kind == "std::invalid_argument");
  CHECK(e.ancestors == strings{"std::logic_error", "std::exception"});
  CHECK(e.message == "bad x");
  CHECK(e.is_a("std::invalid_argument"));
  CHECK(e.is_a("std::logic_error"));
  CHECK(e.is_a("std::exception"));
  CHECK_FALSE(e.is_a("std::runtime_error"));
  CHECK_FALSE(e.is_a("std::domain_error"));
}

TEST_CASE("other std families", "[task_error]") {
  CHECK(classify([] { throw std::out_of_range{"i"}; }).ancestors
        == strings{"std::logic_error", "std::exception"});
  CHECK(classify([] { throw std::overflow_error{"o"}; }).ancestors
        == strings{"std::runtime_error", "std::exception"});
  CHECK(classify([] { throw std::runtime_error{"r"}; }).ancestors
        == strings{"std::exception"});
  auto sys = classify([] {
    throw std::system_error{std::make_error_code(std::errc::io_error), "disk"};
  });
  CHECK(sys.kind == "std::system_error");
  CHECK(sys.is_a("std::runtime_error"));
  auto alloc = classify([] { throw std::bad_alloc{}; });
  CHECK(alloc.kind == "std::bad_alloc");
  CHECK(alloc.ancestors == strings{"std::exception"});
}

TEST_CASE("a user class derived from std::runtime_error", "[task_error]") {
  auto e = classify([] { throw payment_declined{"card expired"}; });
  CHECK_THAT(e.kind, Catch::Contains("payment_declined"));
  CHECK(e.ancestors == strings{"std::runtime_error", "std::exception"});
  CHECK(e.message == "card expired");
  CHECK(e.is_a("std::runtime_error"));
  CHECK_FALSE(e.is_a("std::logic_error"));
}

TEST_CASE("task_error carries its kind and parents", "[task_error]") {
  auto e = classify([] {
    throw task_error{"payments.PermanentError", "no such account",
                     {"payments.Error", "Exception"}};
  });
  CHECK(e.kind == "payments.PermanentError");
  CHECK(e.ancestors == strings{"payments.Error", "Exception"});
  CHECK(e.message == "no such account");
  CHECK(e.is_a("payments.Error"));
  CHECK(e.is_a("Exception"));
  CHECK_FALSE(e.is_a("payments"));
  CHECK_FALSE(e.is_a("std::runtime_error"));

  task_error plain{"ValueError", "bad"};
  CHECK(plain.kind() == "ValueError");
  CHECK(plain.parents().empty());
  CHECK(std::string{plain.what()} == "bad");
}

TEST_CASE("something that is not a std exception", "[task_error]") {
  auto e = classify([] { throw 42; });
  CHECK(e.kind == "unknown");
  CHECK(e.ancestors.empty());
}

TEST_CASE("throw_error_of_kind throws the real std type", "[task_error]") {
  CHECK_THROWS_AS(throw_error_of_kind("std::invalid_argument", "m"), std::invalid_argument);
  CHECK_THROWS_AS(throw_error_of_kind("std::out_of_range", "m"), std::out_of_range);
  CHECK_THROWS_AS(throw_error_of_kind("std::runtime_error", "m"), std::runtime_error);
  CHECK_THROWS_AS(throw_error_of_kind("std::bad_alloc", "m"), std::bad_alloc);
  CHECK_THROWS_WITH(throw_error_of_kind("std::domain_error", "the message"), "the message");
  try {
    throw_error_of_kind("KeyError", "k");
  } catch (const task_error& e) {
    CHECK(e.kind() == "KeyError");
    CHECK(e.parents().empty());
  }
  // The thrown std exception classifies back to its own name.
  auto e = classify([] { throw_error_of_kind("std::length_error", "l"); });
  CHECK(e.kind == "std::length_error");
  CHECK(e.is_a("std::logic_error"));
}

TEST_CASE("error_info_for_kind", "[task_error]") {
  auto std_kind = error_info_for_kind("std::invalid_argument");
  CHECK(std_kind.kind == "std::invalid_argument");
  CHECK(std_kind.ancestors == strings{"std::logic_error", "std::exception"});
  auto user_kind = error_info_for_kind("ValueError");
  CHECK(user_kind.kind == "ValueError");
  CHECK(user_kind.ancestors.empty());
  auto lost = error_info_for_kind(lost_kind);
  CHECK(lost.kind == "taskrt.lost");
  CHECK(lost.ancestors.empty());
}

TEST_CASE("is_a compares whole names", "[task_error]") {
  error_info e{"a.b", {"a"}, "", ""};
  CHECK(e.is_a("a.b"));
  CHECK(e.is_a("a"));
  CHECK_FALSE(e.is_a("b"));
  CHECK_FALSE(e.is_a(""));
  CHECK_FALSE(e.is_a("A.B"));
}

// A team's own hierarchy (issue 20, item 5): nothing declared, the C++ type
// information gives every public base.
namespace team {
struct TransientError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ConnectionReset : TransientError {
  using TransientError::TransientError;
};
struct Retryable {
  virtual ~Retryable() = default;
};
struct Audited {
  virtual ~Audited() = default;
};
/// Two public bases, one private one.
struct RateLimited : TransientError, Retryable, private Audited {
  using TransientError::TransientError;
};
/// A diamond through virtual bases: Retryable once.
struct A : virtual Retryable {};
struct B : virtual Retryable {};
struct Diamond : A, B {};
} // namespace team

TEST_CASE("a team's own exception hierarchy: every public base, nearest first",
          "[task_error]") {
  auto e = classify([] { throw team::ConnectionReset{"peer reset"}; });
  CHECK(e.kind == "team::ConnectionReset");
  CHECK(e.ancestors
        == strings{"team::TransientError", "std::runtime_error", "std::exception"});
  CHECK(e.message == "peer reset");
  CHECK(e.is_a("team::TransientError"));
  CHECK_FALSE(e.is_a("std::logic_error"));

  auto r = classify([] { throw team::RateLimited{"slow down"}; });
  CHECK(r.kind == "team::RateLimited");
  CHECK(r.ancestors
        == strings{"team::TransientError", "team::Retryable", "std::runtime_error",
                   "std::exception"});
  CHECK_FALSE(r.is_a("team::Audited")); // private: a catch would not match it

  // Not derived from std::exception at all: still its name and bases.
  auto d = classify([] { throw team::Diamond{}; });
  CHECK(d.kind == "team::Diamond");
  CHECK(d.ancestors == strings{"team::A", "team::B", "team::Retryable"});
  CHECK_THAT(d.message, Catch::Contains("team::Diamond"));
}

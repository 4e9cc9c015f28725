#include "runtime/task_error.hpp"

#include <any>
#include <cxxabi.h>
#include <functional>
#include <future>
#include <memory>
#include <new>
#include <optional>
#include <regex>
#include <system_error>
#include <type_traits>
#include <typeinfo>
#include <variant>

namespace taskrt {

namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> p{
    abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free};
  std::string name = status == 0 && p ? p.get() : mangled;
  // libstdc++ puts some std types in an inline namespace.
  const std::string cxx11 = "::__cxx11";
  for (auto pos = name.find(cxx11); pos != std::string::npos;
       pos = name.find(cxx11))
    name.erase(pos, cxx11.size());
  return name;
}

// One row per std exception type: its name and a test for "is a".
struct std_type {
  const char* name;
  std::function<bool(const std::exception&)> is;
  std::function<void(const std::string&)> raise;
};

template <class T>
std::string name_of() {
  return demangle(typeid(T).name());
}

template <class T>
std_type row(const char* name) {
  return {name,
          [](const std::exception& e) {
            const std::exception* p = &e;
            return dynamic_cast<const T*>(p) != nullptr;
          },
          [](const std::string& msg) {
            if constexpr (std::is_constructible_v<T, std::string>)
              throw T{msg};
            else if constexpr (std::is_default_constructible_v<T>)
              throw T{};
            else
              throw task_error{name_of<T>(), msg};
          }};
}

// Most derived first, so the first match is the nearest ancestor.
const std::vector<std_type>& std_types() {
  static const std::vector<std_type> types = {
    row<std::invalid_argument>("std::invalid_argument"),
    row<std::domain_error>("std::domain_error"),
    row<std::length_error>("std::length_error"),
    row<std::out_of_range>("std::out_of_range"),
    row<std::future_error>("std::future_error"),
    row<std::logic_error>("std::logic_error"),
    row<std::range_error>("std::range_error"),
    row<std::overflow_error>("std::overflow_error"),
    row<std::underflow_error>("std::underflow_error"),
    row<std::regex_error>("std::regex_error"),
    row<std::system_error>("std::system_error"),
    row<std::runtime_error>("std::runtime_error"),
    row<std::bad_array_new_length>("std::bad_array_new_length"),
    row<std::bad_alloc>("std::bad_alloc"),
    row<std::bad_any_cast>("std::bad_any_cast"),
    row<std::bad_cast>("std::bad_cast"),
    row<std::bad_typeid>("std::bad_typeid"),
    row<std::bad_function_call>("std::bad_function_call"),
    row<std::bad_optional_access>("std::bad_optional_access"),
    row<std::bad_variant_access>("std::bad_variant_access"),
    row<std::bad_weak_ptr>("std::bad_weak_ptr"),
    row<std::bad_exception>("std::bad_exception"),
    row<std::exception>("std::exception"),
  };
  return types;
}

} // namespace

bool error_info::is_a(const std::string& k) const {
  if (k == kind)
    return true;
  for (const auto& a : ancestors)
    if (a == k)
      return true;
  return false;
}

task_error::task_error(std::string kind, std::string message,
                       std::vector<std::string> parents)
  : std::runtime_error(std::move(message)),
    kind_(std::move(kind)),
    parents_(std::move(parents)) {
}

error_info classify_exception(std::exception_ptr ep) {
  error_info info;
  try {
    std::rethrow_exception(ep);
  } catch (const task_error& e) {
    info.kind = e.kind();
    info.ancestors = e.parents();
    info.message = e.what();
  } catch (const std::exception& e) {
    info.kind = demangle(typeid(e).name());
    info.message = e.what();
    for (const auto& t : std_types())
      if (t.name != info.kind && t.is(e))
        info.ancestors.emplace_back(t.name);
  } catch (...) {
    info.kind = "unknown";
    info.message = "a non-std exception was thrown";
  }
  return info;
}

error_info error_info_for_kind(const std::string& kind) {
  try {
    throw_error_of_kind(kind, "");
  } catch (...) {
    auto info = classify_exception(std::current_exception());
    info.kind = kind; // keep the spelling asked for
    return info;
  }
}

void throw_error_of_kind(const std::string& kind, const std::string& message) {
  for (const auto& t : std_types())
    if (kind == t.name)
      t.raise(message);
  throw task_error{kind, message};
}

} // namespace taskrt

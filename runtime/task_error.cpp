#include "taskrt/runtime/task_error.hpp"

#include <algorithm>
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

// One row per std exception type: its name and how to throw it.
struct std_type {
  const char* name;
  std::function<void(const std::string&)> raise;
};

template <class T>
std::string name_of() {
  return demangle(typeid(T).name());
}

template <class T>
std_type row(const char* name) {
  return {name,
          [](const std::string& msg) {
            if constexpr (std::is_constructible_v<T, std::string>)
              throw T{msg};
            else if constexpr (std::is_default_constructible_v<T>)
              throw T{};
            else
              throw task_error{name_of<T>(), msg};
          }};
}

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

/// The public base classes of the class `ti` names, nearest first
/// (breadth-first through the Itanium C++ ABI's type_info of GCC and Clang),
/// each once: team::ConnectionReset → team::TransientError →
/// std::runtime_error → std::exception. Private and protected bases are left
/// out, as a `catch` of them would not match either.
std::vector<std::string> public_bases(const std::type_info& ti) {
  std::vector<std::string> out;
  std::vector<const abi::__class_type_info*> todo;
  auto push_bases = [&todo](const std::type_info* t) {
    if (auto* si = dynamic_cast<const abi::__si_class_type_info*>(t)) {
      todo.push_back(si->__base_type);
    } else if (auto* vmi = dynamic_cast<const abi::__vmi_class_type_info*>(t)) {
      for (unsigned i = 0; i < vmi->__base_count; ++i)
        if (vmi->__base_info[i].__is_public_p())
          todo.push_back(vmi->__base_info[i].__base_type);
    }
  };
  push_bases(&ti);
  for (size_t i = 0; i < todo.size(); ++i) {
    auto name = demangle(todo[i]->name());
    if (std::find(out.begin(), out.end(), name) != out.end())
      continue; // a virtual or repeated base
    out.push_back(std::move(name));
    push_bases(todo[i]);
  }
  return out;
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
    info.ancestors = public_bases(typeid(e));
  } catch (...) {
    const auto* type = abi::__cxa_current_exception_type();
    if (type && dynamic_cast<const abi::__class_type_info*>(type)) {
      info.kind = demangle(type->name());
      info.ancestors = public_bases(*type);
      info.message = "an exception of type " + info.kind + " (not a std::exception) was thrown";
    } else {
      info.kind = "unknown";
      info.message = "a non-std exception was thrown";
    }
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

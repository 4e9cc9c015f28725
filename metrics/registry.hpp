#pragma once
/// A process-wide, thread-safe registry of Prometheus metrics: counters,
/// gauges and histograms, each a family of children keyed by label values,
/// rendered in the Prometheus text exposition format (version 0.0.4).
///
/// Families are created once (registry::add_counter/add_gauge/add_histogram return the
/// same family for the same name) and live as long as the process; children
/// are created on first use and never removed, so references stay valid.
/// Recording is a mutex-guarded map lookup plus an atomic update.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace taskrt::metrics {

/// Label values of one child, in the order of the family's label names.
using label_values = std::vector<std::string>;

/// A value that only goes up (resets with the process).
class counter {
public:
  /// Adds `v` (>= 0; negative values are ignored).
  void inc(double v = 1);
  /// The current value.
  double value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0};
};

/// A value that goes up and down.
class gauge {
public:
  /// Sets the value.
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  /// Adds `v` (may be negative).
  void add(double v);
  /// The current value.
  double value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0};
};

/// Observations counted into fixed buckets (upper bounds, ascending; +Inf is
/// implicit), with their sum and count.
class histogram {
public:
  /// A histogram with these upper bounds.
  explicit histogram(std::vector<double> bounds);
  /// Records one observation.
  void observe(double v);
  /// Upper bounds (without +Inf).
  const std::vector<double>& bounds() const { return bounds_; }
  /// Cumulative counts per bound, then the total count (the +Inf bucket).
  std::vector<uint64_t> cumulative() const;
  /// Sum of all observations.
  double sum() const { return sum_.load(std::memory_order_relaxed); }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_; ///< per bound, plus +Inf
  std::atomic<double> sum_{0};
};

/// The kind of a family, as in `# TYPE`.
enum class kind { counter, gauge, histogram };

/// One metric name with its help text, label names and children.
template <class T>
class family {
public:
  /// Use registry::add_counter/add_gauge/add_histogram to make one.
  family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds = {})
    : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)),
      bounds_(std::move(bounds)) {}

  /// The child with these label values (as many as the family has label
  /// names; missing ones are empty, extra ones ignored), created at zero.
  T& with(label_values values);
  /// The child without labels.
  T& get() { return with({}); }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return labels_; }
  /// A copy of the children (pointers stay valid: children are never removed).
  std::vector<std::pair<label_values, const T*>> children() const;

private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<label_values, std::unique_ptr<T>> children_;
};

/// All families of the process, in registration order when rendered.
class registry {
public:
  /// The one registry of this process.
  static registry& global();

  /// The counter family `name` (created on first call; `name` should end in
  /// _total). Throws std::logic_error if `name` exists with another kind.
  family<counter>& add_counter(const std::string& name, const std::string& help,
                           std::vector<std::string> labels = {});
  /// The gauge family `name`.
  family<gauge>& add_gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> labels = {});
  /// The histogram family `name` with these bucket upper bounds.
  family<histogram>& add_histogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds, std::vector<std::string> labels = {});

  /// A label every sample carries (first), such as role="head"; one only,
  /// a second call replaces it. No family may use `name` itself.
  void set_constant_label(const std::string& name, const std::string& value);

  /// Every family in the Prometheus text format (HELP, TYPE, samples).
  std::string render() const;

private:
  struct entry {
    kind k;
    std::unique_ptr<family<metrics::counter>> c;
    std::unique_ptr<family<metrics::gauge>> g;
    std::unique_ptr<family<metrics::histogram>> h;
  };
  entry* find(const std::string& name, kind k);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<entry>> entries_;
  std::map<std::string, entry*> by_name_;
  std::string constant_; ///< rendered, e.g. role="head"; empty: none
};

/// Bucket bounds `start`, `start*factor`, ... (`count` of them).
std::vector<double> exponential_buckets(double start, double factor, int count);

/// A sample value as Prometheus writes it: integers without a fraction,
/// +Inf, -Inf, NaN.
std::string format_value(double v);

/// A label value escaped for the text format (backslash, quote, newline).
std::string escape_label(const std::string& v);

} // namespace taskrt::metrics

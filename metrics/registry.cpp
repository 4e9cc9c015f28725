#include "taskrt/metrics/registry.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace taskrt::metrics {

namespace {

void atomic_add(std::atomic<double>& a, double v) {
  auto cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::string escape_help(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

/// `{a="x",b="y"}` for names and values (plus an extra pair, e.g. le), or "".
std::string label_block(const std::string& constant, const std::vector<std::string>& names,
                        const label_values& values, const std::string& extra_name = {},
                        const std::string& extra_value = {}) {
  std::string out = constant.empty() ? "" : "{" + constant;
  for (size_t i = 0; i < names.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"" + escape_label(i < values.size() ? values[i] : std::string{}) + "\"";
  }
  if (!extra_name.empty()) {
    out += out.empty() ? "{" : ",";
    out += extra_name + "=\"" + escape_label(extra_value) + "\"";
  }
  if (!out.empty())
    out += "}";
  return out;
}

template <class T>
void render_header(std::ostringstream& os, const family<T>& f, const char* type) {
  os << "# HELP " << f.name() << ' ' << escape_help(f.help()) << '\n';
  os << "# TYPE " << f.name() << ' ' << type << '\n';
}

} // namespace

void counter::inc(double v) {
  if (v > 0)
    atomic_add(value_, v);
}

void gauge::add(double v) {
  atomic_add(value_, v);
}

histogram::histogram(std::vector<double> bounds)
  : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i)
    counts_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i])
    ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

std::vector<uint64_t> histogram::cumulative() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

template <class T>
T& family<T>::with(label_values values) {
  values.resize(labels_.size());
  std::lock_guard<std::mutex> guard{mu_};
  auto& slot = children_[values];
  if (!slot) {
    if constexpr (std::is_same_v<T, metrics::histogram>)
      slot = std::make_unique<T>(bounds_);
    else
      slot = std::make_unique<T>();
  }
  return *slot;
}

template <class T>
std::vector<std::pair<label_values, const T*>> family<T>::children() const {
  std::lock_guard<std::mutex> guard{mu_};
  std::vector<std::pair<label_values, const T*>> out;
  for (auto& kv : children_)
    out.emplace_back(kv.first, kv.second.get());
  return out;
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

registry& registry::global() {
  static registry r;
  return r;
}

registry::entry* registry::find(const std::string& name, kind k) {
  auto i = by_name_.find(name);
  if (i == by_name_.end())
    return nullptr;
  if (i->second->k != k)
    throw std::logic_error("metric " + name + " is registered with another type");
  return i->second;
}

family<counter>& registry::add_counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> labels) {
  std::lock_guard<std::mutex> guard{mu_};
  if (auto* e = find(name, kind::counter))
    return *e->c;
  auto e = std::make_unique<entry>();
  e->k = kind::counter;
  e->c = std::make_unique<family<metrics::counter>>(name, help, std::move(labels));
  auto& f = *e->c;
  by_name_[name] = e.get();
  entries_.push_back(std::move(e));
  return f;
}

family<gauge>& registry::add_gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> labels) {
  std::lock_guard<std::mutex> guard{mu_};
  if (auto* e = find(name, kind::gauge))
    return *e->g;
  auto e = std::make_unique<entry>();
  e->k = kind::gauge;
  e->g = std::make_unique<family<metrics::gauge>>(name, help, std::move(labels));
  auto& f = *e->g;
  by_name_[name] = e.get();
  entries_.push_back(std::move(e));
  return f;
}

family<histogram>& registry::add_histogram(const std::string& name, const std::string& help,
                                       std::vector<double> bounds,
                                       std::vector<std::string> labels) {
  std::lock_guard<std::mutex> guard{mu_};
  if (auto* e = find(name, kind::histogram))
    return *e->h;
  auto e = std::make_unique<entry>();
  e->k = kind::histogram;
  e->h = std::make_unique<family<metrics::histogram>>(name, help, std::move(labels),
                                                      std::move(bounds));
  auto& f = *e->h;
  by_name_[name] = e.get();
  entries_.push_back(std::move(e));
  return f;
}

void registry::set_constant_label(const std::string& name, const std::string& value) {
  std::lock_guard<std::mutex> guard{mu_};
  constant_ = name + "=\"" + escape_label(value) + "\"";
}

std::string registry::render() const {
  std::vector<entry*> entries;
  std::string constant;
  {
    std::lock_guard<std::mutex> guard{mu_};
    for (auto& e : entries_)
      entries.push_back(e.get());
    constant = constant_;
  }
  std::ostringstream os;
  for (auto* e : entries) {
    switch (e->k) {
      case kind::counter:
        render_header(os, *e->c, "counter");
        for (auto& [values, c] : e->c->children())
          os << e->c->name() << label_block(constant, e->c->label_names(), values) << ' '
             << format_value(c->value()) << '\n';
        break;
      case kind::gauge:
        render_header(os, *e->g, "gauge");
        for (auto& [values, g] : e->g->children())
          os << e->g->name() << label_block(constant, e->g->label_names(), values) << ' '
             << format_value(g->value()) << '\n';
        break;
      case kind::histogram: {
        auto& f = *e->h;
        render_header(os, f, "histogram");
        for (auto& [values, h] : f.children()) {
          auto cum = h->cumulative();
          for (size_t i = 0; i < h->bounds().size(); ++i)
            os << f.name() << "_bucket"
               << label_block(constant, f.label_names(), values, "le", format_value(h->bounds()[i]))
               << ' ' << cum[i] << '\n';
          os << f.name() << "_bucket" << label_block(constant, f.label_names(), values, "le", "+Inf")
             << ' ' << cum.back() << '\n';
          os << f.name() << "_sum" << label_block(constant, f.label_names(), values) << ' '
             << format_value(h->sum()) << '\n';
          os << f.name() << "_count" << label_block(constant, f.label_names(), values) << ' '
             << cum.back() << '\n';
        }
        break;
      }
    }
  }
  return os.str();
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> out;
  for (int i = 0; i < count; ++i, start *= factor)
    out.push_back(start);
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  // The shortest form that reads back as the same double (0.005, not
  // 0.0050000000000000001).
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  return buf;
}

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

} // namespace taskrt::metrics

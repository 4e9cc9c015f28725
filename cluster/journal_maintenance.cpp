#include "taskrt/cluster/journal_maintenance.hpp"

#include "taskrt/persistence/access_store.hpp"
#include "taskrt/persistence/dsn.hpp"
#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/runtime/time.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

namespace taskrt {

namespace {

/// Thrown from the progress callback to leave a long retention pass early.
struct stopped {};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : ", ") + s;
  return out;
}

} // namespace

std::string retention_text(double seconds) {
  const struct {
    double unit;
    const char* suffix;
  } units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}};
  for (const auto& u : units)
    if (seconds >= u.unit && std::fmod(seconds, u.unit) == 0)
      return std::to_string(static_cast<int64_t>(seconds / u.unit)) + u.suffix;
  return std::to_string(static_cast<int64_t>(seconds)) + "s";
}

journal_maintenance::journal_maintenance(journal_maintenance_options opts)
  : opts_(std::move(opts)), thread_([this] { run(); }) {
}

journal_maintenance::~journal_maintenance() {
  {
    std::lock_guard<std::mutex> g{m_};
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool journal_maintenance::stopping() {
  std::lock_guard<std::mutex> g{m_};
  return stop_;
}

void journal_maintenance::run() {
  for (;;) {
    tick();
    std::unique_lock<std::mutex> lk{m_};
    if (cv_.wait_for(lk, std::chrono::duration<double>(opts_.interval_s), [this] { return stop_; }))
      return;
  }
}

void journal_maintenance::tick() {
  try {
    journal_store store{opts_.dsn};
    const auto now_us = to_micros(now());
    if (auto made = store.ensure_partitions(now_us); !made.empty())
      spdlog::info("journal: created partitions {}", join(made));
    if (opts_.retain_s > 0 && !stopping())
      apply_journal_retention(store, now_us);
    if (!stopping())
      purge_access(now_us);
  } catch (const stopped&) {
    spdlog::info("journal retention stopped with the head");
  } catch (const std::exception& e) {
    spdlog::warn("journal maintenance: {} (next try in {})", e.what(),
                 retention_text(opts_.interval_s));
  }
}

void journal_maintenance::purge_access(int64_t now_us) {
  access_store access{opts_.dsn};
  const auto r = access.purge_expired(
    now_us - static_cast<int64_t>(opts_.api_key_ttl_s * 1e6),
    opts_.retain_s > 0 ? now_us - static_cast<int64_t>(opts_.retain_s * 1e6) : 0);
  if (r.keys || r.audit || r.logins || r.sessions)
    spdlog::info("api retention: deleted {} idempotency keys older than {}, {} audit rows{}, "
                 "{} expired login links and {} expired sessions",
                 r.keys, retention_text(opts_.api_key_ttl_s), r.audit,
                 opts_.retain_s > 0 ? " older than " + retention_text(opts_.retain_s)
                                    : std::string{},
                 r.logins, r.sessions);
}

void journal_maintenance::apply_journal_retention(journal_store& store, int64_t now_us) {
  const auto retain = retention_text(opts_.retain_s);
  const auto cutoff_us = now_us - static_cast<int64_t>(opts_.retain_s * 1e6);
  retention_options o;
  auto last_log = std::chrono::steady_clock::now();
  o.progress = [&](const std::string& line) {
    if (stopping())
      throw stopped{};
    const auto t = std::chrono::steady_clock::now();
    if (line.rfind("dropped partition", 0) == 0) {
      spdlog::info("journal retention ({}): {}", retain, line);
    } else if (t - last_log > std::chrono::seconds(10)) {
      spdlog::info("journal retention ({}): {}", retain, line);
      last_log = t;
    }
  };
  const auto r = store.apply_retention(cutoff_us, o);
  if (r.tasks_deleted == 0 && r.dropped.empty() && r.events_deleted == 0
      && r.partitions_skipped == 0)
    return;
  std::vector<std::string> names;
  for (const auto& p : r.dropped)
    names.push_back(p.name);
  spdlog::info("journal retention ({}): older than {}: deleted {} final tasks in {} batches, "
               "dropped {} partitions{}{}, kept {} events of remaining tasks, deleted {} "
               "events one by one{}, in {:.2f} s",
               retain, to_rfc3339(from_micros(cutoff_us)), r.tasks_deleted, r.batches,
               r.dropped.size(), names.empty() ? "" : " (", names.empty() ? "" : join(names) + ")",
               r.events_kept, r.events_deleted,
               r.partitions_skipped ? "; " + std::to_string(r.partitions_skipped)
                                        + " partitions busy, next time"
                                    : std::string{},
               r.seconds);
}

} // namespace taskrt

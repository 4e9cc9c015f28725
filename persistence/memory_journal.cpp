#include "taskrt/persistence/memory_journal.hpp"

#include "taskrt/runtime/event_kind.hpp"
#include "taskrt/runtime/time.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

namespace taskrt {

namespace {

constexpr int64_t day_us = 86'400'000'000;
constexpr int64_t hour_us = 3'600'000'000;

bool live(const task_record& t) {
  return t.state == task_state::queued || t.state == task_state::running;
}

bool final_state(task_state s) {
  return s == task_state::succeeded || s == task_state::failed || s == task_state::cancelled
         || s == task_state::lost;
}

bool due(const task_record& t, int64_t now_us) {
  return t.state == task_state::queued && t.run_at_us <= now_us && !t.cancel_requested;
}

/// "20261201" for the UTC day starting at `us`.
std::string day_name(int64_t us) {
  const auto t = to_rfc3339(from_micros(us)); // 2026-12-01T00:00:00...Z
  return t.substr(0, 4) + t.substr(5, 2) + t.substr(8, 2);
}

nlohmann::json parse_or_null(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json{} : j;
}

store_error data_error(const std::string& what) {
  return store_error{"journal rejected the data: " + what, false, false, "22P02"};
}

/// Postgres refuses these as data errors (class 22): invalid JSON, NUL bytes.
void validate(const transition_store_interface::batch& b) {
  auto json_ok = [](const std::string& s) {
    return s.empty() || !nlohmann::json::parse(s, nullptr, false).is_discarded();
  };
  for (const auto& s : b.submits) {
    if (!json_ok(s.spec.args) || !json_ok(s.spec.policy) || !json_ok(s.resolved_policy))
      throw data_error("invalid input syntax for type json (task " + s.spec.name + ")");
    if (!s.spec.after.empty()) // not modelled: never taken as a task without parents
      throw data_error("memory_journal: dependencies (task " + s.spec.name
                       + " after other tasks) are journal_store's only");
  }
  for (const auto& t : b.transitions)
    if (!json_ok(t.result) || !json_ok(t.error))
      throw data_error("invalid input syntax for type json (task "
                       + std::to_string(t.task_id) + ")");
  for (const auto& c : b.checkpoints)
    if (c.data.find('\0') != std::string::npos)
      throw store_error{"invalid byte sequence for encoding \"UTF8\": 0x00", false, false,
                        "22021"};
}

} // namespace

struct memory_journal::database {
  mutable std::mutex mu;
  std::map<int64_t, task_record> tasks;
  std::vector<event_row> events;       // journal order
  std::vector<checkpoint_row> checkpoints;
  std::map<int64_t, progress_row> progress; // tasks.progress
  std::map<std::string, node_row> nodes;
  std::map<std::string, transition_store_interface::batch_result> commit_log;
  std::set<int64_t> partition_days;    // UTC day starts with a partition
  std::deque<fault> faults;
  std::function<bool(const batch&)> reject;
  int64_t generation = 0;
  int64_t next_task = 1, next_event = 1, next_checkpoint = 1;
  int64_t commits = 0;

  /// Tasks FAILED/LOST whose end has no final decision (journal_store's
  /// half_done).
  bool half_done(const task_record& t) const {
    if (t.state != task_state::failed && t.state != task_state::lost)
      return false;
    const event_row* end = nullptr;
    for (const auto& e : events)
      if (e.task_id == t.id && (e.kind == transition_kind::fail || e.kind == transition_kind::lose))
        end = &e;
    if (!end || parse_or_null(end->detail).contains("decision"))
      return false;
    for (const auto& e : events) {
      if (e.task_id != t.id || e.id <= end->id || e.kind != note_kind::retry_decision)
        continue;
      auto d = parse_or_null(e.detail);
      if (!(d.contains("decision") && d["decision"] == "retry"))
        return false;
    }
    return true;
  }

  bool matches(const task_record& t, const task_filter& f) const {
    if (!f.states.empty() && std::find(f.states.begin(), f.states.end(), t.state) == f.states.end())
      return false;
    if (!f.name.empty() && t.name != f.name)
      return false;
    if (!f.queue.empty() && t.queue != f.queue)
      return false;
    if (!f.lock.empty() && t.lock != f.lock)
      return false;
    if (!f.node.empty() && t.node != f.node)
      return false;
    if (!f.error_kind.empty()) {
      if (t.state != task_state::failed && t.state != task_state::lost)
        return false;
      auto e = parse_or_null(t.last_error);
      if (!e.is_object() || !e.contains("kind") || e["kind"] != f.error_kind)
        return false;
    }
    if (f.since_us != 0 && t.created_us < f.since_us)
      return false;
    if (f.until_us != 0 && t.created_us >= f.until_us)
      return false;
    if (f.updated_until_us != 0 && t.updated_us >= f.updated_until_us)
      return false;
    return true;
  }

  void add_event(int64_t task, int32_t attempt, event_kind kind,
                 std::optional<task_state> from, std::optional<task_state> to, int64_t at,
                 const std::string& node, const nlohmann::json& detail) {
    event_row e;
    e.id = next_event++;
    e.task_id = task;
    e.attempt = attempt;
    e.kind = kind;
    e.from_state = from;
    e.to_state = to;
    e.at_us = at;
    e.node = node;
    e.detail = detail.dump();
    events.push_back(std::move(e));
  }

  /// The UTC day start of the partition holding an event at `at`, if any.
  std::optional<int64_t> partition_of(int64_t at) const {
    const int64_t day = (at >= 0 ? at / day_us : (at - day_us + 1) / day_us) * day_us;
    if (partition_days.count(day))
      return day;
    return std::nullopt;
  }

  /// Deletes the tasks `ids` with their checkpoints, and their events at or
  /// after `events_from` when set; returns the events deleted.
  int64_t delete_tasks(const std::vector<int64_t>& ids, std::optional<int64_t> events_from) {
    std::set<int64_t> gone(ids.begin(), ids.end());
    for (auto id : ids) {
      tasks.erase(id);
      progress.erase(id);
    }
    checkpoints.erase(std::remove_if(checkpoints.begin(), checkpoints.end(),
                                     [&](const checkpoint_row& c) {
                                       return gone.count(c.task_id) > 0;
                                     }),
                      checkpoints.end());
    if (!events_from)
      return 0;
    const auto before = events.size();
    events.erase(std::remove_if(events.begin(), events.end(),
                                [&](const event_row& e) {
                                  return gone.count(e.task_id) > 0 && e.at_us >= *events_from;
                                }),
                 events.end());
    return static_cast<int64_t>(before - events.size());
  }

  /// Final tasks for which `pred` holds, oldest created first, deleted in
  /// batches of `batch` (at most `limit` in all when > 0).
  template <class Pred>
  void delete_where(Pred pred, std::optional<int64_t> events_from, int batch, int64_t limit,
                    const progress_fn& progress, retention_result& r) {
    batch = std::max(1, batch);
    std::vector<const task_record*> chosen;
    for (const auto& [id, t] : tasks)
      if (pred(t))
        chosen.push_back(&t);
    std::sort(chosen.begin(), chosen.end(), [](const task_record* a, const task_record* b) {
      return std::tie(a->created_us, a->id) < std::tie(b->created_us, b->id);
    });
    std::vector<int64_t> ids;
    for (auto* t : chosen)
      ids.push_back(t->id);
    if (limit > 0 && static_cast<int64_t>(ids.size()) > limit)
      ids.resize(static_cast<size_t>(limit));
    size_t at = 0;
    for (;;) {
      const size_t n = std::min(ids.size() - at, static_cast<size_t>(batch));
      std::vector<int64_t> part(ids.begin() + static_cast<std::ptrdiff_t>(at),
                                ids.begin() + static_cast<std::ptrdiff_t>(at + n));
      r.events_deleted += delete_tasks(part, events_from);
      r.tasks_deleted += static_cast<int64_t>(n);
      ++r.batches;
      at += n;
      if (n < static_cast<size_t>(batch) || (limit > 0 && static_cast<int64_t>(at) >= limit))
        break;
      if (progress)
        progress(std::to_string(at) + " tasks deleted so far");
    }
  }
};

memory_journal::memory_journal() : db_(std::make_shared<database>()) {}

memory_journal::memory_journal(std::shared_ptr<database> db) : db_(std::move(db)) {}

std::shared_ptr<memory_journal> memory_journal::connect() const {
  return std::shared_ptr<memory_journal>(new memory_journal(db_));
}

void memory_journal::fail_next(fault f) {
  std::lock_guard<std::mutex> g{db_->mu};
  db_->faults.push_back(std::move(f));
}

void memory_journal::reject_if(std::function<bool(const batch&)> pred) {
  std::lock_guard<std::mutex> g{db_->mu};
  db_->reject = std::move(pred);
}

int64_t memory_journal::commits() const {
  std::lock_guard<std::mutex> g{db_->mu};
  return db_->commits;
}

size_t memory_journal::faults_left() const {
  std::lock_guard<std::mutex> g{db_->mu};
  return db_->faults.size();
}

void memory_journal::enter(std::unique_lock<std::mutex>& lock) {
  lock = std::unique_lock<std::mutex>{db_->mu};
  if (!db_->faults.empty() && !db_->faults.front().after_commit) {
    auto f = std::move(db_->faults.front());
    db_->faults.pop_front();
    throw f.error;
  }
}

void memory_journal::check_fence() {
  if (generation_ != 0 && db_->generation != generation_)
    throw store_error::fenced("another head took over the journal (head generation "
                              + std::to_string(db_->generation) + ", this head's is "
                              + std::to_string(generation_) + "): nothing was written");
}

// -- transitions + recovery ---------------------------------------------------

memory_journal::batch_result memory_journal::commit(const batch& b,
                                                    const std::string& commit_id) {
  if (b.empty())
    return {};
  std::unique_lock<std::mutex> lock;
  enter(lock);
  auto& db = *db_;
  ++db.commits;
  if (!commit_id.empty())
    if (auto i = db.commit_log.find(commit_id); i != db.commit_log.end())
      return i->second;
  check_fence();
  validate(b);
  if (db.reject && db.reject(b))
    throw data_error("refused by the test's reject_if");
  batch_result out;
  std::map<std::string, int64_t> keys;
  for (const auto& [id, t] : db.tasks)
    if (!t.key.empty())
      keys.emplace(t.key, id);
  for (const auto& it : b.submits) {
    const auto& s = it.spec;
    if (!s.key.empty())
      if (auto k = keys.find(s.key); k != keys.end()) {
        out.submitted_ids.push_back(k->second);
        out.existing.push_back(true);
        continue;
      }
    task_record t;
    t.id = db.next_task++;
    t.name = s.name;
    t.args = s.args.empty() ? "{}" : s.args;
    t.queue = !it.queue.empty() ? it.queue : !s.queue.empty() ? s.queue : default_queue;
    t.priority = s.priority;
    t.lock = s.lock;
    t.policy = it.resolved_policy.empty() ? s.policy : it.resolved_policy;
    t.run_at_us = s.run_at_us != 0 ? s.run_at_us : it.now_us;
    t.time_limit_s = it.time_limit_s != 0 ? it.time_limit_s : s.time_limit_s;
    t.parent_id = s.parent_id;
    t.created_us = t.updated_us = it.now_us;
    t.key = s.key;
    db.add_event(t.id, 0, transition_kind::submit, std::nullopt, task_state::queued, it.now_us, {},
                 submit_detail(it));
    if (!t.key.empty())
      keys.emplace(t.key, t.id);
    out.submitted_ids.push_back(t.id);
    out.existing.push_back(false);
    db.tasks.emplace(t.id, std::move(t));
  }
  std::vector<note_item> notes;
  for (const auto& tr : b.transitions) {
    if (auto err = check_transition(tr.expected_state, tr.kind)) {
      note_item n;
      n.task_id = tr.task_id;
      n.attempt = tr.expected_attempt;
      n.kind = note_kind::rejected;
      n.detail = {{"transition", to_string(tr.kind)},
                  {"expected_state", to_string(tr.expected_state)},
                  {"reason", *err}};
      n.at_us = tr.at_us;
      notes.push_back(std::move(n));
      out.applied.push_back(false);
      continue;
    }
    auto i = db.tasks.find(tr.task_id);
    if (i == db.tasks.end() || i->second.state != tr.expected_state
        || i->second.attempt != tr.expected_attempt) {
      out.applied.push_back(false);
      continue;
    }
    auto& t = i->second;
    t.state = target_state(tr.kind);
    t.attempt = tr.new_attempt;
    t.lease_epoch = tr.lease_epoch;
    if (tr.run_at_us != 0)
      t.run_at_us = tr.run_at_us;
    if (tr.priority)
      t.priority = *tr.priority;
    if (tr.queue && !tr.queue->empty())
      t.queue = *tr.queue;
    if (tr.lock)
      t.lock = *tr.lock;
    if (tr.retry_base)
      t.retry_base = *tr.retry_base;
    if (tr.unstarted)
      t.unstarted = *tr.unstarted;
    if (!tr.node.empty())
      t.node = tr.node;
    if (!tr.result.empty())
      t.result = tr.result;
    if (!tr.error.empty())
      t.last_error = tr.error;
    if (tr.kind == transition_kind::manual_retry)
      t.cancel_requested = false;
    t.updated_us = tr.at_us;
    db.add_event(t.id,
                 tr.kind == transition_kind::requeue ? tr.expected_attempt : tr.new_attempt,
                 tr.kind, tr.expected_state, t.state, tr.at_us, t.node, tr.detail);
    out.applied.push_back(true);
  }
  notes.insert(notes.end(), b.notes.begin(), b.notes.end());
  for (const auto& n : notes) {
    db.add_event(n.task_id, n.attempt, n.kind, std::nullopt, std::nullopt, n.at_us, n.node,
                 n.detail);
    if (n.kind == note_kind::cancel_requested)
      if (auto i = db.tasks.find(n.task_id); i != db.tasks.end())
        i->second.cancel_requested = true;
  }
  for (const auto& c : b.checkpoints)
    db.checkpoints.push_back({db.next_checkpoint++, c.task_id, c.attempt, c.data, c.at_us});
  for (const auto& p : b.progress) // the last one of a task wins, for its current attempt
    if (auto i = db.tasks.find(p.task_id); i != db.tasks.end() && i->second.attempt == p.attempt)
      db.progress[p.task_id] = {p.attempt, p.data, p.at_us};
  if (!commit_id.empty())
    db.commit_log[commit_id] = out;
  if (!db.faults.empty() && db.faults.front().after_commit) {
    auto f = std::move(db.faults.front());
    db.faults.pop_front();
    throw f.error;
  }
  return out;
}

int64_t memory_journal::next_head_generation() {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  generation_ = ++db_->generation;
  return generation_;
}

int64_t memory_journal::fence_generation() const {
  return generation_;
}

void memory_journal::fence_on(int64_t generation) {
  generation_ = generation;
}

std::vector<task_record> memory_journal::load_unfinished() {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::vector<task_record> out;
  for (const auto& [id, t] : db_->tasks)
    if (live(t) || db_->half_done(t))
      out.push_back(t);
  return out;
}

memory_journal::windowed_load memory_journal::load_windowed(int64_t now_us, size_t window,
                                                            int64_t horizon_us) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  windowed_load out;
  auto later = [&](const task_record& t) {
    return t.state == task_state::queued && t.run_at_us > horizon_us && !t.cancel_requested;
  };
  std::map<std::string, std::vector<const task_record*>> queues;
  for (const auto& [id, t] : db_->tasks) {
    out.max_id = std::max(out.max_id, id);
    if (t.state == task_state::waiting)
      ++out.waiting;
    if (live(t) && due(t, now_us)) {
      queues[t.queue].push_back(&t);
      ++out.due[t.queue];
    } else if (live(t) && later(t)) {
      ++out.later;
    } else if (live(t) || db_->half_done(t)) {
      out.tasks.push_back(t);
    }
  }
  for (auto& [q, ts] : queues) {
    std::sort(ts.begin(), ts.end(), [](const task_record* a, const task_record* b) {
      return std::make_tuple(-a->priority, a->run_at_us, a->id)
             < std::make_tuple(-b->priority, b->run_at_us, b->id);
    });
    for (size_t i = 0; i < ts.size() && i < window; ++i)
      out.tasks.push_back(*ts[i]);
  }
  return out;
}

std::vector<task_record> memory_journal::queued_between(int64_t after_us, int64_t until_us) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::vector<task_record> out;
  for (const auto& [id, t] : db_->tasks)
    if (t.state == task_state::queued && !t.cancel_requested && t.run_at_us > after_us
        && t.run_at_us <= until_us)
      out.push_back(t);
  std::stable_sort(out.begin(), out.end(), [](const task_record& a, const task_record& b) {
    return a.run_at_us < b.run_at_us;
  });
  return out;
}

std::vector<task_record> memory_journal::queued_after(const std::string& queue,
                                                      const std::optional<queue_position>& after,
                                                      int64_t now_us, size_t limit) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  auto key = [](int32_t priority, int64_t run_at, int64_t id) {
    return std::make_tuple(-static_cast<int64_t>(priority), run_at, id);
  };
  std::vector<task_record> out;
  for (const auto& [id, t] : db_->tasks)
    if (t.queue == queue && due(t, now_us)
        && (!after || key(t.priority, t.run_at_us, t.id)
                        > key(after->priority, after->run_at_us, after->id)))
      out.push_back(t);
  std::sort(out.begin(), out.end(), [&](const task_record& a, const task_record& b) {
    return key(a.priority, a.run_at_us, a.id) < key(b.priority, b.run_at_us, b.id);
  });
  if (out.size() > limit)
    out.resize(limit);
  return out;
}

std::optional<std::string> memory_journal::latest_checkpoint(int64_t task_id) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::optional<std::string> out;
  for (const auto& c : db_->checkpoints)
    if (c.task_id == task_id)
      out = c.data;
  return out;
}

std::map<int64_t, std::string>
memory_journal::latest_checkpoints(const std::vector<int64_t>& task_ids) {
  std::map<int64_t, std::string> out;
  if (task_ids.empty())
    return out;
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::set<int64_t> want(task_ids.begin(), task_ids.end());
  for (const auto& c : db_->checkpoints)
    if (want.count(c.task_id))
      out[c.task_id] = c.data;
  return out;
}

double memory_journal::ping_ms() {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  return 0.0;
}

// -- node rows -------------------------------------------------------------------

void memory_journal::upsert_node(const node_row& n) {
  upsert_nodes({n});
}

void memory_journal::upsert_nodes(const std::vector<node_row>& ns) {
  if (ns.empty())
    return;
  std::unique_lock<std::mutex> lock;
  enter(lock);
  check_fence();
  for (const auto& n : ns)
    db_->nodes[n.id] = n;
}

int64_t memory_journal::prune_nodes(int64_t older_than_us) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  int64_t n = 0;
  for (auto i = db_->nodes.begin(); i != db_->nodes.end();) {
    if ((i->second.state == "DEAD" || i->second.state == "LEFT")
        && i->second.last_heartbeat_us < older_than_us) {
      i = db_->nodes.erase(i);
      ++n;
    } else {
      ++i;
    }
  }
  return n;
}

std::vector<node_row> memory_journal::nodes() {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::vector<node_row> out;
  for (const auto& [id, n] : db_->nodes)
    out.push_back(n);
  return out;
}

// -- reads -----------------------------------------------------------------------

std::vector<task_record> memory_journal::list_tasks(const task_filter& f) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::vector<task_record> out;
  for (const auto& [id, t] : db_->tasks)
    if (db_->matches(t, f))
      out.push_back(t);
  auto by = [&](auto key) {
    std::sort(out.begin(), out.end(),
              [&](const task_record& a, const task_record& b) { return key(a) < key(b); });
  };
  using tr = const task_record&;
  switch (f.order) {
    case task_order::id_asc: by([](tr t) { return t.id; }); break;
    case task_order::id_desc: by([](tr t) { return -t.id; }); break;
    case task_order::updated_desc:
      by([](tr t) { return std::make_tuple(-t.updated_us, -t.id); });
      break;
    case task_order::updated_asc: by([](tr t) { return std::make_tuple(t.updated_us, t.id); }); break;
    case task_order::name_asc: by([](tr t) { return std::make_tuple(t.name, t.id); }); break;
    case task_order::name_desc:
      std::sort(out.begin(), out.end(), [](tr a, tr b) {
        return std::make_tuple(b.name, b.id) < std::make_tuple(a.name, a.id);
      });
      break;
    case task_order::priority_desc:
      by([](tr t) { return std::make_tuple(-static_cast<int64_t>(t.priority), t.id); });
      break;
    case task_order::priority_asc: by([](tr t) { return std::make_tuple(t.priority, t.id); }); break;
  }
  if (f.limit > 0 && static_cast<int64_t>(out.size()) > f.limit)
    out.resize(static_cast<size_t>(f.limit));
  return out;
}

std::optional<task_record> memory_journal::get_task(int64_t id) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  if (auto i = db_->tasks.find(id); i != db_->tasks.end())
    return i->second;
  return std::nullopt;
}

std::vector<event_row> memory_journal::events(int64_t task_id) {
  return events_after(task_id, 0);
}

std::vector<event_row> memory_journal::events_after(int64_t task_id, int64_t after_id) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::vector<event_row> out;
  for (const auto& e : db_->events)
    if (e.task_id == task_id && e.id > after_id)
      out.push_back(e);
  std::sort(out.begin(), out.end(),
            [](const event_row& a, const event_row& b) { return a.id < b.id; });
  return out;
}

std::vector<checkpoint_row> memory_journal::checkpoints(int64_t task_id) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::vector<checkpoint_row> out;
  for (const auto& c : db_->checkpoints)
    if (c.task_id == task_id)
      out.push_back(c);
  return out;
}

std::optional<progress_row> memory_journal::progress(int64_t task_id) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  auto i = db_->progress.find(task_id);
  if (i == db_->progress.end())
    return std::nullopt;
  return i->second;
}

std::vector<name_state_count> memory_journal::count_by_name_state(const task_filter& f) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::map<std::pair<std::string, std::string>, name_state_count> acc;
  for (const auto& [id, t] : db_->tasks)
    if (db_->matches(t, f)) {
      auto& row = acc[{t.name, to_string(t.state)}]; // Postgres orders the state's text
      row.name = t.name;
      row.state = t.state;
      ++row.tasks;
    }
  std::vector<name_state_count> out;
  for (auto& [k, v] : acc)
    out.push_back(v);
  return out;
}

namespace {

/// Events of `kind` of the tasks matching `f` since `f.since_us`, grouped by
/// `group`: (key, events, distinct tasks), most frequent first, then key.
template <class Db, class Group>
std::vector<std::tuple<std::pair<std::string, std::string>, int64_t, int64_t>>
group_events(const Db& db, const task_filter& f, event_kind kind, Group group) {
  const bool filtered = !f.states.empty() || !f.name.empty() || !f.queue.empty()
                        || !f.lock.empty() || !f.node.empty() || !f.error_kind.empty()
                        || f.since_us != 0 || f.until_us != 0 || f.updated_until_us != 0;
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, std::set<int64_t>>> acc;
  for (const auto& e : db.events) {
    if (e.kind != kind || (f.since_us != 0 && e.at_us < f.since_us))
      continue;
    if (filtered) {
      auto t = db.tasks.find(e.task_id);
      if (t == db.tasks.end() || !db.matches(t->second, f))
        continue;
    }
    auto& a = acc[group(parse_or_null(e.detail))];
    ++a.first;
    a.second.insert(e.task_id);
  }
  std::vector<std::tuple<std::pair<std::string, std::string>, int64_t, int64_t>> out;
  for (auto& [k, v] : acc)
    out.emplace_back(k, v.first, static_cast<int64_t>(v.second.size()));
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::get<1>(a) > std::get<1>(b);
  });
  return out;
}

std::string text_at(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null())
    return {};
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

} // namespace

std::vector<error_kind_count> memory_journal::failures_by_kind(const task_filter& f) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::vector<error_kind_count> out;
  for (auto& [k, n, t] : group_events(*db_, f, transition_kind::fail, [](const nlohmann::json& d) {
         return std::make_pair(d.is_object() && d.contains("error") ? text_at(d["error"], "kind")
                                                                    : std::string{},
                               std::string{});
       }))
    out.push_back({k.first, n, t});
  return out;
}

std::vector<lost_cause_count> memory_journal::lost_by_cause(const task_filter& f) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::vector<lost_cause_count> out;
  for (auto& [k, n, t] : group_events(*db_, f, transition_kind::lose, [](const nlohmann::json& d) {
         return std::make_pair(text_at(d, "reason"), text_at(d, "signal"));
       }))
    out.push_back({k.first, k.second, n, t});
  return out;
}

std::vector<event_kind_count>
memory_journal::event_counts_since(int64_t since_us, const std::vector<event_kind>& kinds) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::map<std::string, int64_t> acc; // by name: the order of Postgres' ORDER BY kind
  for (const auto& e : db_->events)
    if ((since_us == 0 || e.at_us >= since_us)
        && (kinds.empty() || std::find(kinds.begin(), kinds.end(), e.kind) != kinds.end()))
      ++acc[to_string(e.kind)];
  std::vector<event_kind_count> out;
  for (auto& [k, n] : acc)
    out.push_back({*parse_event_kind(k), n});
  return out;
}

state_counts memory_journal::count_by_state() {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  state_counts out;
  for (const auto& [id, t] : db_->tasks)
    switch (t.state) {
      case task_state::queued: ++out.queued; break;
      case task_state::running: ++out.running; break;
      case task_state::succeeded: ++out.succeeded; break;
      case task_state::failed: ++out.failed; break;
      case task_state::cancelled: ++out.cancelled; break;
      case task_state::lost: ++out.lost; break;
      case task_state::waiting: ++out.waiting; break;
    }
  return out;
}

queue_age memory_journal::queued_age(int64_t now_us) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  queue_age out;
  for (const auto& [id, t] : db_->tasks) {
    if (t.state != task_state::queued)
      continue;
    if (t.run_at_us <= now_us) {
      ++out.ready;
      const auto since = std::max(t.created_us, t.run_at_us);
      out.oldest_ready_since_us = std::min(out.oldest_ready_since_us.value_or(since), since);
    } else {
      ++out.scheduled;
      out.next_scheduled_us = std::min(out.next_scheduled_us.value_or(t.run_at_us), t.run_at_us);
    }
  }
  return out;
}

// -- retention -------------------------------------------------------------------

int64_t memory_journal::purge(const task_filter& f, const progress_fn& progress, int batch) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  task_filter g = f;
  std::vector<task_state> finals;
  for (auto s : {task_state::succeeded, task_state::failed, task_state::cancelled,
                 task_state::lost})
    if (f.states.empty() || std::find(f.states.begin(), f.states.end(), s) != f.states.end())
      finals.push_back(s);
  if (finals.empty())
    return 0;
  g.states = finals;
  retention_result r;
  db_->delete_where([&](const task_record& t) { return db_->matches(t, g); },
                    std::numeric_limits<int64_t>::min(), batch, f.limit, progress, r);
  return r.tasks_deleted;
}

std::vector<std::string> memory_journal::ensure_partitions(int64_t now_us, int days_ahead) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::vector<std::string> created;
  const int64_t day0 = (now_us >= 0 ? now_us / day_us : (now_us - day_us + 1) / day_us) * day_us;
  for (int k = 0; k <= days_ahead; ++k) {
    const int64_t lo = day0 + k * day_us;
    if (db_->partition_days.insert(lo).second)
      created.push_back("task_events_p" + day_name(lo));
  }
  return created;
}

std::vector<partition_info> memory_journal::partitions() {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  std::vector<partition_info> out;
  for (auto day : db_->partition_days) {
    partition_info p;
    p.name = "task_events_p" + day_name(day);
    p.from_us = day;
    p.to_us = day + day_us;
    p.est_rows = 0;
    for (const auto& e : db_->events)
      if (db_->partition_of(e.at_us) == day)
        ++p.est_rows;
    out.push_back(std::move(p));
  }
  return out;
}

retention_result memory_journal::apply_retention(int64_t cutoff_us, const retention_options& o) {
  std::unique_lock<std::mutex> lock;
  enter(lock);
  auto& db = *db_;
  retention_result r;
  std::optional<int64_t> events_from;
  if (o.delete_events) {
    events_from = std::numeric_limits<int64_t>::min();
    for (auto day : db.partition_days)
      if (day + day_us <= cutoff_us - hour_us)
        events_from = day + day_us;
  }
  db.delete_where(
    [&](const task_record& t) {
      return final_state(t.state) && t.updated_us < cutoff_us && t.created_us < cutoff_us
             && !db.half_done(t);
    },
    events_from, o.batch, 0, o.progress, r);
  // Partitions whose every event is more than an hour older than the cutoff:
  // events of tasks that remain (created before the partition's end plus an
  // hour) move to the DEFAULT partition, the rest goes.
  for (auto i = db.partition_days.begin(); i != db.partition_days.end();) {
    const int64_t day = *i;
    if (day + day_us > cutoff_us - hour_us) {
      ++i;
      continue;
    }
    partition_info p;
    p.name = "task_events_p" + day_name(day);
    p.from_us = day;
    p.to_us = day + day_us;
    p.est_rows = 0;
    auto in_it = [&](const event_row& e) { return e.at_us >= day && e.at_us < day + day_us; };
    std::vector<event_row> keep;
    for (const auto& e : db.events) {
      if (!in_it(e))
        continue;
      ++p.est_rows;
      auto t = db.tasks.find(e.task_id);
      if (t != db.tasks.end() && t->second.created_us < day + day_us + hour_us)
        ++r.events_kept;
    }
    db.events.erase(std::remove_if(db.events.begin(), db.events.end(),
                                   [&](const event_row& e) {
                                     if (!in_it(e))
                                       return false;
                                     auto t = db.tasks.find(e.task_id);
                                     return !(t != db.tasks.end()
                                              && t->second.created_us < day + day_us + hour_us);
                                   }),
                    db.events.end());
    r.dropped.push_back(p);
    i = db.partition_days.erase(i);
  }
  // The DEFAULT partition: events older than the cutoff whose task is gone.
  const auto before = db.events.size();
  db.events.erase(std::remove_if(db.events.begin(), db.events.end(),
                                 [&](const event_row& e) {
                                   return !db.partition_of(e.at_us) && e.at_us < cutoff_us
                                          && !db.tasks.count(e.task_id);
                                 }),
                  db.events.end());
  r.events_deleted += static_cast<int64_t>(before - db.events.size());
  return r;
}

} // namespace taskrt

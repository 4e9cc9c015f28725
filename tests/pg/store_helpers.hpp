#pragma once
/// Small builders shared by the journal_store tests.

#include "taskrt/persistence/journal_store.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <chrono>
#include <string>
#include <thread>

namespace taskrt::test {

/// A migrated store on a fresh schema named after `name`.
inline journal_store make_store(const std::string& name) {
  journal_store s{fresh_schema_dsn(name)};
  s.migrate();
  return s;
}

/// A submit of task `name` at `now_us`.
inline journal_store::submit_item submit_of(const std::string& name,
                                            int64_t now_us = 1'700'000'000'000'000) {
  journal_store::submit_item it;
  it.spec.name = name;
  it.spec.args = R"({"n":1})";
  it.now_us = now_us;
  return it;
}

/// A transition of `id` by `kind` from (`state`, `attempt`) to `new_attempt`.
inline journal_store::transition_item
transition_of(int64_t id, transition_kind kind, task_state state, int32_t attempt,
              int32_t new_attempt, int64_t at_us = 1'700'000'000'500'000) {
  journal_store::transition_item t;
  t.task_id = id;
  t.kind = kind;
  t.expected_state = state;
  t.expected_attempt = attempt;
  t.new_attempt = new_attempt;
  t.lease_epoch = new_attempt;
  t.at_us = at_us;
  return t;
}

/// Submits one task per name in one commit; returns their ids.
inline std::vector<int64_t> submit_all(journal_store& s,
                                       const std::vector<std::string>& names) {
  journal_store::batch b;
  for (const auto& n : names)
    b.submits.push_back(submit_of(n));
  return s.commit(b).submitted_ids;
}

/// start (attempt 0 → 1, on `node`) of task `id`.
inline journal_store::transition_item start_of(int64_t id,
                                               const std::string& node = "n1") {
  auto t = transition_of(id, transition_kind::start, task_state::queued, 0, 1);
  t.node = node;
  return t;
}

/// Waits (bounded, 30 s) until a backend of the test's server waits on a
/// lock: the window of a commit blocked on a row lock the test holds.
inline bool someone_waits_on_a_lock() {
  for (int i = 0; i < 600; ++i) {
    if (query_count(test_dsn(), "SELECT count(*) FROM pg_stat_activity"
                                " WHERE wait_event_type = 'Lock'") >= 1)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

} // namespace taskrt::test

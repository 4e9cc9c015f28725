#include "tests/cli/seed.hpp"

#include <nlohmann/json.hpp>

namespace taskrt::test {

namespace {

using json = nlohmann::json;

int64_t at(double s) {
  return seed_t0 + static_cast<int64_t>(s * 1'000'000);
}

journal_store::transition_item tr(int64_t id, transition_kind k, task_state from,
                                  int32_t attempt, int32_t new_attempt, double t) {
  journal_store::transition_item x;
  x.task_id = id;
  x.kind = k;
  x.expected_state = from;
  x.expected_attempt = attempt;
  x.new_attempt = new_attempt;
  x.lease_epoch = new_attempt;
  x.at_us = at(t);
  return x;
}

void one(journal_store& s, journal_store::transition_item t) {
  journal_store::batch b;
  b.transitions.push_back(std::move(t));
  auto r = s.commit(b);
  if (r.applied.empty() || !r.applied[0])
    throw std::runtime_error("seed: transition not applied");
}

void note(journal_store& s, int64_t id, int32_t attempt, const json& detail, double t) {
  journal_store::batch b;
  b.notes.push_back({id, attempt, note_kind::retry_decision, detail, at(t), ""});
  s.commit(b);
}

void start(journal_store& s, int64_t id, int32_t attempt, const std::string& node, double t) {
  auto x = tr(id, transition_kind::start, task_state::queued, attempt, attempt + 1, t);
  x.node = node;
  x.detail = {{"node", node}, {"pid", 4000 + attempt}};
  one(s, x);
}

void failure(journal_store& s, int64_t id, int32_t attempt, const json& err, double t) {
  auto x = tr(id, transition_kind::fail, task_state::running, attempt, attempt, t);
  x.error = err.dump();
  x.detail = {{"error", err}, {"pid", 4000 + attempt - 1}};
  one(s, x);
}

} // namespace

seeded seed_journal(journal_store& store) {
  seeded out;
  journal_store::batch b;
  auto sub = [&](const std::string& name, const std::string& queue) {
    journal_store::submit_item it;
    it.spec.name = name;
    it.spec.args = R"({"n":1})";
    it.spec.origin = "test";
    it.queue = queue;
    it.resolved_policy = R"({"retries":3})";
    it.now_us = seed_t0;
    return it;
  };
  b.submits.push_back(sub("flaky", "default"));
  b.submits.push_back(sub("charge", "payments"));
  b.submits.push_back(sub("charge", "payments"));
  auto mail = sub("mail", "mail");
  mail.spec.lock = "inbox-7";
  mail.spec.priority = 5;
  b.submits.push_back(mail);
  auto ids = store.commit(b).submitted_ids;
  out = {ids.at(0), ids.at(1), ids.at(2), ids.at(3)};

  // flaky: attempt 1 LOST (SIGSEGV), attempt 2 FAILED, attempt 3 SUCCEEDED.
  const auto f = out.flaky;
  start(store, f, 0, "n1", 1);
  auto lose = tr(f, transition_kind::lose, task_state::running, 1, 1, 2);
  json lost_err = {{"kind", "taskrt.WorkerLost"}, {"message", "worker process died (SIGSEGV)"}};
  lose.error = lost_err.dump();
  lose.detail = {{"signal", "SIGSEGV"}, {"reason", "worker process died"}, {"pid", 4000},
                 {"error", lost_err}};
  one(store, lose);
  note(store, f, 1, {{"decision", "retry"}, {"reason", "attempt 1 of 4"}, {"delay_s", 1},
                     {"retry_at", "2023-11-14T22:13:23Z"}}, 2);
  one(store, tr(f, transition_kind::retry, task_state::lost, 1, 1, 2));
  start(store, f, 1, "n2", 3);
  failure(store, f, 2, {{"kind", "std::runtime_error"}, {"message", "boom"}}, 4);
  note(store, f, 2, {{"decision", "retry"}, {"reason", "attempt 2 of 4"}, {"delay_s", 1},
                     {"retry_at", "2023-11-14T22:13:25Z"}}, 4);
  one(store, tr(f, transition_kind::retry, task_state::failed, 2, 2, 4));
  start(store, f, 2, "n1", 5);
  auto ok = tr(f, transition_kind::succeed, task_state::running, 3, 3, 6);
  ok.result = R"({"ok":true})";
  one(store, ok);

  // charge ×2: one attempt, permanent error, given up.
  for (auto id : {out.charge1, out.charge2}) {
    start(store, id, 0, "n1", 1);
    failure(store, id, 1, {{"kind", "payments.PermanentError"}, {"message", "card declined"}}, 2);
    note(store, id, 1, {{"decision", "give_up"}, {"reason", "payments.PermanentError is in no_retry_on"}}, 2);
  }
  return out;
}

} // namespace taskrt::test

// Every acknowledgement after its commit (issue 19, item 2), with real head
// processes. The window of each test: "the journal write of a request is
// held up (a row or table lock the test holds), the client waits for its
// answer; the head is killed (kill -9) right after the answer". An answer
// that came while the write could not have committed is a failure by
// itself; after the kill the effect must be in the journal, and for the
// cancel of a running task the restarted head must deliver it to the
// adopted attempt, which ends CANCELLED.

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/runtime/time.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/e2e/node_process.hpp"
#include "tests/e2e/proc_children.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <csignal>
#include <future>
#include <memory>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;
using namespace std::chrono_literals;

namespace {

/// A lock the test holds in Postgres (its own transaction) until release():
/// journal writes that need it wait.
class held_lock {
public:
  held_lock(const std::string& dsn, const std::string& sql) : c_(dsn), tx_(c_) {
    tx_.exec(sql); // held from here
  }
  void release() {
    if (!released_)
      tx_.commit();
    released_ = true;
  }

private:
  pqxx::connection c_;
  pqxx::work tx_;
  bool released_ = false;
};

/// What happened to one request made while the lock was held.
template <class T>
struct acked {
  T reply;
  bool while_locked = false; ///< it answered before the lock was released
};

/// Sends `call` while `lock` is held; releases the lock after `hold` (less
/// than the head's call deadline of 1.5 s, so the write is slow, not an
/// outage) unless the answer came first; kills the head (kill -9) the moment
/// the answer is there, before the lock is released when it came early.
template <class T, class Call>
acked<T> answer_then_kill(head_process& head, held_lock& lock, Call call,
                          std::chrono::milliseconds hold = 900ms) {
  auto f = std::async(std::launch::async, call);
  if (f.wait_for(hold) == std::future_status::ready) {
    acked<T> out{f.get(), true};
    head.kill9(); // right after the answer: the write may still be blocked
    lock.release();
    return out;
  }
  lock.release();
  REQUIRE(f.wait_for(20s) == std::future_status::ready);
  acked<T> out{f.get(), false};
  head.kill9();
  return out;
}

bool has_event(journal_store& store, int64_t id, const std::string& kind) {
  for (const auto& e : store.events(id))
    if (to_string(e.kind) == kind)
      return true;
  return false;
}

} // namespace

TEST_CASE("ack after commit: cancel of a running task survives a head kill -9 right after"
          " its answer, and the restarted head cancels the adopted attempt",
          "[e2e][ack]") {
  auto dsn = fresh_schema_dsn("e2e_ack_cancel_running");
  head_process head{dsn, {"--workers", "0"}};
  const auto address = head.address();
  node_process n1{address, "n1", head.data_dir(), {"--workers", "2"}};
  auto& c = head.connect();
  REQUIRE(eventually([&] { return node_state(c, "n1") == "ALIVE"; }, 20'000));
  auto id = c.submit(spec("sleep", {{"ms", 60'000}}, R"({"retries":3})"));
  REQUIRE(id);
  journal_store store{dsn};
  REQUIRE(eventually([&] { return store.get_task(*id)->state == task_state::running; }, 20'000));
  // n1's worker processes are stopped, so the attempt cannot act on a cancel
  // that reaches it before the kill: it is still running when the restarted
  // head adopts it, which must deliver the journaled cancel again.
  const auto workers = children_of(n1.pid);
  REQUIRE_FALSE(workers.empty());
  for (int w : workers)
    ::kill(w, SIGSTOP);

  held_lock lock{dsn, "SELECT 1 FROM tasks WHERE id = " + std::to_string(*id) + " FOR UPDATE"};
  auto r = answer_then_kill<caf::expected<task_state>>(head, lock, [&c, id] {
    return c.cancel(*id, "e2e");
  });
  INFO("answered while the journal write was blocked: " << r.while_locked << "\nhead log:\n"
                                                          << head.log());
  REQUIRE(r.reply);
  CHECK(*r.reply == task_state::running); // "RUNNING: cancellation requested"
  CHECK_FALSE(r.while_locked);
  // The effect is in the journal though the head died right after answering.
  CHECK(has_event(store, *id, "cancel_requested"));
  CHECK(store.get_task(*id)->cancel_requested);
  CHECK(store.get_task(*id)->state == task_state::running);

  head.restart({"--port", address.substr(address.rfind(':') + 1)});
  CHECK(eventually([&] { return has_event(store, *id, "adopted"); }, 30'000));
  for (int w : workers)
    ::kill(w, SIGCONT);
  auto out = head.connect().await(*id, 60s);
  REQUIRE(out);
  CHECK(out->state == task_state::cancelled);
  CHECK(out->attempt == 1); // the same attempt, adopted and told again
}

TEST_CASE("ack after commit: cancel of a QUEUED task survives a head kill -9 right after"
          " its answer",
          "[e2e][ack]") {
  auto dsn = fresh_schema_dsn("e2e_ack_cancel_queued");
  head_process head{dsn, {"--workers", "0"}};
  auto& c = head.connect();
  auto id = c.submit(spec("sleep", {{"ms", 10}}));
  REQUIRE(id);
  journal_store store{dsn};
  held_lock lock{dsn, "SELECT 1 FROM tasks WHERE id = " + std::to_string(*id) + " FOR UPDATE"};
  auto r = answer_then_kill<caf::expected<task_state>>(head, lock, [&c, id] {
    return c.cancel(*id, "e2e");
  });
  REQUIRE(r.reply);
  CHECK(*r.reply == task_state::cancelled);
  CHECK_FALSE(r.while_locked);
  CHECK(store.get_task(*id)->state == task_state::cancelled);
}

TEST_CASE("ack after commit: a manual retry survives a head kill -9 right after its answer",
          "[e2e][ack]") {
  auto dsn = fresh_schema_dsn("e2e_ack_retry");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  auto id = c.submit(spec("fail", {{"message", "first try fails"}}, R"({"retries":0})"));
  REQUIRE(id);
  auto done = c.await(*id, 60s);
  REQUIRE(done);
  REQUIRE(done->state == task_state::failed);
  journal_store store{dsn};
  held_lock lock{dsn, "SELECT 1 FROM tasks WHERE id = " + std::to_string(*id) + " FOR UPDATE"};
  manual_retry_msg m;
  m.id = *id;
  m.origin = "e2e";
  m.run_at_us = to_micros(now()) + 3'600'000'000; // in an hour: it stays QUEUED
  auto r = answer_then_kill<caf::expected<int64_t>>(head, lock, [&c, m] { return c.retry(m); });
  REQUIRE(r.reply);
  CHECK(*r.reply == *id);
  CHECK_FALSE(r.while_locked);
  CHECK(store.get_task(*id)->state == task_state::queued);
  CHECK(has_event(store, *id, "manual_retry"));
}

TEST_CASE("ack after commit: a submit survives a head kill -9 right after its answer",
          "[e2e][ack]") {
  auto dsn = fresh_schema_dsn("e2e_ack_submit");
  head_process head{dsn, {"--workers", "0"}};
  auto& c = head.connect();
  journal_store store{dsn};
  // Inserts into tasks wait while the table is locked in SHARE mode.
  held_lock lock{dsn, "LOCK TABLE tasks IN SHARE MODE"};
  auto r = answer_then_kill<caf::expected<int64_t>>(head, lock, [&c] {
    return c.submit(spec("sleep", {{"ms", 10}}));
  });
  REQUIRE(r.reply);
  CHECK_FALSE(r.while_locked);
  auto row = store.get_task(*r.reply);
  REQUIRE(row);
  CHECK(row->state == task_state::queued);
}

TEST_CASE("ack after commit: `tasks purge` reports only what its commits deleted",
          "[e2e][ack]") {
  auto dsn = fresh_schema_dsn("e2e_ack_purge");
  head_process head{dsn, {"--workers", "1"}};
  auto& c = head.connect();
  auto id = c.submit(spec("sleep", {{"ms", 10}}));
  REQUIRE(id);
  REQUIRE(c.await(*id, 60s)->state == task_state::succeeded);
  journal_store store{dsn};
  held_lock lock{dsn, "SELECT 1 FROM tasks WHERE id = " + std::to_string(*id) + " FOR UPDATE"};
  auto r = answer_then_kill<cli_result>(head, lock, [&dsn] {
    return run_cli({"tasks", "purge", "--state", "SUCCEEDED", "--older-than", "0s", "--yes",
                    "--db", dsn});
  });
  INFO(r.reply.out << r.reply.err);
  CHECK(r.reply.exit_code == 0);
  CHECK(r.reply.out.find("1 task(s) purged") != std::string::npos);
  CHECK_FALSE(r.while_locked);
  CHECK_FALSE(store.get_task(*id));
}

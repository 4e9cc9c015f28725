// Periodic schedules with real head processes against a real Postgres
// (issue 24). Every tick is a `stamp` task that appends "start PID MONO
// REAL TASK ATTEMPT" to a file of the test: what ran is read there, what was
// decided from the journal (schedule_events and the tasks' keys).
//
// - kill -9 of the head, restarted 5 s later, under each --missed policy:
//   the window is the head's absence; the ticks of it are skipped, caught up
//   (only the latest) or all caught up, exactly, and every other tick fired
//   once.
// - the same with --missed all --catchup-window 3s and 8 s away: the ticks
//   of the window's 3 s before the restarted head's first pass are caught
//   up once each (journal rows, and one start stamp each after the
//   restart); the older missed ones are skipped as older than the window.
// - kill -9 of the active head with a standby: the standby fires on, no
//   tick has two tasks, no task ran twice.
// - --overlap skip with a task slower than the interval: no two tick tasks
//   ever ran at once (from the stamps), the ticks in between are skipped
//   with the reason.

#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/runtime/time.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

struct tick_event {
  int64_t tick_s = 0;
  std::string kind;
  std::string reason;
  int64_t task_id = 0;
};

std::vector<tick_event> ticks_of(const std::string& dsn, const std::string& name) {
  pqxx::connection c{dsn};
  pqxx::read_transaction tx{c};
  std::vector<tick_event> out;
  for (const auto& r : tx.exec_params(
         "SELECT extract(epoch FROM tick)::bigint, kind, reason, coalesce(task_id, 0)"
         " FROM schedule_events WHERE schedule = $1 ORDER BY tick",
         name))
    out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<int64_t>()});
  return out;
}

/// The tasks whose key is schedule:NAME:..., by key, with their state.
std::map<std::string, std::pair<int64_t, std::string>> tick_tasks(const std::string& dsn,
                                                                  const std::string& name) {
  pqxx::connection c{dsn};
  pqxx::read_transaction tx{c};
  std::map<std::string, std::pair<int64_t, std::string>> out;
  for (const auto& r : tx.exec_params("SELECT key, id, state FROM tasks WHERE key LIKE $1",
                                      "schedule:" + name + ":%"))
    out[r[0].as<std::string>()] = {r[1].as<int64_t>(), r[2].as<std::string>()};
  return out;
}

int count_kind(const std::vector<tick_event>& ev, const std::string& kind, int64_t after_s = 0) {
  int n = 0;
  for (const auto& e : ev)
    if (e.kind == kind && e.tick_s > after_s)
      ++n;
  return n;
}

struct stamp_line {
  std::string event;
  int64_t mono_ns = 0;
  int64_t real_ns = 0;
  int64_t task = 0;
  int attempt = 0;
};

std::vector<stamp_line> stamps(const std::string& path) {
  std::vector<stamp_line> out;
  std::ifstream f{path};
  std::string ev;
  long long pid, mono, real, task;
  int attempt;
  while (f >> ev >> pid >> mono >> real >> task >> attempt)
    out.push_back({ev, mono, real, task, attempt});
  return out;
}

std::string temp_file(const std::string& tag) {
  return "/tmp/taskrt-e2e-" + tag + "-" + std::to_string(::getpid()) + ".stamps";
}

void add_schedule(const std::string& dsn, const std::vector<std::string>& more) {
  std::vector<std::string> args{"schedules", "add"};
  args.insert(args.end(), more.begin(), more.end());
  args.insert(args.end(), {"--db", dsn});
  auto r = run_cli(args);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

/// Every tick from the first to the last decided is there once, one second
/// apart (the events are unique per tick; here none is left out).
std::string dump(const std::vector<tick_event>& ev) {
  std::string out;
  for (const auto& e : ev)
    out += std::to_string(e.tick_s) + " " + e.kind + " " + std::to_string(e.task_id) + " "
           + e.reason + "\n";
  return out;
}

void check_consecutive(const std::vector<tick_event>& ev) {
  INFO(dump(ev));
  for (size_t i = 1; i < ev.size(); ++i) {
    INFO("tick " << ev[i].tick_s << " after " << ev[i - 1].tick_s);
    CHECK(ev[i].tick_s == ev[i - 1].tick_s + 1);
  }
}

/// Each fired or caught-up tick has exactly its task (key schedule:NAME:TICK),
/// no other task holds a key of the schedule, and every such task that
/// finished ran (its "start" stamp) once, or (execution is at least once)
/// twice when the head was killed at `kill_ns` (realtime; 0: no kill) after
/// its first start and before the second.
void check_tasks(const std::string& dsn, const std::string& name,
                 const std::vector<tick_event>& ev, const std::string& file,
                 int64_t kill_ns = 0) {
  auto tasks = tick_tasks(dsn, name);
  std::set<int64_t> fired_ids;
  for (const auto& e : ev) {
    const auto key = "schedule:" + name + ":" + to_rfc3339(from_micros(e.tick_s * 1'000'000));
    INFO(key << " " << e.kind << " " << e.reason);
    if (e.kind == "fired" || e.kind == "caught_up") {
      REQUIRE(tasks.count(key) == 1);
      CHECK(tasks[key].first == e.task_id);
      fired_ids.insert(e.task_id);
    } else {
      CHECK(tasks.count(key) == 0);
      CHECK(e.task_id == 0);
    }
  }
  std::set<int64_t> keyed;
  for (const auto& [k, v] : tasks)
    keyed.insert(v.first);
  CHECK(keyed == fired_ids);
  std::map<int64_t, std::vector<int64_t>> started; // task -> realtime of its starts
  for (const auto& s : stamps(file))
    if (s.event == "start")
      started[s.task].push_back(s.real_ns);
  for (const auto& [k, v] : tasks) {
    if (v.second != "SUCCEEDED")
      continue;
    INFO("task " << v.first << " of " << k);
    REQUIRE(started.count(v.first) == 1);
    const auto& at = started[v.first];
    CHECK((at.size() == 1
           || (at.size() == 2 && kill_ns != 0 && at[0] < kill_ns && kill_ns < at[1])));
  }
  for (const auto& [task, attempts] : started)
    CHECK(fired_ids.count(task) == 1); // nothing ran that no tick fired
}

} // namespace

TEST_CASE("schedule --every 1s - head kill -9, restart after 5 s - the missed ticks follow "
          "--missed exactly",
          "[e2e][schedules]") {
  const auto policy = GENERATE(as<std::string>{}, "skip", "latest", "all");
  INFO("--missed " << policy);
  auto dsn = fresh_schema_dsn("e2e_sched_missed_" + policy);
  const auto file = temp_file("missed-" + policy);
  std::remove(file.c_str());
  const auto retry_fast = R"({"retries":3,"wait":1})";
  head_process head{dsn, {"--workers", "2"}};
  add_schedule(dsn, {"tick", "--task", "stamp", "--args",
                     json{{"file", file}, {"ms", 10}}.dump(), "--every", "1s", "--missed",
                     policy, "--policy", retry_fast});
  REQUIRE(eventually([&] { return count_kind(ticks_of(dsn, "tick"), "fired") >= 3; }));
  head.kill9();
  const int64_t kill_ns = to_micros(now()) * 1000;
  const int64_t killed_s = kill_ns / 1'000'000'000;
  std::this_thread::sleep_for(std::chrono::seconds(5));
  head.restart();
  const int64_t restarted_s = to_micros(now()) / 1'000'000;
  REQUIRE(eventually([&] {
    return count_kind(ticks_of(dsn, "tick"), "fired", restarted_s + 1) >= 3;
  }));
  REQUIRE(head.terminate() == 0);
  auto ev = ticks_of(dsn, "tick");
  check_consecutive(ev);
  // The ticks of the head's absence: every tick between the last fired
  // before the kill and the first fired after the restart.
  std::vector<tick_event> missed;
  size_t first_missed = ev.size(), last_missed = 0;
  for (size_t i = 0; i < ev.size(); ++i)
    if (ev[i].reason.find("no head was active") != std::string::npos) {
      missed.push_back(ev[i]);
      first_missed = std::min(first_missed, i);
      last_missed = i;
    }
  INFO("killed at " << killed_s << ", restarted at " << restarted_s << ", " << missed.size()
                    << " ticks missed\n" << dump(ev));
  REQUIRE(missed.size() >= 4); // 5 s away at one tick a second
  CHECK(last_missed - first_missed + 1 == missed.size()); // one block
  CHECK(missed.front().tick_s <= killed_s + 1);
  CHECK(missed.back().tick_s >= killed_s + 4); // the whole 5 s away
  // Outside the block every tick fired on time (a tick whose task was
  // submitted just before the kill counts as fired).
  for (size_t i = 0; i < ev.size(); ++i)
    if (i < first_missed || i > last_missed) {
      INFO("tick " << ev[i].tick_s << " " << ev[i].kind << " " << ev[i].reason);
      CHECK(ev[i].kind == "fired");
    }
  if (policy == "skip") {
    for (const auto& m : missed)
      CHECK(m.kind == "skipped");
  } else if (policy == "latest") {
    for (size_t i = 0; i + 1 < missed.size(); ++i)
      CHECK(missed[i].kind == "skipped");
    CHECK(missed.back().kind == "caught_up");
  } else {
    for (const auto& m : missed)
      CHECK(m.kind == "caught_up");
  }
  // Every task of the schedule reaches a final state, then what ran is checked.
  REQUIRE(eventually([&] {
    for (const auto& [k, v] : tick_tasks(dsn, "tick"))
      if (v.second == "QUEUED" || v.second == "RUNNING")
        return false;
    return true;
  }, 30'000));
  check_tasks(dsn, "tick", ev, file, kill_ns);
  // describe shows the decisions with the reasons.
  auto d = run_cli({"schedules", "describe", "tick", "--db", dsn, "--ticks", "1000", "-o", "json"});
  REQUIRE(d.exit_code == 0);
  auto dj = json::parse(d.out);
  CHECK(dj["ticks"].size() == ev.size());
  CHECK(dj["counts"].value("skipped", 0) == count_kind(ev, "skipped"));
  std::remove(file.c_str());
}

TEST_CASE("schedule --every 1s - kill -9 of the active head, the standby takes over - no "
          "tick fires twice",
          "[e2e][schedules]") {
  auto dsn = fresh_schema_dsn("e2e_sched_standby");
  const auto file = temp_file("standby");
  std::remove(file.c_str());
  head_process a{dsn, {"--workers", "2"}};
  head_process b{dsn, {"--workers", "2", "--standby"}};
  add_schedule(dsn, {"tick", "--task", "stamp", "--args", json{{"file", file}, {"ms", 10}}.dump(),
                     "--every", "1s", "--policy", R"({"retries":3,"wait":1})"});
  REQUIRE(eventually([&] { return count_kind(ticks_of(dsn, "tick"), "fired") >= 3; }));
  a.kill9();
  const int64_t kill_ns = to_micros(now()) * 1000;
  const int64_t killed_s = kill_ns / 1'000'000'000;
  REQUIRE(eventually([&] {
    return count_kind(ticks_of(dsn, "tick"), "fired", killed_s + 2) >= 3;
  }, 40'000));
  REQUIRE(b.terminate() == 0);
  auto ev = ticks_of(dsn, "tick");
  check_consecutive(ev);
  REQUIRE(eventually([&] {
    for (const auto& [k, v] : tick_tasks(dsn, "tick"))
      if (v.second == "QUEUED" || v.second == "RUNNING")
        return false;
    return true;
  }, 30'000));
  check_tasks(dsn, "tick", ev, file, kill_ns);
  // The takeover's gap is skipped (the default), each tick once.
  for (const auto& e : ev)
    if (e.kind != "fired") {
      INFO(e.tick_s << " " << e.kind << " " << e.reason);
      CHECK(e.kind == "skipped");
      CHECK(e.reason.find("no head was active") != std::string::npos);
    }
  std::remove(file.c_str());
}

TEST_CASE("schedule --overlap skip|buffer-one - a task slower than the interval - no two "
          "ticks run at once, the ticks in between are skipped with the reason",
          "[e2e][schedules]") {
  const auto overlap = GENERATE(as<std::string>{}, "skip", "buffer-one");
  INFO("--overlap " << overlap);
  auto dsn = fresh_schema_dsn("e2e_sched_overlap_" + std::string{overlap == "skip" ? "s" : "b"});
  const auto file = temp_file("overlap-" + overlap);
  std::remove(file.c_str());
  head_process head{dsn, {"--workers", "3"}};
  add_schedule(dsn, {"slow", "--task", "stamp", "--args",
                     json{{"file", file}, {"ms", 2500}, {"tick_ms", 100}}.dump(), "--every", "1s",
                     "--overlap", overlap});
  // buffer-one fires two ticks at once (one runs, one waits), then one each 2.5 s.
  const int fires = overlap == "skip" ? 3 : 5;
  REQUIRE(eventually([&] { return count_kind(ticks_of(dsn, "slow"), "fired") >= fires; }, 30'000));
  auto p = run_cli({"schedules", "pause", "slow", "--db", dsn});
  REQUIRE(p.exit_code == 0);
  REQUIRE(eventually([&] {
    for (const auto& [k, v] : tick_tasks(dsn, "slow"))
      if (v.second == "QUEUED" || v.second == "RUNNING")
        return false;
    return true;
  }, 30'000));
  auto ev = ticks_of(dsn, "slow");
  check_consecutive(ev);
  int overlap_skips = 0;
  for (const auto& e : ev) {
    INFO(e.tick_s << " " << e.kind << " " << e.reason);
    CHECK((e.kind == "fired" || e.kind == "skipped"));
    if (e.kind == "skipped") {
      CHECK(e.reason.find("overlap: task ") == 0);
      if (overlap == "buffer-one")
        CHECK(e.reason.find("already waits behind task") != std::string::npos);
      ++overlap_skips;
    }
  }
  CHECK(overlap_skips >= 2);
  // From the stamps: each task's start comes after the previous one's stop.
  auto st = stamps(file);
  std::map<int64_t, std::pair<int64_t, int64_t>> span; // task -> (start, stop)
  for (const auto& s : st) {
    if (s.event == "start")
      span[s.task].first = s.mono_ns;
    if (s.event == "stop")
      span[s.task].second = s.mono_ns;
  }
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (const auto& [t, sp] : span)
    spans.push_back(sp);
  std::sort(spans.begin(), spans.end());
  REQUIRE(spans.size() >= 3);
  for (size_t i = 1; i < spans.size(); ++i)
    CHECK(spans[i].first > spans[i - 1].second);
  check_tasks(dsn, "slow", ev, file);
  // tasks describe names a tick's key, schedule and tick instant.
  const auto& first = *std::find_if(ev.begin(), ev.end(),
                                    [](const tick_event& e) { return e.kind == "fired"; });
  auto d = run_cli({"tasks", "describe", std::to_string(first.task_id), "--db", dsn, "-o", "json"});
  REQUIRE(d.exit_code == 0);
  auto dj = json::parse(d.out);
  const auto tick = to_rfc3339(from_micros(first.tick_s * 1'000'000));
  CHECK(dj["key"] == "schedule:slow:" + tick);
  CHECK(dj["schedule"] == json{{"name", "slow"}, {"tick", tick}});
  auto table = run_cli({"tasks", "describe", std::to_string(first.task_id), "--db", dsn});
  CHECK(table.out.find("schedule slow  tick " + tick) != std::string::npos);
  std::remove(file.c_str());
}

TEST_CASE("schedule --missed latest - pause for 4 s, resume - the ticks of the pause are "
          "skipped but the latest, which is caught up",
          "[e2e][schedules]") {
  auto dsn = fresh_schema_dsn("e2e_sched_pause");
  const auto file = temp_file("pause");
  std::remove(file.c_str());
  head_process head{dsn, {"--workers", "2"}};
  add_schedule(dsn, {"p", "--task", "stamp", "--args", json{{"file", file}, {"ms", 10}}.dump(),
                     "--every", "1s", "--missed", "latest"});
  REQUIRE(eventually([&] { return count_kind(ticks_of(dsn, "p"), "fired") >= 2; }));
  REQUIRE(run_cli({"schedules", "pause", "p", "--db", dsn}).exit_code == 0);
  const int64_t paused_s = to_micros(now()) / 1'000'000;
  std::this_thread::sleep_for(std::chrono::seconds(4));
  REQUIRE(run_cli({"schedules", "resume", "p", "--db", dsn}).exit_code == 0);
  const int64_t resumed_s = to_micros(now()) / 1'000'000;
  REQUIRE(eventually([&] { return count_kind(ticks_of(dsn, "p"), "fired", resumed_s + 1) >= 2; }));
  REQUIRE(run_cli({"schedules", "pause", "p", "--db", dsn}).exit_code == 0);
  auto ev = ticks_of(dsn, "p");
  check_consecutive(ev);
  std::vector<tick_event> missed;
  for (const auto& e : ev)
    if (e.reason.find("the schedule was paused") != std::string::npos)
      missed.push_back(e);
  INFO("paused at " << paused_s << ", resumed at " << resumed_s << "\n" << dump(ev));
  REQUIRE(missed.size() >= 3);
  for (size_t i = 0; i + 1 < missed.size(); ++i)
    CHECK(missed[i].kind == "skipped");
  CHECK(missed.back().kind == "caught_up");
  CHECK(missed.back().tick_s >= paused_s + 3);
  for (const auto& e : ev)
    if (e.reason.find("paused") == std::string::npos)
      CHECK(e.kind == "fired");
  REQUIRE(eventually([&] {
    for (const auto& [k, v] : tick_tasks(dsn, "p"))
      if (v.second == "QUEUED" || v.second == "RUNNING")
        return false;
    return true;
  }, 30'000));
  check_tasks(dsn, "p", ev, file);
  std::remove(file.c_str());
}

TEST_CASE("schedule --missed all --catchup-window 3s - head kill -9, restart after 8 s - only "
          "the missed ticks within the window are caught up, once each",
          "[e2e][schedules]") {
  // The window: the head's absence, about 8 ticks long. At the first pass
  // after the restart (at P, between `restart_us` below and the creation of
  // the first task it caught up) the ticks in [P - 3 s, P] fire, once
  // each, and the older ones are skipped as older than the window.
  auto dsn = fresh_schema_dsn("e2e_sched_catchup_window");
  const auto file = temp_file("catchup-window");
  std::remove(file.c_str());
  head_process head{dsn, {"--workers", "2"}};
  add_schedule(dsn, {"tick", "--task", "stamp", "--args", json{{"file", file}, {"ms", 10}}.dump(),
                     "--every", "1s", "--missed", "all", "--catchup-window", "3s", "--policy",
                     R"({"retries":3,"wait":1})"});
  REQUIRE(eventually([&] { return count_kind(ticks_of(dsn, "tick"), "fired") >= 3; }));
  head.kill9();
  const int64_t kill_ns = to_micros(now()) * 1000;
  std::this_thread::sleep_for(std::chrono::seconds(8));
  const int64_t restart_us = to_micros(now());
  head.restart();
  REQUIRE(eventually([&] {
    return count_kind(ticks_of(dsn, "tick"), "fired", restart_us / 1'000'000 + 1) >= 2;
  }));
  REQUIRE(head.terminate() == 0);
  auto ev = ticks_of(dsn, "tick");
  INFO("killed at " << kill_ns / 1000 << " us, restarted at " << restart_us << " us\n"
                    << dump(ev));
  check_consecutive(ev);
  std::vector<tick_event> old, caught;
  size_t first_missed = ev.size(), last_missed = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    if (ev[i].reason.find("no head was active") == std::string::npos)
      continue;
    first_missed = std::min(first_missed, i);
    last_missed = i;
    if (ev[i].kind == "caught_up") {
      caught.push_back(ev[i]);
    } else {
      CHECK(ev[i].kind == "skipped");
      CHECK(ev[i].reason.find("older than the catch-up window 3s") != std::string::npos);
      CHECK(caught.empty()); // the window is the block's newest end: no skip after a catch-up
      old.push_back(ev[i]);
    }
  }
  REQUIRE(old.size() + caught.size() >= 7); // 8 s away at one tick a second
  CHECK(last_missed - first_missed + 1 == old.size() + caught.size()); // one block
  REQUIRE(old.size() >= 3);
  CHECK(old.front().tick_s <= kill_ns / 1'000'000'000 + 1);
  // [P - 3 s, P] holds 3 or 4 whole seconds, every one a due tick.
  CHECK(caught.size() >= 3);
  CHECK(caught.size() <= 4);
  // Outside the block every tick fired on time.
  for (size_t i = 0; i < ev.size(); ++i)
    if (i < first_missed || i > last_missed) {
      INFO("tick " << ev[i].tick_s << " " << ev[i].kind << " " << ev[i].reason);
      CHECK(ev[i].kind == "fired");
    }
  REQUIRE(eventually([&] {
    for (const auto& [k, v] : tick_tasks(dsn, "tick"))
      if (v.second == "QUEUED" || v.second == "RUNNING")
        return false;
    return true;
  }, 30'000));
  // Each fired or caught-up tick has its one task, each finished task ran
  // once (twice only across the kill), and no skipped tick ran anything.
  check_tasks(dsn, "tick", ev, file, kill_ns);
  // The boundary, from the journal: P is at most the creation of the first
  // caught-up task, so every skipped tick is older than that minus 3 s, and
  // at least restart_us, so every caught-up tick is at most 3 s older.
  int64_t first_created_us = 0;
  std::map<int64_t, int64_t> submits; // caught-up task -> its submit events
  {
    pqxx::connection c{dsn};
    pqxx::read_transaction tx{c};
    for (const auto& t : caught) {
      auto r = tx.exec1("SELECT (extract(epoch FROM created_at) * 1e6)::bigint, state,"
                        " (SELECT count(*) FROM task_events e WHERE e.task_id = tasks.id"
                        "  AND e.kind = 'submit')"
                        " FROM tasks WHERE id = " + std::to_string(t.task_id));
      const auto created = r[0].as<int64_t>();
      first_created_us = first_created_us ? std::min(first_created_us, created) : created;
      CHECK(r[1].as<std::string>() == "SUCCEEDED");
      submits[t.task_id] = r[2].as<int64_t>();
    }
  }
  for (const auto& t : old)
    CHECK(t.tick_s * 1'000'000 < first_created_us - 3'000'000);
  for (const auto& t : caught) {
    CHECK(t.tick_s * 1'000'000 >= restart_us - 3'000'000);
    CHECK(submits[t.task_id] == 1);
  }
  // The processes' own stamps: each caught-up task started once, after the restart.
  std::map<int64_t, std::vector<int64_t>> started;
  for (const auto& s : stamps(file))
    if (s.event == "start")
      started[s.task].push_back(s.real_ns);
  for (const auto& t : caught) {
    INFO("caught-up tick " << t.tick_s << " task " << t.task_id);
    REQUIRE(started[t.task_id].size() == 1);
    CHECK(started[t.task_id][0] >= restart_us * 1000);
  }
  std::remove(file.c_str());
}

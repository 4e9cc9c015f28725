// Issue 25 with real processes: dependencies between tasks. Every task of
// these graphs is the demo task `stamp`, which writes its own start/stop
// times (monotonic, one host) and pid to a file: the order in which tasks
// ran is read from what ran, not only from the journal.

#include "taskrt/persistence/journal_store.hpp"
#include "tests/e2e/api_helpers.hpp"
#include "tests/e2e/head_process.hpp"
#include "tests/pg/pg_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

using namespace taskrt;
using namespace taskrt::test;
using json = nlohmann::json;

namespace {

/// A fresh stamp file for this test.
std::string stamp_file(const std::string& name) {
  auto path = "/tmp/taskrt_wf_" + name + "_" + std::to_string(::getpid()) + ".log";
  std::remove(path.c_str());
  return path;
}

/// One task's stamps: its first start, last stop (monotonic ns), how many starts.
struct ran {
  int64_t start_ns = 0, stop_ns = 0;
  int starts = 0;
};

/// The stamps of `path` by task id.
std::map<int64_t, ran> stamps(const std::string& path) {
  std::map<int64_t, ran> out;
  std::istringstream in{slurp(path)};
  std::string event;
  long long pid, mono, real, task;
  int attempt;
  while (in >> event >> pid >> mono >> real >> task >> attempt) {
    auto& r = out[task];
    if (event == "start") {
      ++r.starts;
      if (r.start_ns == 0)
        r.start_ns = mono;
    } else if (event == "stop") {
      r.stop_ns = mono;
    }
  }
  return out;
}

task_spec stamp_spec(const std::string& file, int ms, std::vector<int64_t> after = {},
                     trigger_rule rule = trigger_rule::all_success) {
  auto s = spec("stamp", {{"file", file}, {"ms", ms}, {"tick_ms", 50}});
  s.after = std::move(after);
  s.trigger = rule;
  return s;
}

/// Checks that `child` started after `parent` stopped, by their own stamps.
void ran_after(const std::map<int64_t, ran>& st, int64_t parent, int64_t child) {
  INFO("parent " << parent << " child " << child);
  REQUIRE(st.count(parent));
  REQUIRE(st.count(child));
  CHECK(st.at(parent).stop_ns > 0);
  CHECK(st.at(child).start_ns > st.at(parent).stop_ns);
}

} // namespace

TEST_CASE("a diamond submitted as one graph and a chain by the CLI run in their order",
          "[e2e][workflow]") {
  const auto dsn = fresh_schema_dsn("e2e_wf_diamond");
  head_process head{dsn, {"--workers", "4"}};
  auto& c = head.connect();
  const auto file = stamp_file("diamond");
  // top -> (left, right) -> bottom, in one commit: -N is the N-th of the batch.
  auto ids = c.submit_many({stamp_spec(file, 300), stamp_spec(file, 300, {-1}),
                            stamp_spec(file, 600, {-1}), stamp_spec(file, 100, {-2, -3})});
  REQUIRE(ids);
  const auto& id = *ids;
  journal_store store{dsn};
  CHECK(store.get_task(id[3])->state == task_state::waiting);
  auto outs = c.await_many(id, std::chrono::seconds(60));
  REQUIRE(outs);
  for (const auto& o : *outs)
    CHECK(o.state == task_state::succeeded);
  const auto st = stamps(file);
  ran_after(st, id[0], id[1]);
  ran_after(st, id[0], id[2]);
  ran_after(st, id[1], id[3]);
  ran_after(st, id[2], id[3]); // the slower middle one
  for (auto t : id)
    CHECK(st.at(t).starts == 1);

  // A chain from the CLI: a <- b <- c.
  const auto address = head.address();
  auto submit = [&](std::vector<std::string> extra, int ms = 200) {
    std::vector<std::string> args{"submit", "stamp", "--args",
                                  json{{"file", file}, {"ms", ms}}.dump(), "--address",
                                  address, "--data-dir", head.data_dir()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run_cli(args);
    REQUIRE(r.exit_code == 0);
    return std::stoll(r.out);
  };
  const auto a = submit({}, 3000); // long enough for the list below to see b and c WAITING
  const auto b = submit({"--after", std::to_string(a)});
  const auto cc = submit({"--after", std::to_string(b), "--trigger", "all_success"});
  auto listed = run_cli({"tasks", "list", "--state", "WAITING", "--db", dsn, "-o", "json"});
  REQUIRE(listed.exit_code == 0);
  std::set<int64_t> waiting;
  for (const auto& t : json::parse(listed.out)) {
    CHECK(t["state"] == "WAITING");
    waiting.insert(t["id"].get<int64_t>());
  }
  CHECK(waiting == std::set<int64_t>{b, cc});
  auto out = c.await(cc, std::chrono::seconds(60));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
  const auto st2 = stamps(file);
  ran_after(st2, a, b);
  ran_after(st2, b, cc);
  auto bad = run_cli({"submit", "stamp", "--after", "1,x", "--address", address});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("not a task id") != std::string::npos);
  std::remove(file.c_str());
}

TEST_CASE("a failed parent cancels its all_success descendants with upstream_failed - none runs, all_done runs",
          "[e2e][workflow]") {
  const auto dsn = fresh_schema_dsn("e2e_wf_cascade");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  const auto file = stamp_file("cascade");
  auto parent = spec("fail", {{"times", -1}}, R"({"retries":0})");
  auto ids = c.submit_many({parent, stamp_spec(file, 50, {-1}), stamp_spec(file, 50, {-2}),
                            stamp_spec(file, 50, {-1}, trigger_rule::all_done),
                            stamp_spec(file, 50, {-1}, trigger_rule::any_success)});
  REQUIRE(ids);
  const auto& id = *ids;
  auto outs = c.await_many(id, std::chrono::seconds(60));
  REQUIRE(outs);
  CHECK(outs->at(0).state == task_state::failed);
  CHECK(outs->at(1).state == task_state::cancelled);
  CHECK(outs->at(2).state == task_state::cancelled);
  CHECK(outs->at(3).state == task_state::succeeded);
  CHECK(outs->at(4).state == task_state::cancelled);
  CHECK(outs->at(2).error.find("upstream_failed") != std::string::npos);
  CHECK(outs->at(2).error.find("parent " + std::to_string(id[1])) != std::string::npos);
  const auto st = stamps(file);
  CHECK(st.count(id[1]) == 0); // never ran
  CHECK(st.count(id[2]) == 0);
  CHECK(st.count(id[4]) == 0);
  CHECK(st.count(id[3]) == 1);

  // A manual retry of the failed parent lets the children it cancelled wait
  // again (journaled "rewait"); the parent fails again here, so they end
  // cancelled again, once more naming it.
  auto r = run_cli({"tasks", "retry", std::to_string(id[0]), "--address", head.address(),
                    "--db", dsn});
  CHECK(r.exit_code == 0);
  journal_store store{dsn};
  REQUIRE(eventually([&] {
    int rewaits = 0;
    for (const auto& e : store.events(id[2]))
      rewaits += e.kind == transition_kind::rewait;
    return rewaits == 1 && store.get_task(id[2])->state == task_state::cancelled;
  }));
  CHECK(stamps(file).count(id[1]) == 0);
  std::remove(file.c_str());
}

TEST_CASE("a manual retry of a FAILED parent: its cancelled children wait, then run after it succeeds",
          "[e2e][workflow]") {
  const auto dsn = fresh_schema_dsn("e2e_wf_rewait");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  const auto file = stamp_file("rewait");
  // Fails its first attempt only; no automatic retries: FAILED for good.
  auto ids = c.submit_many({spec("fail", {{"times", 1}}, R"({"retries":0})"),
                            stamp_spec(file, 50, {-1}), stamp_spec(file, 50, {-2})});
  REQUIRE(ids);
  const auto& id = *ids;
  auto first = c.await_many(id, std::chrono::seconds(60));
  REQUIRE(first);
  CHECK(first->at(2).state == task_state::cancelled);
  manual_retry_msg m;
  m.id = id[0];
  m.origin = "e2e";
  REQUIRE(c.retry(m));
  auto outs = c.await_many(id, std::chrono::seconds(60));
  REQUIRE(outs);
  for (const auto& o : *outs)
    CHECK(o.state == task_state::succeeded);
  const auto st = stamps(file);
  ran_after(st, id[1], id[2]);
  std::remove(file.c_str());
}

TEST_CASE("a parent LOST (worker crash) and retried to success releases its children once",
          "[e2e][workflow]") {
  const auto dsn = fresh_schema_dsn("e2e_wf_lost");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  const auto file = stamp_file("lost");
  auto ids = c.submit_many({spec("crash", {{"times", 1}}, R"({"retries":2,"wait":0.1})"),
                            stamp_spec(file, 50, {-1}),
                            stamp_spec(file, 50, {-1}, trigger_rule::all_done)});
  REQUIRE(ids);
  auto outs = c.await_many(*ids, std::chrono::seconds(60));
  REQUIRE(outs);
  for (const auto& o : *outs)
    CHECK(o.state == task_state::succeeded);
  CHECK(outs->at(0).attempt == 2);
  const auto st = stamps(file);
  CHECK(st.at(ids->at(1)).starts == 1);
  CHECK(st.at(ids->at(2)).starts == 1);
}

TEST_CASE("cancel of a WAITING task and of a parent follow the trigger rules", "[e2e][workflow]") {
  const auto dsn = fresh_schema_dsn("e2e_wf_cancel");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  const auto file = stamp_file("cancel");
  auto ids = c.submit_many({stamp_spec(file, 30'000), stamp_spec(file, 50, {-1}),
                            stamp_spec(file, 50, {-2}),
                            stamp_spec(file, 50, {-2}, trigger_rule::all_done)});
  REQUIRE(ids);
  const auto& id = *ids;
  auto cancelled = c.cancel(id[1], "e2e");
  REQUIRE(cancelled);
  CHECK(*cancelled == task_state::cancelled);
  auto o2 = c.await(id[2], std::chrono::seconds(30));
  REQUIRE(o2);
  CHECK(o2->state == task_state::cancelled);
  auto o3 = c.await(id[3], std::chrono::seconds(30));
  REQUIRE(o3);
  CHECK(o3->state == task_state::succeeded); // all_done: its parent ended (cancelled)
  // The running parent, cancelled: nothing waits on it any more.
  REQUIRE(c.cancel(id[0], "e2e"));
  auto o0 = c.await(id[0], std::chrono::seconds(30));
  REQUIRE(o0);
  CHECK(o0->state == task_state::cancelled);
  const auto st = stamps(file);
  CHECK(st.count(id[1]) == 0);
  CHECK(st.count(id[2]) == 0);
  std::remove(file.c_str());
}

TEST_CASE("tasks cancel --state WAITING cancels the waiting tasks and their children follow the trigger rules",
          "[e2e][workflow]") {
  const auto dsn = fresh_schema_dsn("e2e_wf_bulk_cancel");
  api_head h{dsn, {"--workers", "2"}}; // with /metrics
  auto& head = h.head;
  auto& c = head.connect();
  // The head's WAITING gauge, moved by the commits each reply follows.
  auto waiting_gauge = [&] {
    auto r = h.client().Get("/metrics");
    REQUIRE(r);
    const std::string key = "taskrt_tasks{role=\"head\",state=\"WAITING\"} ";
    const auto at = r->body.find(key);
    REQUIRE(at != std::string::npos);
    return std::stoll(r->body.substr(at + key.size()));
  };
  const auto file = stamp_file("bulk_cancel");
  auto echo = [](std::vector<int64_t> after, trigger_rule rule = trigger_rule::all_success) {
    auto s = spec("echo", {{"x", 1}});
    s.after = std::move(after);
    s.trigger = rule;
    return s;
  };
  // a runs (long); b and e (stamp) wait on it; c and d (echo) wait on b.
  auto ids = c.submit_many({stamp_spec(file, 30'000), stamp_spec(file, 50, {-1}),
                            echo({-2}), echo({-2}, trigger_rule::all_done),
                            stamp_spec(file, 50, {-1})});
  REQUIRE(ids);
  const auto a = ids->at(0), b = ids->at(1), cc = ids->at(2), d = ids->at(3), e = ids->at(4);
  journal_store store{dsn};
  for (auto id : {b, cc, d, e})
    REQUIRE(store.get_task(id)->state == task_state::waiting);
  CHECK(waiting_gauge() == 4);
  auto cancel = [&](std::vector<std::string> filter) {
    std::vector<std::string> args{"tasks", "cancel", "--state", "WAITING", "--yes", "-o", "json",
                                  "--db", dsn, "--address", head.address(),
                                  "--data-dir", head.data_dir()};
    args.insert(args.end(), filter.begin(), filter.end());
    return run_cli(args);
  };
  // Only the WAITING stamp tasks are selected: b and e, not a (RUNNING).
  auto r = cancel({"--name", "stamp"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const auto rj = json::parse(r.out);
  std::set<int64_t> ok;
  for (const auto& t : rj["ok"]) {
    CHECK(t["state"] == "CANCELLED");
    ok.insert(t["id"].get<int64_t>());
  }
  CHECK(ok == std::set<int64_t>{b, e});
  CHECK(rj["failed"].empty());
  // c (all_success) is cancelled by b's cancel, naming b; d (all_done) runs.
  auto oc = c.await(cc, std::chrono::seconds(30));
  REQUIRE(oc);
  CHECK(oc->state == task_state::cancelled);
  const auto err = json::parse(store.get_task(cc)->last_error);
  CHECK(err["kind"] == "upstream_failed");
  CHECK(err["parent"] == b);
  auto od = c.await(d, std::chrono::seconds(30));
  REQUIRE(od);
  CHECK(od->state == task_state::succeeded);
  CHECK(store.get_task(a)->state == task_state::running);
  CHECK(waiting_gauge() == 0);

  // A chain p <- q, both WAITING and both selected: p goes first (id
  // order), its cancel ends q with upstream_failed, and q counts as
  // cancelled, not as a failure of the command.
  auto chain = c.submit_many({echo({a}), echo({-1})});
  REQUIRE(chain);
  const auto p = chain->at(0), q = chain->at(1);
  CHECK(waiting_gauge() == 2);
  auto r2 = cancel({});
  INFO(r2.out << r2.err);
  REQUIRE(r2.exit_code == 0);
  const auto r2j = json::parse(r2.out);
  REQUIRE(r2j["ok"].size() == 2);
  CHECK(r2j["ok"][0]["id"] == p);
  CHECK(r2j["ok"][1]["id"] == q);
  CHECK(r2j["ok"][1]["note"].get<std::string>().find("upstream_failed") != std::string::npos);
  CHECK(json::parse(store.get_task(q)->last_error)["parent"] == p);
  CHECK(waiting_gauge() == 0);
  // Nothing is WAITING now; a selection that finds none is not an error.
  auto r3 = cancel({});
  REQUIRE(r3.exit_code == 0);
  CHECK(json::parse(r3.out)["requested"] == 0);
  REQUIRE(c.cancel(a, "e2e"));
  const auto st = stamps(file);
  CHECK(st.count(b) == 0);
  CHECK(st.count(e) == 0);
  std::remove(file.c_str());
}

TEST_CASE("a running task spawns a child that waits for another task - it runs after that one, shown in its tree",
          "[e2e][workflow]") {
  const auto dsn = fresh_schema_dsn("e2e_wf_spawn_after");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  const auto file = stamp_file("spawn_after");
  auto a = c.submit(stamp_spec(file, 2000));
  REQUIRE(a);
  // fanout, a running task, spawns one echo child --after a (ctx.submit).
  auto f = c.submit(spec("fanout", {{"n", 1}, {"after", json::array({*a})}}));
  REQUIRE(f);
  auto fo = c.await(*f, std::chrono::seconds(30));
  REQUIRE(fo);
  REQUIRE(fo->state == task_state::succeeded);
  const auto kid = result_of(*fo)["children"].at(0).get<int64_t>();
  auto ko = c.await(kid, std::chrono::seconds(60));
  REQUIRE(ko);
  CHECK(ko->state == task_state::succeeded);
  journal_store store{dsn};
  const auto k = store.get_task(kid).value();
  CHECK(k.parent_id == *f); // journaled with its origin
  // It waited: submitted WAITING, released in the commit of a's end, then
  // started. The journal's event ids order them.
  int64_t a_end = 0, submitted_waiting = 0, released = 0, started = 0;
  for (const auto& e : store.events(*a))
    if (e.kind == transition_kind::succeed)
      a_end = e.id;
  for (const auto& e : store.events(kid)) {
    if (e.kind == transition_kind::submit && e.to_state == task_state::waiting)
      submitted_waiting = e.id;
    if (e.kind == transition_kind::release)
      released = e.id;
    if (e.kind == transition_kind::start && started == 0)
      started = e.id;
  }
  CHECK(submitted_waiting > 0);
  CHECK(a_end > 0);
  CHECK(released > a_end);
  CHECK(started > released);
  const auto st = stamps(file);
  REQUIRE(st.count(*a));
  CHECK(st.at(*a).stop_ns > 0); // a ran to its end before its waiter was released
  // describe: its parent a; graph of f: the spawned child, and a above it.
  auto d = run_cli({"tasks", "describe", std::to_string(kid), "--db", dsn, "-o", "json"});
  REQUIRE(d.exit_code == 0);
  std::map<std::string, int64_t> parent_by_kind; // after: a; spawned: f
  const auto dj = json::parse(d.out);
  for (const auto& p : dj["parents"])
    parent_by_kind[p["kind"].get<std::string>()] = p["id"].get<int64_t>();
  CHECK(parent_by_kind == std::map<std::string, int64_t>{{"after", *a}, {"spawned", *f}});
  auto gj = run_cli({"tasks", "graph", std::to_string(kid), "--db", dsn, "-o", "json"});
  REQUIRE(gj.exit_code == 0);
  std::set<std::string> kinds;
  const auto gjj = json::parse(gj.out);
  for (const auto& e : gjj["edges"])
    kinds.insert(e["kind"].get<std::string>());
  CHECK(kinds == std::set<std::string>{"after", "spawned"});
  std::remove(file.c_str());
}

TEST_CASE("results passed to collect through a graph submitted by local names, shown by describe and graph",
          "[e2e][workflow]") {
  const auto dsn = fresh_schema_dsn("e2e_wf_collect");
  head_process head{dsn, {"--workers", "2"}};
  auto& c = head.connect();
  auto echo = [](const json& args) { return spec("echo", args); };
  auto collect = spec("collect", json::object());
  // Given children first: submit_graph orders parents first.
  auto ids = c.submit_graph({{"sink", collect, {"left", "right"}},
                             {"left", echo({{"side", "L"}}), {"top"}},
                             {"right", echo({{"side", "R"}}), {"top"}},
                             {"top", echo({{"side", "T"}}), {}}});
  REQUIRE(ids);
  REQUIRE(ids->size() == 4);
  auto out = c.await(ids->at("sink"), std::chrono::seconds(60));
  REQUIRE(out);
  REQUIRE(out->state == task_state::succeeded);
  const auto r = result_of(*out);
  REQUIRE(r["parents"].is_array());
  REQUIRE(r["parents"].size() == 2);
  std::map<int64_t, json> by_id;
  for (const auto& p : r["parents"])
    by_id[p["id"].get<int64_t>()] = p;
  CHECK(by_id.at(ids->at("left"))["result"]["side"] == "L");
  CHECK(by_id.at(ids->at("right"))["result"]["side"] == "R");
  CHECK(by_id.at(ids->at("left"))["state"] == "SUCCEEDED");
  CHECK(by_id.at(ids->at("left"))["name"] == "echo");
  // A cycle or an unknown name is refused before anything is sent.
  auto bad = c.submit_graph({{"a", collect, {"b"}}, {"b", collect, {"a"}}});
  CHECK_FALSE(bad);

  const auto sink = std::to_string(ids->at("sink"));
  auto d = run_cli({"tasks", "describe", sink, "--db", dsn, "-o", "json"});
  REQUIRE(d.exit_code == 0);
  const auto dj = json::parse(d.out);
  CHECK(dj["parents"].size() == 2);
  CHECK(dj["trigger"] == "all_success");
  auto tree = run_cli({"tasks", "graph", std::to_string(ids->at("top")), "--db", dsn});
  REQUIRE(tree.exit_code == 0);
  CHECK(tree.out.find("(above)") != std::string::npos); // the sink, reached twice
  CHECK(tree.out.find("  " + std::to_string(ids->at("left")) + " echo SUCCEEDED")
        != std::string::npos);
  auto dot = run_cli({"tasks", "graph", sink, "--db", dsn, "-o", "dot"});
  REQUIRE(dot.exit_code == 0);
  CHECK(dot.out.find("t" + std::to_string(ids->at("left")) + " -> t" + sink)
        != std::string::npos);
  auto gj = run_cli({"tasks", "graph", sink, "--db", dsn, "-o", "json"});
  REQUIRE(gj.exit_code == 0);
  CHECK(json::parse(gj.out)["edges"].size() == 4);
}

// The window: the parent's end is committed (and, in the same transaction,
// its child's release); the head is killed before it holds the child. The
// restarted head must run the child, once, after the parent.
TEST_CASE("head killed between a parent's end and its child's release - the child runs once after restart",
          "[e2e][workflow][fault]") {
  const auto dsn = fresh_schema_dsn("e2e_wf_kill");
  head_process head{dsn, {"--workers", "2"}, {"TASKRT_FAULT=exit_after_release"}};
  const auto address = head.address();
  auto& c = head.connect();
  const auto file = stamp_file("kill");
  auto parent = c.submit(stamp_spec(file, 1500));
  REQUIRE(parent);
  auto child = c.submit(stamp_spec(file, 100, {*parent}));
  REQUIRE(child);
  journal_store store{dsn};
  CHECK(store.get_task(*child)->state == task_state::waiting);
  REQUIRE(eventually([&] { return head.log().find("fault injection") != std::string::npos; },
                     30'000));
  head.kill9();
  // The window was hit: the parent SUCCEEDED and the child is QUEUED in the
  // journal, and it has not run.
  CHECK(store.get_task(*parent)->state == task_state::succeeded);
  CHECK(store.get_task(*child)->state == task_state::queued);
  CHECK(stamps(file).count(*child) == 0);
  head.restart({"--port", address.substr(address.rfind(':') + 1)});
  auto& c2 = head.connect();
  auto out = c2.await(*child, std::chrono::seconds(60));
  REQUIRE(out);
  CHECK(out->state == task_state::succeeded);
  const auto st = stamps(file);
  ran_after(st, *parent, *child);
  CHECK(st.at(*child).starts == 1);
  CHECK(st.at(*parent).starts == 1);
  std::remove(file.c_str());
}

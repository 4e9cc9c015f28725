/// journal_bench: transitions/s of full task lifecycles (submit, start,
/// succeed) through journal_store at batch sizes 1, 10, 100 and 1000.
///
/// Usage: journal_bench [DSN] [TASKS_PER_SIZE]. DSN defaults to
/// $TASKRT_TEST_DSN. It migrates the database and purges its own tasks
/// (name "bench.noop") afterwards; use a throwaway one (scripts/pg start).
/// Each batch size runs a bounded number of lifecycles: three commits per
/// round (submits, starts, succeeds), each one batch of `size` items.

#include "persistence/journal_store.hpp"
#include "runtime/time.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace taskrt;

namespace {

/// Runs `tasks` lifecycles in batches of `size`; returns transitions/s
/// (3 per lifecycle: submit, start, succeed).
double run(journal_store& s, size_t size, size_t tasks) {
  const auto t0 = std::chrono::steady_clock::now();
  size_t done = 0;
  while (done < tasks) {
    const auto n = std::min(size, tasks - done);
    const auto now_us = to_micros(now());
    journal_store::batch sb;
    for (size_t i = 0; i < n; ++i) {
      journal_store::submit_item it;
      it.spec.name = "bench.noop";
      it.spec.args = R"({"i":)" + std::to_string(done + i) + "}";
      it.now_us = now_us;
      sb.submits.push_back(std::move(it));
    }
    const auto ids = s.commit(sb).submitted_ids;
    journal_store::batch start, finish;
    for (auto id : ids) {
      journal_store::transition_item t;
      t.task_id = id;
      t.kind = transition_kind::start;
      t.expected_state = task_state::queued;
      t.expected_attempt = 0;
      t.new_attempt = 1;
      t.lease_epoch = 1;
      t.node = "bench-node";
      t.at_us = now_us;
      start.transitions.push_back(t);
      t.kind = transition_kind::succeed;
      t.expected_state = task_state::running;
      t.expected_attempt = 1;
      t.node.clear();
      t.result = R"({"ok":true})";
      finish.transitions.push_back(std::move(t));
    }
    for (auto* b : {&start, &finish})
      for (bool ok : s.commit(*b).applied)
        if (!ok) {
          std::fprintf(stderr, "journal_bench: a transition was not applied\n");
          std::exit(1);
        }
    done += n;
  }
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  return 3.0 * static_cast<double>(tasks) / dt.count();
}

} // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("TASKRT_TEST_DSN");
  const std::string dsn = argc > 1 ? argv[1] : env ? env : "";
  if (dsn.empty()) {
    std::fprintf(stderr, "usage: journal_bench DSN [TASKS_PER_SIZE] (or set TASKRT_TEST_DSN)\n");
    return 2;
  }
  const size_t per_size = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 0;
  try {
    journal_store s{dsn};
    s.migrate();
    std::printf("%-10s %10s %14s %14s\n", "batch", "tasks", "transitions/s", "tasks/s");
    for (size_t size : {1, 10, 100, 1000}) {
      // Bounded: about a few seconds per size on a 2-core machine.
      const size_t tasks = per_size ? per_size : size == 1 ? 1000 : size == 10 ? 5000 : 20000;
      const double tps = run(s, size, tasks);
      std::printf("%-10zu %10zu %14.0f %14.0f\n", size, tasks, tps, tps / 3);
      std::fflush(stdout);
    }
    task_filter mine;
    mine.name = "bench.noop";
    s.purge(mine);
  } catch (const store_error& e) {
    std::fprintf(stderr, "journal_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

/// journal_bench: transitions/s of full task lifecycles (submit, start,
/// succeed) through journal_store at batch sizes 1, 10, 100 and 1000.
///
/// Usage: journal_bench [DSN] [TASKS_PER_SIZE]. DSN defaults to
/// $TASKRT_TEST_DSN. It migrates the database and purges its own tasks
/// (name "bench.noop") afterwards; use a throwaway one (scripts/pg start).
/// Each batch size runs a bounded number of lifecycles: three commits per
/// round (submits, starts, succeeds), each one batch of `size` items.

#include "taskrt/persistence/journal_store.hpp"
#include "taskrt/runtime/time.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace taskrt;

namespace {

using clock_type = std::chrono::steady_clock;

/// Seconds since `t`.
double since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

/// Time spent per kind of commit.
struct phase_times {
  double submit = 0;
  double start = 0;
  double succeed = 0;
};

/// Runs `tasks` lifecycles in batches of `size`; returns transitions/s
/// (3 per lifecycle: submit, start, succeed).
double run(journal_store& s, size_t size, size_t tasks, phase_times& pt) {
  const auto t0 = clock_type::now();
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
    auto tp = clock_type::now();
    const auto ids = s.commit(sb).submitted_ids;
    pt.submit += since(tp);
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
    for (auto* b : {&start, &finish}) {
      tp = clock_type::now();
      for (bool ok : s.commit(*b).applied)
        if (!ok) {
          std::fprintf(stderr, "journal_bench: a transition was not applied\n");
          std::exit(1);
        }
      (b == &start ? pt.start : pt.succeed) += since(tp);
    }
    done += n;
  }
  return 3.0 * static_cast<double>(tasks) / since(t0);
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
    std::printf("%-6s %7s %14s %9s   %s\n", "batch", "tasks", "transitions/s",
                "tasks/s", "ms per commit: submit/start/succeed");
    for (size_t size : {1, 10, 100, 1000}) {
      // Bounded: about a few seconds per size on a 2-core machine.
      const size_t tasks = per_size ? per_size : size == 1 ? 1000 : size == 10 ? 5000 : 20000;
      phase_times pt;
      const double tps = run(s, size, tasks, pt);
      const double commits = static_cast<double>((tasks + size - 1) / size) / 1000.0;
      std::printf("%-6zu %7zu %14.0f %9.0f   %.2f/%.2f/%.2f\n", size, tasks, tps,
                  tps / 3, pt.submit / commits, pt.start / commits,
                  pt.succeed / commits);
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

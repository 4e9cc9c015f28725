/// The taskrt side of scripts/bench-peers: a client that loads a head and
/// prints what it saw as JSON lines. The workers are the head's (or its
/// nodes'); this program only submits, watches the head's status and times.
///
///   taskrt_bench --address H:P submit --tasks N [--batch 1000] [--inflight 4] [--wait]
///                [--limit-keys K]
///   taskrt_bench --address H:P rate --rate 1000 --seconds 10
///   taskrt_bench --address H:P soak (--minutes M | --tasks N) [--interval 10] [--backlog 4000]
///   taskrt_bench --address H:P ping [--timeout 120]
///   taskrt_bench --address H:P idle [--min-workers K] [--timeout 600]
///
/// submit: N `noop` tasks in batches (one submit message and one commit per
///   batch) with up to `inflight` batches unacknowledged; with --wait it then
///   polls the head's status until nothing is QUEUED or RUNNING.
///   --limit-keys K: task i carries the limit key "bench:(i mod K)" (issue 24:
///   the head's dispatch rate with K distinct keys against none).
/// rate:   one task per 1/rate s for S s (catching up when late), each with
///   its submit time in args ("t0", µs since the epoch); the task reports its
///   start time, so enqueue→start comes from the tasks table afterwards.
/// soak:   keeps between backlog/2 and `backlog` tasks QUEUED or RUNNING, and
///   prints one line per interval with the tasks finished in it ("tail": the
///   submitting had ended and the backlog was draining).
/// ping:   connects and submits one task, retrying until it is acknowledged;
///   prints how long that took (a head restarting after kill -9).
/// idle:   connects (retrying while the head starts), then waits until the
///   head has recovered, has K workers and holds nothing QUEUED or RUNNING.
/// Every mode but ping and idle first waits for --min-workers (default 1)
/// ready workers, before its clock starts. Lines carry done_us, the wall
/// clock (µs since the epoch) when the mode's work was done.
/// Every mode is bounded (task count, seconds, or a timeout) and exits 0 on
/// success, 1 on a failure (printed), 2 on a usage error.

#include "taskrt/cluster/client.hpp"
#include "taskrt/cluster/head_addresses.hpp"
#include "taskrt/runtime/protocol.hpp"

#include <caf/io/all.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono;
using steady = steady_clock;

/// Command line of the program.
struct options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string mode;
  int64_t tasks = 0;
  int batch = 1000;
  int inflight = 4;
  bool wait = false;
  double rate = 1000;
  double seconds = 10;
  double minutes = 0;
  double interval = 10;
  int64_t backlog = 4000;
  double timeout = 120;
  int min_workers = 1;
  std::string origin = "bench";
};

/// Wall clock, µs since the epoch (the tasks report theirs the same way).
int64_t now_us() {
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

/// Seconds since t0.
double since(steady::time_point t0) {
  return duration<double>(steady::now() - t0).count();
}

/// A noop task spec; `t0_us` > 0 puts the submit time in its args.
taskrt::task_spec noop(const std::string& origin, int64_t t0_us = 0) {
  taskrt::task_spec s;
  s.name = "noop";
  s.origin = origin;
  if (t0_us > 0)
    s.args = "{\"t0\":" + std::to_string(t0_us) + "}";
  return s;
}

/// What the submitting actors share with the main thread.
struct counters {
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> refused{0};
  std::atomic<bool> finished{false};
  std::string first_error; ///< written once by the actor before `finished`
};

/// --limit-keys: distinct limit keys over the submitted tasks (0: none).
int64_t bench_limit_keys = 0;

/// State of the batch submitter.
struct batch_state {
  int64_t left = 0;
  int in_flight = 0;
  int64_t next_key = 0;
  static inline const char* name = "bench_batch_submitter";
};

/// Submits `n` noop tasks in batches of `batch`, keeping at most `inflight`
/// batches unacknowledged; quits when every batch is answered.
caf::behavior batch_submitter(caf::stateful_actor<batch_state>* self, taskrt::head_actor head,
                              int64_t n, int batch, int inflight, std::string origin,
                              counters* c) {
  self->state.left = n;
  auto send_next = std::make_shared<std::function<void()>>();
  *send_next = [=] {
    auto& st = self->state;
    while (st.left > 0 && st.in_flight < inflight) {
      auto k = static_cast<int>(std::min<int64_t>(batch, st.left));
      st.left -= k;
      ++st.in_flight;
      std::vector<taskrt::task_spec> specs(k, noop(origin));
      if (bench_limit_keys > 0)
        for (auto& s : specs)
          s.limits = {"bench:" + std::to_string(st.next_key++ % bench_limit_keys)};
      self->request(head, caf::infinite, taskrt::submit_atom::value, std::move(specs))
        .then(
          [=](const std::vector<int64_t>& ids) {
            c->acked += static_cast<int64_t>(ids.size());
            --self->state.in_flight;
            (*send_next)();
          },
          [=](caf::error& e) {
            if (c->refused == 0)
              c->first_error = taskrt::error_message(e);
            c->refused += k;
            --self->state.in_flight;
            (*send_next)();
          });
    }
    if (st.left == 0 && st.in_flight == 0) {
      c->finished = true;
      self->quit();
    }
  };
  (*send_next)();
  return {[](caf::unit_t) {}};
}

/// State of the fixed-rate submitter.
struct rate_state {
  int64_t sent = 0;
  int64_t answered = 0;
  int64_t total = 0;
  steady::time_point t0;
  static inline const char* name = "bench_rate_submitter";
};

/// Submits single tasks at `rate` per second until `total` are sent (ticks
/// every millisecond, sending every task due by then), then quits once all
/// are answered.
caf::behavior rate_submitter(caf::stateful_actor<rate_state>* self, taskrt::head_actor head,
                             double rate, int64_t total, std::string origin, counters* c) {
  self->state.total = total;
  self->state.t0 = steady::now();
  auto finish_if_done = [=] {
    auto& st = self->state;
    if (st.sent == st.total && st.answered == st.total) {
      c->finished = true;
      self->quit();
    }
  };
  self->send(self, taskrt::tick_atom::value);
  return {
    [=](taskrt::tick_atom) {
      auto& st = self->state;
      auto due = std::min<int64_t>(st.total, static_cast<int64_t>(since(st.t0) * rate) + 1);
      for (; st.sent < due; ++st.sent) {
        self->request(head, caf::infinite, taskrt::submit_atom::value, noop(origin, now_us()))
          .then(
            [=](int64_t) {
              ++c->acked;
              ++self->state.answered;
              finish_if_done();
            },
            [=](caf::error& e) {
              if (c->refused == 0)
                c->first_error = taskrt::error_message(e);
              ++c->refused;
              ++self->state.answered;
              finish_if_done();
            });
      }
      if (st.sent < st.total)
        self->delayed_send(self, milliseconds(1), taskrt::tick_atom::value);
    },
  };
}

/// Tasks the head still holds: QUEUED + RUNNING (-1 when it did not answer;
/// -2 while it is still recovering from the journal).
int64_t outstanding(taskrt::client& cl) {
  auto st = cl.status();
  if (!st)
    return -1;
  return st->recovered ? st->queued + st->running : -2;
}

/// Waits until the head reports `k` ready workers; false after `timeout` s.
bool wait_workers(taskrt::client& cl, int k, double timeout) {
  auto t0 = steady::now();
  while (since(t0) < timeout) {
    auto st = cl.status();
    if (st && st->recovered && st->workers >= k)
      return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::fprintf(stderr, "taskrt_bench: fewer than %d ready workers after %.0f s\n", k, timeout);
  return false;
}

/// Polls the head until nothing is QUEUED or RUNNING, for at most
/// `timeout` s; false on a timeout.
bool wait_idle(taskrt::client& cl, double timeout) {
  auto t0 = steady::now();
  while (since(t0) < timeout) {
    if (outstanding(cl) == 0)
      return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

/// Runs an actor and blocks until it quits.
template <class F, class... Ts>
void run_actor(taskrt::client& cl, F fun, Ts&&... xs) {
  caf::scoped_actor self{cl.system()};
  auto a = cl.system().spawn(fun, cl.head(), std::forward<Ts>(xs)...);
  self->monitor(a);
  self->receive([](caf::down_msg&) {});
}

/// Prints why submits were refused; exit code 1.
int fail(const counters& c, const char* what) {
  std::fprintf(stderr, "taskrt_bench: %s: %lld refused (%s)\n", what,
               static_cast<long long>(c.refused.load()), c.first_error.c_str());
  return 1;
}

/// The submit mode (see the top of the file).
int run_submit(taskrt::client& cl, const options& o) {
  counters c;
  auto t0 = steady::now();
  run_actor(cl, batch_submitter, o.tasks, o.batch, o.inflight, o.origin, &c);
  auto submit_s = since(t0);
  if (c.refused > 0)
    return fail(c, "submit");
  double done_s = 0;
  if (o.wait) {
    if (!wait_idle(cl, o.timeout)) {
      std::fprintf(stderr, "taskrt_bench: tasks still outstanding after %.0f s\n", o.timeout);
      return 1;
    }
    done_s = since(t0);
  }
  std::printf("{\"mode\":\"submit\",\"tasks\":%lld,\"batch\":%d,\"submit_s\":%.4f,"
              "\"done_s\":%.4f,\"done_us\":%lld}\n",
              static_cast<long long>(o.tasks), o.batch, submit_s, done_s,
              static_cast<long long>(now_us()));
  return 0;
}

/// The rate mode (see the top of the file).
int run_rate(taskrt::client& cl, const options& o) {
  counters c;
  auto total = static_cast<int64_t>(o.rate * o.seconds);
  auto t0 = steady::now();
  run_actor(cl, rate_submitter, o.rate, total, o.origin, &c);
  auto submit_s = since(t0);
  if (c.refused > 0)
    return fail(c, "submit");
  if (!wait_idle(cl, o.timeout)) {
    std::fprintf(stderr, "taskrt_bench: tasks still outstanding after %.0f s\n", o.timeout);
    return 1;
  }
  std::printf("{\"mode\":\"rate\",\"tasks\":%lld,\"offered_per_s\":%.1f,\"submit_s\":%.4f,"
              "\"done_s\":%.4f,\"done_us\":%lld}\n",
              static_cast<long long>(total), o.rate, submit_s, since(t0),
              static_cast<long long>(now_us()));
  return 0;
}

/// Prints one soak line: tasks finished since the last one and the rate.
struct soak_reporter {
  steady::time_point t0 = steady::now();
  steady::time_point interval_start = t0;
  int64_t done_before = 0;

  void report(int64_t done, bool tail) {
    done = std::max(done, done_before); // acks may trail the head's counts
    auto dt = since(interval_start);
    std::printf("{\"mode\":\"soak\",\"t_s\":%.1f,\"interval_s\":%.2f,\"done\":%lld,"
                "\"interval_done\":%lld,\"per_s\":%.1f,\"tail\":%s}\n",
                since(t0), dt, static_cast<long long>(done),
                static_cast<long long>(done - done_before),
                dt > 0 ? (done - done_before) / dt : 0.0, tail ? "true" : "false");
    std::fflush(stdout);
    done_before = done;
    interval_start = steady::now();
  }
};

/// The soak mode (see the top of the file).
int run_soak(taskrt::client& cl, const options& o) {
  counters c;
  soak_reporter rep;
  std::atomic<bool> stop{false};
  std::atomic<bool> tail{false}; // nothing left to submit: the backlog drains
  // Reports on time from a thread of its own while the main thread submits.
  std::thread reporter([&] {
    while (!stop) {
      auto next = steady::now() + duration_cast<steady::duration>(duration<double>(o.interval));
      while (!stop && steady::now() < next)
        std::this_thread::sleep_for(milliseconds(20));
      if (stop)
        break;
      auto acked = c.acked.load();
      auto out = outstanding(cl);
      if (out >= 0)
        rep.report(acked - out, tail);
    }
  });
  auto deadline = o.minutes > 0 ? o.minutes * 60 : 1e18;
  int64_t left = o.tasks > 0 ? o.tasks : INT64_MAX;
  int rc = 0;
  while (left > 0 && since(rep.t0) < deadline) {
    auto out = outstanding(cl);
    if (out == -1) {
      std::fprintf(stderr, "taskrt_bench: the head did not answer status\n");
      rc = 1;
      break;
    }
    if (out >= 0 && out < o.backlog / 2) {
      auto k = std::min<int64_t>(left, o.backlog - out);
      run_actor(cl, batch_submitter, k, o.batch, o.inflight, o.origin, &c);
      if (c.refused > 0) {
        rc = fail(c, "submit");
        break;
      }
      left -= k;
      continue;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  tail = true;
  if (rc == 0 && !wait_idle(cl, o.timeout)) {
    std::fprintf(stderr, "taskrt_bench: tasks still outstanding after %.0f s\n", o.timeout);
    rc = 1;
  }
  stop = true;
  reporter.join();
  if (rc == 0)
    rep.report(c.acked.load(), true);
  return rc;
}

/// The ping mode (see the top of the file).
int run_ping(const options& o) {
  auto t0 = steady::now();
  std::string last;
  while (since(t0) < o.timeout) {
    taskrt::client cl{o.host, o.port};
    if (cl.connected()) {
      auto id = cl.submit(noop(o.origin));
      if (id) {
        std::printf("{\"mode\":\"ping\",\"serving_after_s\":%.3f,\"id\":%lld}\n", since(t0),
                    static_cast<long long>(*id));
        return 0;
      }
      last = taskrt::error_message(id.error());
    } else {
      last = cl.connect_error();
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::fprintf(stderr, "taskrt_bench: no acknowledged submit within %.0f s (%s)\n", o.timeout,
               last.c_str());
  return 1;
}

/// The idle mode (see the top of the file).
int run_idle(const options& o) {
  auto t0 = steady::now();
  while (since(t0) < o.timeout) {
    taskrt::client cl{o.host, o.port};
    if (!cl.connected()) {
      std::this_thread::sleep_for(milliseconds(50));
      continue;
    }
    auto connected_s = since(t0);
    if (!wait_workers(cl, o.min_workers, o.timeout - since(t0)))
      return 1;
    auto ready_us = now_us();
    if (!wait_idle(cl, o.timeout - since(t0)))
      break;
    std::printf("{\"mode\":\"idle\",\"connected_s\":%.3f,\"done_s\":%.4f,\"ready_us\":%lld,"
                "\"done_us\":%lld}\n",
                connected_s, since(t0), static_cast<long long>(ready_us),
                static_cast<long long>(now_us()));
    return 0;
  }
  std::fprintf(stderr, "taskrt_bench: the head was not idle within %.0f s\n", o.timeout);
  return 1;
}

/// Prints the usage with `why`; exit code 2.
int usage(const std::string& why) {
  std::fprintf(stderr,
               "taskrt_bench: %s\n"
               "usage: taskrt_bench --address HOST:PORT MODE [options]\n"
               "  submit --tasks N [--batch 1000] [--inflight 4] [--wait]\n"
               "  rate --rate PER_S --seconds S\n"
               "  soak (--minutes M | --tasks N) [--interval S] [--backlog N]\n"
               "  ping\n"
               "  idle [--min-workers K]\n"
               "  common: [--timeout S] [--origin TEXT]\n"
               "example: taskrt_bench --address 127.0.0.1:7400 submit --tasks 20000 --wait\n",
               why.c_str());
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "-h" || k == "--help")
      return usage("a load client for scripts/bench-peers"), 0;
    if (k == "--wait") {
      o.wait = true;
      continue;
    }
    if (k.rfind("--", 0) != 0) {
      if (!o.mode.empty())
        return usage("unexpected argument '" + k + "'");
      o.mode = k;
      continue;
    }
    if (i + 1 >= argc)
      return usage(k + " needs a value");
    std::string v = argv[++i];
    try {
      if (k == "--address") {
        auto one = taskrt::parse_head_address(v);
        if (!one)
          return usage("--address must be one HOST:PORT: " + taskrt::error_message(one.error()));
        o.host = one->host;
        o.port = one->port;
      } else if (k == "--tasks") o.tasks = std::stoll(v);
      else if (k == "--batch") o.batch = std::stoi(v);
      else if (k == "--inflight") o.inflight = std::stoi(v);
      else if (k == "--rate") o.rate = std::stod(v);
      else if (k == "--seconds") o.seconds = std::stod(v);
      else if (k == "--minutes") o.minutes = std::stod(v);
      else if (k == "--interval") o.interval = std::stod(v);
      else if (k == "--backlog") o.backlog = std::stoll(v);
      else if (k == "--timeout") o.timeout = std::stod(v);
      else if (k == "--origin") o.origin = v;
      else if (k == "--min-workers") o.min_workers = std::stoi(v);
      else if (k == "--limit-keys") bench_limit_keys = std::stoll(v);
      else return usage("unknown option " + k);
    } catch (const std::exception&) {
      return usage("bad value '" + v + "' for " + k);
    }
  }
  if (o.port == 0)
    return usage("--address HOST:PORT is required");
  if (o.batch <= 0 || o.inflight <= 0 || o.rate <= 0 || o.seconds <= 0 || o.backlog <= 0)
    return usage("--batch, --inflight, --rate, --seconds and --backlog must be positive");
  if (o.mode == "ping")
    return run_ping(o);
  if (o.mode == "idle")
    return run_idle(o);
  if (o.mode != "submit" && o.mode != "rate" && o.mode != "soak")
    return usage(o.mode.empty() ? "a mode is required" : "unknown mode '" + o.mode + "'");
  if (o.mode == "submit" && o.tasks <= 0)
    return usage("submit needs --tasks N > 0");
  if (o.mode == "soak" && o.tasks <= 0 && o.minutes <= 0)
    return usage("soak needs --minutes M or --tasks N");
  taskrt::client cl{o.host, o.port};
  if (!cl.connected()) {
    std::fprintf(stderr, "taskrt_bench: %s\n", cl.connect_error().c_str());
    return 1;
  }
  if (o.min_workers > 0 && !wait_workers(cl, o.min_workers, o.timeout))
    return 1;
  if (o.mode == "submit")
    return run_submit(cl, o);
  if (o.mode == "rate")
    return run_rate(cl, o);
  return run_soak(cl, o);
}

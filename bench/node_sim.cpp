/// taskrt_node_sim: simulated worker nodes for scripts/bench-nodes. Each
/// simulated node is an actor system of its own (one scheduler thread,
/// work-sharing, no BASP worker threads) with its own TCP connection to the
/// head: CAF multiplexes every actor of one system over one connection per
/// peer, so N connections need N systems. A node speaks the real protocol
/// (runtime/protocol.hpp) as cluster/worker_node.cpp does: it registers, sends
/// heartbeats, offers its slots (ready), takes dispatches and returns results,
/// but runs no task process: a result goes back at once, or after --delay-ms.
///
///   taskrt_node_sim --address H:P --nodes N [--first 0] [--slots 2] [--prefetch 1]
///                   [--delay-ms 0] [--prefix sim] [--task noop]... [--seconds S]
///
/// Prints (stdout, one JSON object a line): {"event":"registered",...} once
/// every node registered (with the number of TCP connections, connection
/// retries, threads and RSS of this process), then {"event":"done",...} with its counters when
/// SIGTERM/SIGINT arrives or --seconds passed. Exit 0; 1 when a node could not
/// connect or register, or lost the head; 2 on a usage error.
/// A slot runs one attempt at a time; prefetched ones wait behind it and are
/// reported as begun as the real worker does (in the result of the one
/// before, or by an event when the slot was idle).

#include "taskrt/cluster/head_addresses.hpp"
#include "taskrt/cluster/net_config.hpp"
#include "taskrt/cluster/tls.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/version.hpp"

#include <caf/io/all.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <unistd.h>

namespace {

using namespace std::chrono;
using namespace taskrt;

/// Command line of the program.
struct sim_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int nodes = 0;
  int first = 0;
  int slots = 2;
  int prefetch = 1;
  int delay_ms = 0;
  std::string prefix = "sim";
  std::vector<std::string> tasks;
  double seconds = 0;
  double timeout = 120;
};

/// What every simulated node counts, shared with the main thread.
struct sim_counters {
  std::atomic<int64_t> registered{0};
  std::atomic<int64_t> register_failed{0};
  std::atomic<int64_t> dispatches{0};
  std::atomic<int64_t> results{0};
  std::atomic<int64_t> heartbeats_ok{0};
  std::atomic<int64_t> heartbeats_refused{0};
  std::atomic<int64_t> heartbeats_failed{0};
  std::atomic<int64_t> head_lost{0};
};

int64_t now_us() {
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

using finish_atom = caf::atom_constant<caf::atom("simfinish")>;

/// A worker slot without a process.
struct slot_state {
  worker_info info;
  caf::actor head;
  caf::actor up; ///< its node, which coalesces results and events
  std::deque<dispatch_msg> waiting; ///< prefetched, behind the running one
  dispatch_msg current;
  bool busy = false;
  int delay_ms = 0;
  sim_counters* c = nullptr;
  static inline const char* name = "taskrt.sim_slot";
};

using slot_actor_t = caf::stateful_actor<slot_state>;

/// Starts the next waiting attempt; returns it when it was prefetched (the
/// head learns that it began), unless `tell`, which sends that at once.
attempt_ref start_next(slot_actor_t* self, bool tell) {
  auto& st = self->state;
  if (st.busy || st.waiting.empty())
    return {};
  st.current = std::move(st.waiting.front());
  st.waiting.pop_front();
  st.busy = true;
  attempt_ref began;
  if (st.current.prefetched)
    began = {st.current.task_id, st.current.attempt, st.current.lease_epoch};
  if (tell && began.task_id != 0)
    self->send(st.up, event_atom::value,
               attempt_event_msg{began.task_id, began.attempt, began.lease_epoch,
                                 attempt_event_kind::began, ""});
  if (st.delay_ms > 0)
    self->delayed_send(self, milliseconds(st.delay_ms), finish_atom::value);
  else
    self->send(self, finish_atom::value);
  return tell ? attempt_ref{} : began;
}

caf::behavior sim_slot(slot_actor_t* self, worker_info info, int delay_ms, sim_counters* c) {
  self->state.info = std::move(info);
  self->state.delay_ms = delay_ms;
  self->state.c = c;
  return {
    [self](ready_atom, caf::actor& head) {
      auto& st = self->state;
      st.head = std::move(head);
      st.up = caf::actor_cast<caf::actor>(self->current_sender());
      self->send(st.head, ready_atom::value, st.info, caf::actor_cast<caf::actor>(self));
    },
    [self](dispatch_msg& d) {
      ++self->state.c->dispatches;
      self->state.waiting.push_back(std::move(d));
      start_next(self, true);
    },
    [self](finish_atom) {
      auto& st = self->state;
      if (!st.busy)
        return;
      attempt_done_msg done;
      done.task_id = st.current.task_id;
      done.attempt = st.current.attempt;
      done.lease_epoch = st.current.lease_epoch;
      done.outcome = task_state::succeeded;
      done.result = "{\"started_us\":" + std::to_string(now_us()) + "}";
      done.detail = "{\"node\":\"" + st.info.node + "\",\"worker\":"
                    + std::to_string(st.info.index) + ",\"simulated\":true}";
      st.busy = false;
      done.began = start_next(self, false);
      self->send(st.up, std::move(done));
      ++st.c->results;
    },
    // Fenced by the head: forget a waiting attempt (the running one ends
    // by itself a moment later and is fenced there).
    [self](drop_atom, int64_t task_id, int64_t lease_epoch) {
      auto& w = self->state.waiting;
      for (auto i = w.begin(); i != w.end(); ++i)
        if (i->task_id == task_id && i->lease_epoch == lease_epoch) {
          w.erase(i);
          return;
        }
    },
    [](cancel_atom, int64_t) {}, // attempts end at once: nothing to cancel
  };
}

/// The node supervisor of one simulated node.
struct node_state {
  node_info info;
  caf::actor head;
  std::vector<caf::actor> slots;
  double heartbeat_s = 1;
  sim_counters* c = nullptr;
  node_report_msg out; ///< coalescing buffer, as cluster/worker_node.cpp's
  bool flush_armed = false;
  static inline const char* name = "taskrt.sim_node";
};

using node_actor_t = caf::stateful_actor<node_state>;

using simflush_atom = caf::atom_constant<caf::atom("simflush")>;

void flush_report(node_actor_t* self) {
  auto& st = self->state;
  if (!st.head || (st.out.results.empty() && st.out.events.empty()))
    return;
  self->send(st.head, std::move(st.out));
  st.out = node_report_msg{};
}

void coalesce(node_actor_t* self) {
  auto& st = self->state;
  if (st.out.results.size() + st.out.events.size() >= node_report_max_items) {
    flush_report(self);
  } else if (!st.flush_armed) {
    st.flush_armed = true;
    self->delayed_send(self, node_report_window, simflush_atom::value);
  }
}

caf::behavior sim_node(node_actor_t* self, node_info info, std::vector<caf::actor> slots,
                       sim_counters* c) {
  self->state.info = std::move(info);
  self->state.slots = std::move(slots);
  self->state.c = c;
  self->set_down_handler([self](caf::down_msg&) {
    ++self->state.c->head_lost;
    for (auto& s : self->state.slots)
      self->send_exit(s, caf::exit_reason::user_shutdown);
    self->quit();
  });
  return {
    [self](register_atom, caf::actor& head) {
      self->request(head, seconds(60), register_atom::value, self->state.info,
                    std::vector<running_attempt>{})
        .then(
          [self, head](register_reply& reply) {
            auto& st = self->state;
            st.head = head;
            st.heartbeat_s = reply.heartbeat_s;
            self->monitor(head);
            for (auto& s : st.slots)
              self->send(s, ready_atom::value, head);
            ++st.c->registered;
            self->send(self, heartbeat_atom::value);
          },
          [self](caf::error& e) {
            ++self->state.c->register_failed;
            std::fprintf(stderr, "taskrt_node_sim: node %s: registration failed: %s\n",
                         self->state.info.id.c_str(), error_message(e).c_str());
          });
    },
    [self](dispatch_batch_msg& batch) {
      auto& st = self->state;
      for (auto& item : batch.items)
        if (item.worker >= 0 && static_cast<size_t>(item.worker) < st.slots.size())
          self->send(st.slots[static_cast<size_t>(item.worker)], std::move(item.run));
    },
    [self](attempt_done_msg& done) {
      self->state.out.results.push_back(std::move(done));
      coalesce(self);
    },
    [self](event_atom, attempt_event_msg& ev) {
      self->state.out.events.push_back(std::move(ev));
      coalesce(self);
    },
    [self](simflush_atom) {
      self->state.flush_armed = false;
      flush_report(self);
    },
    [self](heartbeat_atom) {
      auto& st = self->state;
      flush_report(self);
      self->request(st.head, seconds(5), heartbeat_atom::value, st.info.id)
        .then(
          [self](bool alive) {
            if (alive)
              ++self->state.c->heartbeats_ok;
            else
              ++self->state.c->heartbeats_refused;
          },
          [self](caf::error&) { ++self->state.c->heartbeats_failed; });
      self->delayed_send(self, milliseconds(static_cast<int64_t>(st.heartbeat_s * 1000)),
                         heartbeat_atom::value);
    },
  };
}

/// One simulated node: its own actor system (and so its own connection).
struct sim_node_system {
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor node;
};

/// Threads of this process (from /proc/self/task).
int thread_count() {
  int n = 0;
  if (auto* d = ::opendir("/proc/self/task")) {
    while (auto* e = ::readdir(d))
      n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

/// VmRSS of this process in MB.
double rss_mb() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f)
    return 0;
  char line[256];
  double kb = 0;
  while (std::fgets(line, sizeof(line), f))
    if (std::sscanf(line, "VmRSS: %lf", &kb) == 1)
      break;
  std::fclose(f);
  return kb / 1024;
}

int usage(const std::string& why) {
  std::fprintf(stderr,
               "taskrt_node_sim: %s\n"
               "usage: taskrt_node_sim --address HOST:PORT --nodes N [--first K] [--slots 2]\n"
               "         [--prefetch 1] [--delay-ms 0] [--prefix sim] [--task NAME]...\n"
               "         [--seconds S] [--timeout 120]\n"
               "Simulated worker nodes (one actor system and one TCP connection each)\n"
               "speaking the real protocol, without task processes. Node ids are\n"
               "PREFIX-K .. PREFIX-(K+N-1); --task (default noop) names the tasks they run.\n"
               "example: taskrt_node_sim --address 127.0.0.1:7400 --nodes 100 --first 0\n",
               why.c_str());
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  sim_options o;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "-h" || k == "--help")
      return usage("simulated worker nodes for scripts/bench-nodes"), 0;
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
      } else if (k == "--nodes") o.nodes = std::stoi(v);
      else if (k == "--first") o.first = std::stoi(v);
      else if (k == "--slots") o.slots = std::stoi(v);
      else if (k == "--prefetch") o.prefetch = std::stoi(v);
      else if (k == "--delay-ms") o.delay_ms = std::stoi(v);
      else if (k == "--prefix") o.prefix = v;
      else if (k == "--task") o.tasks.push_back(v);
      else if (k == "--seconds") o.seconds = std::stod(v);
      else if (k == "--timeout") o.timeout = std::stod(v);
      else return usage("unknown option " + k);
    } catch (const std::exception&) {
      return usage("bad value '" + v + "' for " + k);
    }
  }
  if (o.port == 0)
    return usage("--address HOST:PORT is required");
  if (o.nodes <= 0 || o.slots <= 0 || o.prefetch < 0 || o.delay_ms < 0 || o.first < 0)
    return usage("--nodes and --slots must be positive; --first, --prefetch, --delay-ms not "
                 "negative");
  if (o.tasks.empty())
    o.tasks.push_back("noop");
  const sigset_t sigs = block_stop_signals();
  sim_counters c;
  std::vector<sim_node_system> nodes;
  nodes.reserve(static_cast<size_t>(o.nodes));
  const auto t0 = steady_clock::now();
  int connect_failed = 0;
  int connect_retries = 0;
  std::string first_error;
  for (int i = 0; i < o.nodes; ++i) {
    sim_node_system n;
    n.cfg = std::make_unique<caf::actor_system_config>();
    configure_network(*n.cfg);
    n.cfg->set("scheduler.max-threads", size_t{1});
    n.cfg->set("scheduler.policy", caf::atom("sharing")); // no polling while idle
    n.cfg->set("middleman.workers", size_t{0});           // deserialize in the I/O thread
    n.cfg->set("logger.verbosity", caf::atom("quiet"));
    n.sys = std::make_unique<caf::actor_system>(*n.cfg);
    node_info info;
    info.id = o.prefix + "-" + std::to_string(o.first + i);
    info.host = "node-sim";
    info.slots = o.slots;
    info.pid = static_cast<int32_t>(::getpid());
    info.tasks = o.tasks;
    info.version = std::string{version()}; // as a real node of this build
    std::vector<caf::actor> slots;
    for (int s = 0; s < o.slots; ++s)
      slots.push_back(n.sys->spawn(sim_slot,
                                   worker_info{info.id, s, info.pid, {}, 1 + o.prefetch},
                                   o.delay_ms, &c));
    n.node = n.sys->spawn(sim_node, info, slots, &c);
    // As a real node does, a node whose connection failed tries again (a
    // head busy with a burst of handshakes may let one time out); the
    // retries are counted in the output.
    auto head = connect_head(*n.sys, o.host, o.port);
    for (int attempt = 1; !head && attempt < 3; ++attempt) {
      ++connect_retries;
      std::this_thread::sleep_for(milliseconds(200));
      head = connect_head(*n.sys, o.host, o.port);
    }
    if (!head) {
      if (connect_failed++ == 0)
        first_error = error_message(head.error());
    } else {
      caf::anon_send(n.node, register_atom::value, caf::actor_cast<caf::actor>(*head));
    }
    nodes.push_back(std::move(n));
    if ((i + 1) % 100 == 0)
      std::fprintf(stderr, "taskrt_node_sim: %d of %d nodes connected\n", i + 1, o.nodes);
  }
  const double connect_s = duration<double>(steady_clock::now() - t0).count();
  while (c.registered + c.register_failed < o.nodes - connect_failed
         && duration<double>(steady_clock::now() - t0).count() < o.timeout)
    std::this_thread::sleep_for(milliseconds(10));
  const int connections = o.nodes - connect_failed;
  std::printf("{\"event\":\"registered\",\"nodes\":%d,\"registered\":%lld,"
              "\"tcp_connections\":%d,\"actor_systems\":%d,\"connect_failed\":%d,"
              "\"connect_retries\":%d,"
              "\"connect_s\":%.3f,\"registered_s\":%.3f,\"threads\":%d,\"rss_mb\":%.1f,"
              "\"pid\":%d,\"error\":\"%s\"}\n",
              o.nodes, static_cast<long long>(c.registered.load()), connections, o.nodes,
              connect_failed, connect_retries, connect_s,
              duration<double>(steady_clock::now() - t0).count(),
              thread_count(), rss_mb(), static_cast<int>(::getpid()), first_error.c_str());
  std::fflush(stdout);
  int rc = connect_failed > 0 || c.registered < o.nodes ? 1 : 0;
  if (rc == 0) {
    // Until SIGTERM/SIGINT, or --seconds.
    if (o.seconds > 0) {
      timespec ts{static_cast<time_t>(o.seconds),
                  static_cast<long>((o.seconds - static_cast<double>(static_cast<time_t>(
                                                   o.seconds))) * 1e9)};
      ::sigtimedwait(&sigs, nullptr, &ts);
    } else {
      int sig = 0;
      ::sigwait(&sigs, &sig);
    }
  }
  if (c.head_lost > 0)
    rc = 1;
  std::printf("{\"event\":\"done\",\"nodes\":%d,\"dispatches\":%lld,\"results\":%lld,"
              "\"heartbeats_ok\":%lld,\"heartbeats_refused\":%lld,\"heartbeats_failed\":%lld,"
              "\"head_lost\":%lld,\"rss_mb\":%.1f}\n",
              o.nodes, static_cast<long long>(c.dispatches.load()),
              static_cast<long long>(c.results.load()),
              static_cast<long long>(c.heartbeats_ok.load()),
              static_cast<long long>(c.heartbeats_refused.load()),
              static_cast<long long>(c.heartbeats_failed.load()),
              static_cast<long long>(c.head_lost.load()), rss_mb());
  std::fflush(stdout);
  // Tearing down a thousand actor systems one by one takes long and tells
  // nothing: the head sees the connections close either way.
  std::_Exit(rc);
}

#include "taskrt/cluster/head_node.hpp"

#include "taskrt/cluster/env_config.hpp"
#include "taskrt/cluster/frame_guard.hpp"

#include "taskrt/actors/persistence_actor.hpp"
#include "taskrt/actors/retry_actor.hpp"
#include "taskrt/actors/schedule_actor.hpp"
#include "taskrt/actors/schedule_row_check.hpp"
#include "taskrt/actors/scheduler.hpp"
#include "taskrt/actors/worker.hpp"
#include "taskrt/cluster/journal_maintenance.hpp"
#include "taskrt/cluster/node_authority.hpp"
#include "taskrt/persistence/dsn.hpp"
#include "taskrt/cluster/leadership.hpp"
#include "taskrt/persistence/leader_lock.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/time.hpp"

#include "taskrt/cluster/net_config.hpp"
#include "taskrt/http/api_server.hpp"
#include "taskrt/http/dashboard_routes.hpp"
#include "taskrt/http/health_server.hpp"
#include "taskrt/metrics/taskrt_metrics.hpp"

#include <caf/io/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <chrono>
#include <thread>

#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

namespace taskrt {

namespace {

using json = nlohmann::json;

std::string run_capture(const std::string& cmd, int& status) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    status = -1;
    return out;
  }
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p))
    out += buf;
  status = ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
    out.pop_back();
  return out;
}

/// mkdir -p with mode 0700 for the directories it creates; an error
/// message naming the directory, or "".
std::string make_dirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/')
      continue;
    const auto part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      return "cannot create the directory " + part + ": " + std::strerror(errno);
  }
  struct stat sb{};
  if (::stat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode))
    return dir + " is not a directory";
  return {};
}

/// Writes DATA_DIR/head.json (0600) atomically; an error message, or "".
std::string write_state_file(const std::string& dir, const head_state_file& s) {
  if (auto err = make_dirs(dir); !err.empty())
    return err;
  json j = {{"host", s.host},       {"port", s.port},
            {"pid", s.pid},         {"dsn", s.dsn},
            {"node_id", s.node_id}, {"started_at", s.started_at},
            {"tls", s.tls},         {"tls_dir", s.tls_dir},
            {"role", s.role},       {"http_url", s.http_url}};
  auto path = dir + "/head.json";
  auto tmp = path + ".tmp";
  {
    std::ofstream f{tmp};
    f << j.dump(2) << "\n";
    f.flush();
    if (!f)
      return "cannot write " + tmp + ": " + std::strerror(errno);
  }
  if (::chmod(tmp.c_str(), 0600) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0)
    return "cannot write " + path + ": " + std::strerror(errno);
  return {};
}

/// The program to name in the start-up hint: this binary (a user's own, or
/// taskrt).
std::string try_program(const std::string& exe) {
  return exe.empty() ? "taskrt" : exe.substr(exe.rfind('/') + 1);
}

/// A task to name in the start-up hint: echo where the demo tasks are
/// registered, else the first registered name.
std::string try_task(const task_registry& registry) {
  if (registry.find("echo"))
    return "echo --args '{\"hello\":1}'";
  const auto names = registry.names();
  return names.empty() ? "NAME" : names.front();
}

/// Probes of a head: live when the scheduler answers a status request within
/// 2 s; ready when it has recovered from the journal, reaches Postgres and is
/// not draining (a standby answers with starting_probes until it takes
/// over).
http::probes head_probes(caf::actor_system& sys, head_actor head) {
  auto ask = [&sys, head](head_status& out, std::string& error) {
    caf::scoped_actor self{sys};
    bool answered = false;
    self->request(head, std::chrono::seconds(2), status_atom::value)
      .receive([&](head_status& s) { out = std::move(s), answered = true; },
               [&](caf::error& e) { error = sys.render(e); });
    return answered;
  };
  http::probes p;
  p.live = [ask] {
    head_status s;
    std::string error;
    if (!ask(s, error))
      return http::probe_result{false, "the scheduler did not answer: " + error};
    return http::probe_result{true, {}};
  };
  p.ready = [ask] {
    head_status s;
    std::string error;
    if (!ask(s, error))
      return http::probe_result{false, "the scheduler did not answer: " + error};
    if (!s.recovered)
      return http::probe_result{false, "recovering from the journal"};
    if (!s.journal_up)
      return http::probe_result{false, "the journal (Postgres) is unavailable: "
                                         + s.journal_error};
    if (s.draining)
      return http::probe_result{false, "draining"};
    return http::probe_result{true, {}};
  };
  return p;
}

/// Probes of a head before it is active: live (the process runs) and not
/// ready, saying why.
http::probes starting_probes(bool standby) {
  http::probes p;
  p.live = [] { return http::probe_result{true, {}}; };
  p.ready = [standby] {
    return http::probe_result{false, standby ? "standby: waiting for the active head to go"
                                             : "starting: taking the leadership lock"};
  };
  return p;
}

/// What this head writes to its state file, listening on `port`.
head_state_file state_file_of(const head_options& opts, uint16_t port, bool tls,
                              const std::string& tls_dir) {
  head_state_file sf;
  sf.host = opts.host;
  sf.port = port;
  sf.pid = static_cast<int>(::getpid());
  sf.dsn = opts.dsn;
  sf.node_id = opts.node_id;
  sf.started_at = to_rfc3339(now());
  sf.tls = tls;
  sf.tls_dir = tls_dir;
  return sf;
}

/// Prints a line for people on stdout, or logs it (--log-format json: every
/// line on stdout is a JSON object).
void announce(const head_options& opts, const std::string& line) {
  if (opts.log_format == logging::log_format::json) {
    spdlog::info("{}", line);
    return;
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

/// Takes the leadership lock: at once, or (--standby) after waiting for the
/// active head to go. Nothing (after printing why) when this head must not run.
std::unique_ptr<leader_lock> acquire_leadership(const head_options& opts, bool tls,
                                                const std::string& tls_dir) {
  const auto address = opts.host + ":" + std::to_string(opts.port);
  std::unique_ptr<leader_lock> lock;
  if (!opts.standby) {
    try {
      lock = std::make_unique<leader_lock>(opts.dsn, address);
      // A head killed a moment ago still holds the lock until Postgres has
      // seen its connection close and ended its session (milliseconds, more
      // on a loaded host): a restart right after a kill -9 asks for up to 2 s
      // before it refuses to run beside a live head.
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      for (;;) {
        if (lock->try_acquire())
          return lock;
        if (std::chrono::steady_clock::now() >= give_up)
          break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      auto active = lock->holder();
      std::fprintf(stderr,
                   "taskrt: another head is active on the database %s: %s; only one head "
                   "may serve a journal (start this one with --standby to take over when it "
                   "stops)\n",
                   redact_dsn(opts.dsn).c_str(),
                   active.empty() ? "(its address is not known)" : active.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "taskrt: cannot use the database %s: %s\n",
                   redact_dsn(opts.dsn).c_str(), e.what());
    }
    return nullptr;
  }
  auto sf = state_file_of(opts, opts.port, tls, tls_dir);
  sf.role = "standby";
  write_state_file(opts.data_dir, sf);
  const auto since = now();
  bool waited = false;
  for (bool announced = false;;) {
    try {
      if (!lock)
        lock = std::make_unique<leader_lock>(opts.dsn, address);
      if (lock->try_acquire())
        break;
      if (!announced) {
        announce(opts, fmt::format("taskrt head (node {}) standing by for {} on {}: the active "
                                   "head is {}; the cluster port opens when it takes over",
                                   opts.node_id, address, redact_dsn(opts.dsn),
                                   lock->holder()));
        announced = true;
      }
      waited = true;
      // While it waits in Postgres' lock queue, a watch ends the session of
      // an active head that has gone silent (paused, hung) so the lock passes.
      silent_head_watch watch{opts.dsn, opts.takeover_after_s};
      lock->acquire();
      break;
    } catch (const std::exception& e) {
      lock.reset();
      spdlog::warn("standby: {}; trying again in 1 s", e.what());
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  if (waited) {
    // The previous head may still run with a broken lock connection: it
    // checks every 200 ms and stops at once; give it that long, five times.
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  announce(opts, fmt::format("taskrt head (node {}) took over as the active head after "
                             "standing by {:.1f} s; recovering from the journal",
                             opts.node_id, to_micros(now()) / 1e6 - to_micros(since) / 1e6));
  return lock;
}

} // namespace

std::string default_data_dir(const env_config& env) {
  if (!env.data_dir.empty())
    return env.data_dir;
  if (!env.xdg_data_home.empty())
    return env.xdg_data_home + "/taskrt";
  return (env.home.empty() ? std::string{"/tmp"} : env.home) + "/.local/share/taskrt";
}

std::optional<head_state_file> read_state_file(const std::string& data_dir) {
  std::ifstream f{data_dir + "/head.json"};
  if (!f)
    return std::nullopt;
  auto j = json::parse(f, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  head_state_file s;
  s.host = j.value("host", "127.0.0.1");
  s.port = j.value("port", uint16_t{0});
  s.pid = j.value("pid", 0);
  s.dsn = j.value("dsn", "");
  s.node_id = j.value("node_id", "");
  s.started_at = j.value("started_at", "");
  s.tls = j.value("tls", false);
  s.tls_dir = j.value("tls_dir", "");
  s.role = j.value("role", "active");
  s.http_url = j.value("http_url", "");
  return s;
}

std::string start_embedded_postgres(const std::string& dir, const std::string& pg_script) {
  if (pg_script.empty())
    throw std::runtime_error("no helper to start the embedded Postgres with (PREFIX/libexec/"
                             "taskrt/pg next to the binary): pass --pg-script or set "
                             "TASKRT_PG_SCRIPT, or --db DSN for a Postgres of your own");
  int status = 0;
  // The embedded default lives under ~/.local/share/taskrt; as root that is
  // under /root (mode 700), which the postgres user must be able to traverse.
  // The script adds o+x (traverse only) to exactly the directories that need it.
  auto cmd = "TASKRT_PG_GRANT_TRAVERSE=1 '" + pg_script + "' start '" + dir + "' 2>&1";
  auto out = run_capture(cmd, status);
  if (status != 0)
    throw std::runtime_error("could not start the embedded Postgres in " + dir
                             + ": " + out);
  auto nl = out.find_last_of('\n');
  if (nl == std::string::npos)
    return out;
  // "pg: added o+x (traverse only) to /root ...": a permission change the
  // user should know about.
  std::fprintf(stderr, "taskrt: embedded Postgres: %s\n", out.substr(0, nl).c_str());
  return out.substr(nl + 1);
}

int run_head(head_options opts, const task_registry& registry,
             const strategy_registry& strategies) {
  // Signals go to one thread that asks the scheduler to drain.
  const sigset_t sigs = block_stop_signals();
  // One malloc arena: with one per thread, memory a message took in one CAF
  // thread and freed in another stayed in the first one's arena, and the
  // head's RSS rose with every burst of requests (59 -> 86 MB over 5 rounds
  // of 10,000 per-task requests; flat at 50 MB with one arena, same rate:
  // docs/performance.md). MALLOC_ARENA_MAX in the environment still decides.
  if (!process_env().malloc_arena_max)
    mallopt(M_ARENA_MAX, 1);
  logging::setup_logging(opts.log_format, opts.node_id);
  metrics::register_all("head", opts.workers != 0); // -1: one per core
  // Without the frame guard one peer's announced frame sizes decide the
  // head's memory: refuse, unless told to go without it.
  if (!frame_guard_active() && !opts.allow_unguarded_frames) {
    std::fprintf(stderr, "taskrt: the cluster port's frame guard is not in place in this build "
                         "(CAF's BASP handler was not wrapped), so a peer could make the head "
                         "allocate without bound; refusing to start (--allow-unguarded-frames "
                         "starts anyway)\n");
    return 1;
  }

  // TLS material is checked before anything starts: a bad file is a clear
  // error here rather than an exception in CAF's I/O thread later.
  std::optional<tls_files> tls;
  if (!opts.tls.dir.empty()) {
    try {
      tls = resolve_tls(opts.tls, {"head"});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "taskrt: %s\n", e.what());
      return 1;
    }
  }
  if (opts.data_dir.empty())
    opts.data_dir = default_data_dir();
  // A fresh home has no ~/.local/share: create the whole path.
  if (auto err = make_dirs(opts.data_dir); !err.empty()) {
    std::fprintf(stderr, "taskrt: data dir: %s\n", err.c_str());
    return 1;
  }
  if (opts.dsn.empty()) {
    try {
      opts.dsn = start_embedded_postgres(opts.data_dir + "/postgres", opts.pg_script);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "taskrt: %s\n", e.what());
      return 1;
    }
    spdlog::info("embedded Postgres at {}", redact_dsn(opts.dsn));
  }
  // SIGTERM/SIGINT: a standby (or a head still starting) just leaves; a
  // running head drains through its scheduler.
  struct stop_target {
    std::mutex m;
    caf::actor scheduler;
  };
  auto target = std::make_shared<stop_target>();
  const auto state_path = opts.data_dir + "/head.json";
  std::thread{[target, sigs, state_path] {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == 0)
      return;
    std::lock_guard<std::mutex> guard{target->m};
    if (!target->scheduler) {
      ::unlink(state_path.c_str());
      std::fprintf(stderr, "taskrt: received signal %d before this head became active; "
                           "exiting\n", sig);
      std::_Exit(0);
    }
    spdlog::info("received signal {}; draining", sig);
    caf::anon_send(target->scheduler, stop_atom::value);
  }}.detach();

  // The HTTP server answers from the start: a standby (or a head still
  // taking the lock) is live and not ready, so Kubernetes keeps it running
  // and routes nothing to it until it is the active head.
  std::unique_ptr<http::health_server> http_server;
  std::unique_ptr<http::api_server> api;
  std::string http_line = "off (--http-port)";
  std::string http_url;
  if (opts.http_port >= 0) {
    http_server = std::make_unique<http::health_server>(starting_probes(opts.standby));
    // The JSON API (/api/v1, /login): 503 until this head is active.
    api = std::make_unique<http::api_server>(
      http::api_config{opts.dsn, opts.http_cors_origin, opts.node_id});
    api->install(*http_server);
    // The dashboard at / (docs/dashboard.md), for a session or a token only.
    http::add_dashboard_routes(*http_server, [a = api.get()](const http::request& req) {
      std::string why;
      return a->authenticate(req, why).has_value();
    });
    if (opts.http_tls) {
      if (!tls) {
        std::fprintf(stderr, "taskrt: --http-tls serves HTTPS with the cluster's certificates: "
                             "it needs --tls-dir\n");
        return 1;
      }
      if (auto ok = http_server->use_tls(tls->cert_file, tls->key_file); !ok) {
        std::fprintf(stderr, "taskrt: --http-tls: %s\n", error_message(ok.error()).c_str());
        return 1;
      }
    }
    if (auto ok = http_server->start(opts.http_host, opts.http_port); !ok) {
      std::fprintf(stderr, "taskrt: cannot serve HTTP on %s:%d: %s\n", opts.http_host.c_str(),
                   opts.http_port, error_message(ok.error()).c_str());
      return 1;
    }
    http_url = (opts.http_tls ? "https://" : "http://") + opts.http_host + ":" + std::to_string(http_server->port());
    http_line = http_url + " (/healthz /readyz /metrics /api/v1, dashboard /)";
  }

  // Schedules declared in code (task_registry::add_schedule): a bad one
  // stops the start, as a bad task registration does.
  schedule_actor_config sched_cfg;
  sched_cfg.dsn = opts.dsn;
  for (const auto& [name, def] : registry.schedules()) {
    auto row = make_schedule_row(def, to_micros(now()) / 1'000'000);
    if (auto e = std::get_if<std::string>(&row)) {
      std::fprintf(stderr, "taskrt: declared %s\n", e->c_str());
      return 1;
    }
    sched_cfg.declared.push_back(std::get<schedule_row>(row));
    sched_cfg.declared.back().declared = true;
  }

  // Leadership: one active head per journal (persistence/leader_lock.hpp).
  auto lock = acquire_leadership(opts, tls.has_value(), tls ? tls->dir : std::string{});
  if (!lock)
    return 1;
  // From now on the lock is watched (cluster/leadership.hpp): its session
  // stays busy through migrations and recovery, and a lost lock that another
  // head took ends this process (exit 3). The journal's writes are fenced
  // besides (journal_store::next_head_generation), for a head too slow to
  // see the loss. The fault point no_lock_watch (tests only) turns the
  // watch off to prove that fence on its own.
  lock_watcher leadership{std::move(lock), opts.dsn, opts.host + ":" + std::to_string(opts.port),
                          state_path,
                          !TASKRT_FAULT_ACTIVE(opts.fault, fault_point::no_lock_watch)};

  std::shared_ptr<journal_store> store;
  try {
    journal_options jo;
    jo.fault = opts.fault;
    store = std::make_shared<journal_store>(opts.dsn, jo);
    store->migrate();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "taskrt: cannot use the database %s: %s\n",
                 redact_dsn(opts.dsn).c_str(), e.what());
    return 1;
  }
  // Partitions ahead and retention, on a thread of their own until return.
  journal_maintenance maintenance{
    {opts.dsn, opts.retain_s, opts.api_key_ttl_s, opts.maintenance_interval_s}};
  if (opts.retain_s > 0)
    spdlog::info("journal retention {}: final tasks and daily partitions of events older "
                 "than that go, checked every {}", retention_text(opts.retain_s),
                 retention_text(opts.maintenance_interval_s));
  if (opts.workers < 0)
    opts.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  caf::actor_system_config cfg;
  configure_network(cfg, opts.net);
  if (tls)
    configure_tls(cfg, *tls);
  caf::actor_system sys{cfg};
  // The probes of an active head ask `sys`: stop answering before it goes.
  struct http_stopper {
    http::health_server* server;
    http::api_server* api;
    ~http_stopper() {
      if (server)
        server->stop();
      if (api)
        api->deactivate();
    }
  } stop_http_first{http_server.get(), api.get()};

  persistence_options popts; // submits commit on a connection of their own
  popts.open_submit_lane = [dsn = opts.dsn] { return std::make_shared<journal_store>(dsn); };
  auto persistence = spawn_persistence(sys, store, popts);
  auto retry = spawn_retry_actor(sys, &strategies);
  scheduler_config scfg;
  scfg.node_id = opts.node_id;
  scfg.stuck_timeout_s = opts.stuck_timeout_s;
  scfg.drain_grace_s = opts.drain_grace_s;
  scfg.local_slots = opts.workers;
  scfg.queue_window = opts.queue_window;
  scfg.schedule_horizon_s = opts.schedule_horizon_s;
  scfg.lease_s = opts.lease_s;
  scfg.lease_margin_s = opts.lease_margin_s;
  scfg.registry = &registry;
  scfg.persistence = persistence;
  scfg.retry = retry;
  scfg.fault = opts.fault; // tests only: see scheduler_config::fault
  if (tls) // a node registers only under an id its certificate allows
    scfg.node_authority = spawn_node_authority(sys);
  auto scheduler = spawn_scheduler(sys, scfg);
  auto head = caf::actor_cast<head_actor>(scheduler);
  // Periodic schedules fire from the active head only (actors/schedule_actor.hpp).
  sched_cfg.head = scheduler;
  auto schedules = spawn_schedule_actor(sys, sched_cfg);
  // Rate/concurrency limits: loaded now, reloaded on each change (NOTIFY).
  limit_watch limits_watch{opts.dsn, [scheduler](std::vector<limit_row> rows) {
    caf::anon_send(scheduler, limits_atom::value, std::move(rows));
  }};

  auto workers = spawn_workers(sys, opts.node_id, opts.workers, opts.queues, opts.exe, scheduler,
                               opts.prefetch);

  auto port = publish_head(sys, head, opts.port, opts.host);
  if (!port) {
    std::fprintf(stderr, "taskrt: cannot listen on %s:%u: %s (another head on this port? "
                         "--port N picks another, --port 0 any free one)\n",
                 opts.host.c_str(), opts.port, sys.render(port.error()).c_str());
    // Every root service goes, or the actor system waits for them forever.
    for (auto& a : {schedules, scheduler, retry, persistence})
      anon_send_exit(a, caf::exit_reason::user_shutdown);
    for (auto& w : workers)
      anon_send_exit(w, caf::exit_reason::user_shutdown);
    return 1;
  }
  const auto address = opts.host + ":" + std::to_string(*port);
  if (opts.port == 0)
    leadership.set_address(address);
  if (http_server) // from now on the probes ask this head's scheduler
    http_server->set_probes(head_probes(sys, head));
  if (api)
    api->activate(sys, head);
  auto sf = state_file_of(opts, *port, tls.has_value(), tls ? tls->dir : std::string{});
  sf.http_url = http_url;
  if (auto err = write_state_file(opts.data_dir, sf); !err.empty()) {
    // Without it no CLI command finds this head: refuse to run half-visible.
    std::fprintf(stderr, "taskrt: state file: %s\n", err.c_str());
    sys.middleman().unpublish(head, *port);
    for (auto& a : {schedules, retry, persistence})
      anon_send_exit(a, caf::exit_reason::user_shutdown);
    anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
    for (auto& w : workers)
      anon_send_exit(w, caf::exit_reason::user_shutdown);
    return 1;
  }
  const auto transport
    = tls ? "mutual TLS (CA " + tls->ca_file + ", certificate " + tls->cert_file
              + "); peers without a certificate of that CA are refused"
          : std::string{"plaintext (no --tls-dir)"};
  if (opts.log_format == logging::log_format::json) {
    spdlog::info("head listening on {}:{} workers={} transport={} database={} http={}",
                 opts.host, *port, opts.workers, transport, redact_dsn(opts.dsn), http_line);
  } else {
    std::printf("taskrt head (node %s) listening on %s:%u with %d workers\n"
                "  transport: %s\n"
                "  database: %s\n  state file: %s/head.json (the CLI finds the head through it)\n"
                "  http: %s\n"
                "  try: %s submit %s --wait\n",
                opts.node_id.c_str(), opts.host.c_str(), *port, opts.workers, transport.c_str(),
                redact_dsn(opts.dsn).c_str(), opts.data_dir.c_str(), http_line.c_str(),
                try_program(opts.exe).c_str(), try_task(registry).c_str());
    std::fflush(stdout);
  }

  {
    std::lock_guard<std::mutex> guard{target->m};
    target->scheduler = scheduler;
  }

  int exit_code = 0;
  {
    caf::scoped_actor self{sys};
    for (auto& a : {persistence, retry, scheduler})
      self->monitor(a);
    bool running = true;
    while (running) {
      self->receive([&](caf::down_msg& d) {
        if (d.source == scheduler && d.reason == caf::exit_reason::normal) {
          running = false;
          return;
        }
        if (d.source == persistence && taskrt_code(d.reason) == static_cast<uint8_t>(
                                         errc::stepped_down)) {
          // Its writes were fenced (persistence/journal_store.hpp): another
          // head took a newer generation. Leave at once, as a lost lock does.
          ::unlink(state_path.c_str());
          std::fprintf(stderr, "taskrt: %s; this head no longer leads: stepping down (exit %d)\n",
                       error_message(d.reason).c_str(), exit_stepped_down);
          std::fflush(stderr);
          std::_Exit(exit_stepped_down);
        }
        spdlog::critical("head service {} died: {}; exiting so a restart "
                         "recovers from Postgres",
                         d.source == persistence ? "persistence"
                         : d.source == retry     ? "retry"
                                                 : "scheduler",
                         sys.render(d.reason));
        exit_code = 1;
        running = false;
      });
    }
  }
  if (http_server)
    http_server->stop();
  if (api)
    api->deactivate();
  sys.middleman().unpublish(head, *port);
  for (auto& w : workers)
    anon_send_exit(w, caf::exit_reason::user_shutdown);
  anon_send_exit(schedules, caf::exit_reason::user_shutdown);
  anon_send_exit(retry, caf::exit_reason::user_shutdown);
  anon_send_exit(persistence, caf::exit_reason::user_shutdown);
  ::unlink(state_path.c_str());
  spdlog::info("head stopped exit_code={}", exit_code);
  return exit_code;
}

} // namespace taskrt

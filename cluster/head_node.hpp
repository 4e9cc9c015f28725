#pragma once
/// The head node: connects to Postgres (or starts the embedded one), runs the
/// migrations, spawns the root services (persistence, retry, scheduler) and
/// the local workers, publishes the head on its port, writes the state file
/// the CLI reads, and runs until SIGTERM/SIGINT or `taskrt stop` has drained it.
///
/// Root supervision: the services are monitored; if one of them dies the head
/// exits with status 1 (escalation) — a restart recovers everything from
/// Postgres. A crashing worker process is restarted by its worker actor.

#include "taskrt/cluster/env_config.hpp"
#include "taskrt/cluster/net_config.hpp"
#include "taskrt/cluster/tls.hpp"
#include "taskrt/logging/log_setup.hpp"
#include "taskrt/runtime/fault.hpp"
#include "taskrt/runtime/retry_policy.hpp"
#include "taskrt/runtime/task_registry.hpp"

#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// Options of `taskrt start --head`.
struct head_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;              ///< 0: pick a free one
  std::string dsn;                ///< empty: embedded Postgres in data_dir
  std::string data_dir;           ///< state file, embedded Postgres
  int workers = -1;               ///< -1: number of cores; 0: none (a pure head)
  std::string node_id = "head";
  std::vector<std::string> queues; ///< queues the local workers serve; empty: all
  int prefetch = 1;               ///< attempts queued per worker behind the running one
  double stuck_timeout_s = 300;
  double drain_grace_s = 30;
  std::string exe;                ///< binary re-executed for worker processes
  tls_options tls;                ///< empty dir: plaintext
  std::string http_host = "127.0.0.1"; ///< where /healthz, /readyz, /metrics listen
  int http_port = -1;             ///< -1: no HTTP server; 0: any free port
  /// `--http-cors-origin`: the one origin whose pages may call the API
  /// cross-site (with a bearer token); empty: CORS off.
  std::string http_cors_origin;
  /// `--http-tls`: serve HTTPS on --http-port with this head's certificate
  /// of --tls-dir (clients trust the cluster's ca.pem).
  bool http_tls = false;
  logging::log_format log_format = logging::log_format::text;
  /// Wait as a hot standby while another head is active on the database,
  /// take over when it dies (else: refuse to start next to an active head).
  bool standby = false;
  /// A standby ends the session of an active head silent for this long
  /// (paused, hung, cut off from Postgres) and takes over; 0: never.
  double takeover_after_s = 10;
  /// `--lease`, `--lease-margin`: every answered heartbeat renews a node's
  /// lease for lease_s; its worker processes fence themselves margin early,
  /// and a lock whose attempt was lost with its node waits until margin
  /// after the lease ends (runtime/lease.hpp, docs/reliability.md).
  double lease_s = 10;
  double lease_margin_s = 1;
  /// `--queue-window`: due QUEUED tasks held in memory per queue; the rest
  /// stays in the journal and is read back in order.
  int32_t queue_window = 10000;
  /// `--schedule-horizon`: QUEUED tasks scheduled further ahead stay in the
  /// journal until the horizon reaches them.
  double schedule_horizon_s = 300;
  /// Journal retention (`--retain`): final tasks and whole daily partitions
  /// of events older than this many seconds go, at start and every
  /// `maintenance_interval_s` (cluster/journal_maintenance.hpp); 0: keep all.
  double retain_s = 0;
  /// How long an idempotency key of POST /api/v1/tasks is kept with its
  /// body's hash (`--api-key-ttl`); the maintenance tick deletes older ones.
  double api_key_ttl_s = 86400;
  double maintenance_interval_s = 600;
  /// `--allow-unguarded-frames`: start even when the cluster port's frame
  /// guard (cluster/frame_guard.hpp) is not in place; else the head refuses.
  bool allow_unguarded_frames = false;
  /// `--pg-script` ($TASKRT_PG_SCRIPT): the helper that runs the embedded
  /// Postgres (scripts/pg, installed as PREFIX/libexec/taskrt/pg); the CLI
  /// finds it next to its binary when not given.
  std::string pg_script;
  /// `--heartbeat-ms`, `--connection-timeout-ms`: CAF's heartbeats and
  /// connection timeout, the same on every process of the cluster.
  net_options net;
  /// A fault point for a test ($TASKRT_FAULT; runtime/fault.hpp): none
  /// unless the build has fault hooks.
  fault_point fault = fault_point::none;
};

/// Where the CLI finds a running head: written to DATA_DIR/head.json (0600).
struct head_state_file {
  std::string host;
  uint16_t port = 0;
  int pid = 0;
  std::string dsn;
  std::string node_id;
  std::string started_at;
  bool tls = false;     ///< the head speaks mutual TLS only
  std::string tls_dir;  ///< its TLS directory (absolute), for local CLI commands
  std::string role = "active"; ///< "standby" while waiting (port not yet listening)
  std::string http_url;  ///< "http://HOST:PORT" of --http-port; empty: none
};

/// The default data directory: $TASKRT_DATA_DIR, else
/// $XDG_DATA_HOME/taskrt, else ~/.local/share/taskrt (of `env`).
std::string default_data_dir(const env_config& env = process_env());

/// Reads DATA_DIR/head.json; nothing if absent or unreadable.
std::optional<head_state_file> read_state_file(const std::string& data_dir);

/// Exit code of a head that lost its leadership lock and stepped down.
constexpr int exit_stepped_down = 3;

/// Runs a head until it is stopped; returns the process exit code (0, 1 on
/// errors or when another head is active, exit_stepped_down).
///
/// Leadership (persistence/leader_lock.hpp), drawn:
/// ```
///  start ──lock free──► recover ──► publish port ──► ACTIVE ──lock lost to another head──► exit 3
///    │ lock held            (new head generation:    │   ──journal write fenced──────────► exit 3
///    │                       older heads' writes     └── stop ──► drained, exit 0
///    │                       are refused)
///    ├─ without --standby: exit 1, naming the active head
///    └─ --standby: STANDBY (waits in Postgres' lock queue; cluster port closed,
///                  HTTP: live, not ready; ends the session of an active head
///                  silent > --takeover-after)
///                  ──granted──► 1 s (a live old head sees its loss) ──► recover
/// ```
int run_head(head_options opts, const task_registry& registry,
             const strategy_registry& strategies);

/// Starts (or reuses) the embedded Postgres under `dir` with the helper
/// `pg_script`; returns its DSN or throws std::runtime_error with the
/// reason. What the helper says besides (that it added o+x to a parent
/// directory as root) goes to stderr.
std::string start_embedded_postgres(const std::string& dir, const std::string& pg_script);

} // namespace taskrt

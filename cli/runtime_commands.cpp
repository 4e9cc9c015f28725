#include "taskrt/cli/runtime_commands.hpp"

#include "taskrt/actors/worker_process.hpp"
#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/time_arg.hpp"
#include "taskrt/cluster/client.hpp"
#include "taskrt/cluster/head_node.hpp"
#include "taskrt/cluster/worker_node.hpp"
#include "taskrt/runtime/lease.hpp"
#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/time.hpp"
#include "taskrt/sched/trigger.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

/// Adds --max-json-bytes, --max-json-depth and --max-name-bytes (the limits
/// of runtime/limits.hpp) to `cmd`; apply_limits() makes them the process's.
void add_limit_options(CLI::App* cmd, limits& l) {
  cmd->add_option("--max-json-bytes", l.max_json_bytes,
                  "Largest args, result, checkpoint or progress value (JSON bytes)")
    ->capture_default_str();
  cmd->add_option("--max-json-depth", l.max_json_depth,
                  "Deepest nesting of arrays/objects in those values")
    ->capture_default_str();
  cmd->add_option("--max-name-bytes", l.max_name_bytes,
                  "Longest task name, queue, lock or --key")
    ->capture_default_str();
}

/// Makes `l` the limits of this process; false (after printing why) when a
/// value is out of range.
bool apply_limits(const limits& l, cli_env& env) {
  if (auto e = set_process_limits(l)) {
    env.exit_code = fail(usage, *e);
    return false;
  }
  return true;
}

/// The JSON text of `--args`: the value itself, `@FILE`, or `-` (stdin).
/// Reads at most one byte more than the limit, so the size check still
/// names the problem without reading an endless stream. Empty optional and
/// `err` set when the file cannot be read.
std::optional<std::string> read_args(const std::string& arg, std::string& err) {
  if (arg != "-" && (arg.empty() || arg.front() != '@'))
    return arg;
  const size_t cap = process_limits().max_json_bytes + 1;
  std::string text;
  auto read_from = [&](std::istream& in) {
    text.resize(cap);
    in.read(text.data(), static_cast<std::streamsize>(cap));
    text.resize(static_cast<size_t>(in.gcount()));
  };
  // Over the limit: the error names the real size where there is one (a
  // file, or stdin redirected from a file), not the bytes read to find out.
  auto too_big = [&](const std::string& what, int fd) {
    struct stat st {};
    const auto limit = std::to_string(cap - 1);
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
        && static_cast<uint64_t>(st.st_size) >= cap)
      err = what + ": " + std::to_string(st.st_size) + " bytes, more than the limit of " + limit
            + " (--max-json-bytes)";
    else
      err = what + ": more than the limit of " + limit + " bytes (--max-json-bytes)";
  };
  if (arg == "-") {
    read_from(std::cin);
    if (std::cin.bad()) {
      err = "--args -: cannot read stdin";
      return std::nullopt;
    }
    if (text.size() == cap) {
      too_big("--args - (stdin)", STDIN_FILENO);
      return std::nullopt;
    }
    return text;
  }
  const auto path = arg.substr(1);
  std::ifstream f{path, std::ios::binary};
  if (!f) {
    err = "--args @" + path + ": cannot read the file: " + std::strerror(errno);
    return std::nullopt;
  }
  read_from(f);
  if (text.size() == cap) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    too_big("--args @" + path, fd);
    if (fd >= 0)
      ::close(fd);
    return std::nullopt;
  }
  return text;
}

/// "12,13,14" as ids; nothing (with `err`) for an empty list, a part that
/// is not a positive integer.
std::optional<std::vector<int64_t>> parse_id_list(const std::string& text, std::string& err) {
  std::vector<int64_t> out;
  std::stringstream in{text};
  std::string part;
  while (std::getline(in, part, ',')) {
    char* end = nullptr;
    errno = 0;
    const auto v = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || errno != 0 || v <= 0) {
      err = "not a task id: '" + part + "' (ids are positive integers, comma-separated)";
      return std::nullopt;
    }
    out.push_back(v);
  }
  if (out.empty()) {
    err = "no task id given";
    return std::nullopt;
  }
  return out;
}

} // namespace

void add_start_command(CLI::App& app, cli_env& env) {
  auto opts = std::make_shared<head_options>();
  auto head = std::make_shared<bool>(false);
  auto queues = std::make_shared<std::string>();
  auto address = std::make_shared<std::string>();
  auto tls = std::make_shared<tls_flags>();
  auto lim = std::make_shared<limits>();
  auto* cmd = app.add_subcommand("start", "Start a head node, or a worker node that joins a head");
  cmd->footer(R"(Examples:
  taskrt start --head                      # embedded Postgres under ~/.local/share/taskrt
  taskrt start --head --workers 4 --port 7400
  taskrt start --head --config head.toml     # INI/TOML: [start] workers = 4
  taskrt start --head --max-json-bytes 4194304 --max-json-depth 100
  taskrt start --head --db postgresql://taskrt@db:5432/taskrt
  TASKRT_DATABASE_URL=postgresql://... taskrt start --head --queues default,mail
  taskrt start --address 10.0.0.5:7400 --workers 8 --node-id gpu-1 --queues gpu
  taskrt start --head --standby --db postgresql://taskrt@db/taskrt --port 7401
  taskrt start --address 10.0.0.5:7400,10.0.0.6:7401 --node-id n1   # follows a takeover
  taskrt certs generate /etc/taskrt/tls --names head,gpu-1,client --host 10.0.0.5
  taskrt start --head --host 0.0.0.0 --port 7400 --tls-dir /etc/taskrt/tls
  taskrt start --address 10.0.0.5:7400 --node-id gpu-1 --tls-dir /etc/taskrt/tls
  taskrt start --head --http-port 9090 --log-format json   # probes, /metrics, JSON logs
  taskrt start --head --retain 30d         # or in --config: [start] retain = "30d"
  curl -s localhost:9090/readyz; curl -s localhost:9090/metrics
A head listens on 127.0.0.1:7400 unless --host/--port say otherwise; a node
and the CLI on the head's machine find it there (or through its state file).
Another address needs mutual TLS (--tls-dir: every node and client must present a
certificate of the cluster CA) or --insecure (plaintext: anyone who reaches
the port can submit and run tasks).)");
  auto* head_flag = cmd->add_flag("--head", *head, "Start the head (scheduler, journal, local workers)");
  cmd->add_option("--address", *address,
                  "Join the head at HOST:PORT as a worker node; a comma-separated list "
                  "names the active head and its standbys (the node follows a takeover)")
    ->excludes(head_flag);
  cmd->add_flag("--standby", opts->standby,
                "With --head: wait as a hot standby while another head is active on the "
                "database, and take over (recover, then listen) when it stops or dies")
    ->needs(head_flag);
  cmd->add_flag("--allow-unguarded-frames", opts->allow_unguarded_frames,
                "With --head: start even when the cluster port's frame guard is not in place "
                "in this build (peers' frame sizes then go unchecked); without it the head "
                "refuses to start")
    ->needs(head_flag);
  cmd->add_option("--takeover-after", opts->takeover_after_s,
                  "With --standby: take over from an active head whose lock session has been "
                  "silent this many seconds (paused or hung though its connection is up); "
                  "0: only when its session ends")
    ->capture_default_str()
    ->needs(head_flag);
  cmd->add_option("--lease", opts->lease_s,
                  "With --head: seconds a node's lease lasts; each heartbeat (every second) "
                  "renews it; a worker process whose lease is not renewed kills itself and its "
                  "task --lease-margin before it ends")
    ->capture_default_str()
    ->needs(head_flag);
  cmd->add_option("--lease-margin", opts->lease_margin_s,
                  "With --head: safety margin of a lease, in seconds: a worker fences itself "
                  "this early, and a lock whose attempt was lost with its node is handed on "
                  "this late (at most a quarter of --lease)")
    ->capture_default_str()
    ->needs(head_flag);
  cmd->add_option("--queue-window", opts->queue_window,
                  "With --head: QUEUED tasks held in memory per queue, best first; the rest "
                  "stays in Postgres and is read back in order (memory stays bounded)")
    ->check(CLI::Range(100, 10'000'000))
    ->capture_default_str()
    ->needs(head_flag);
  cmd->add_option("--schedule-horizon", opts->schedule_horizon_s,
                  "With --head: QUEUED tasks scheduled further ahead than this many seconds "
                  "stay in Postgres until the horizon reaches them (memory stays bounded)")
    ->check(CLI::Range(2.0, 86400.0))
    ->capture_default_str()
    ->needs(head_flag);
  cmd->add_option("--host", opts->host, "Address the head listens on")->capture_default_str();
  auto insecure = std::make_shared<bool>(false);
  cmd->add_flag("--insecure", *insecure,
                "Allow listening on a non-loopback address without TLS (plaintext!)");
  add_tls_options(cmd, *tls);
  opts->port = default_cluster_port;
  cmd->add_option("--port", opts->port, "Port the head listens on (0: any free port)")
    ->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--db", opts->dsn,
                  "Postgres DSN (default: $TASKRT_DATABASE_URL, else an embedded "
                  "Postgres in the data dir)");
  cmd->add_option("--data-dir", opts->data_dir,
                  "State file and embedded Postgres (default: ~/.local/share/taskrt)");
  cmd->add_option("--workers", opts->workers,
                  "Local worker processes (default: one per core; 0: none, a pure head; "
                  "a worker node needs at least 1)")
    ->check(CLI::Range(0, 1024));
  cmd->add_option("--node-id", opts->node_id,
                  "Name of this node (a worker node's default: the host name, so a restart "
                  "reuses it; while a node of that id is connected, the head refuses a second "
                  "one, which exits 1)")
    ->capture_default_str();
  cmd->add_option("--queues", *queues, "Comma-separated queues the local workers serve (default: all)");
  cmd->add_option("--prefetch", opts->prefetch,
                  "Attempts dispatched to each worker ahead of time, so it never waits for "
                  "the head between tasks (handed back if they wait behind a long one)")
    ->capture_default_str()->check(CLI::Range(0, 64));
  cmd->add_option("--stuck-timeout", opts->stuck_timeout_s,
                  "Seconds without progress before a running attempt is LOST")
    ->capture_default_str();
  cmd->add_option("--drain-grace", opts->drain_grace_s,
                  "Seconds running attempts get on stop before they are handed back")
    ->capture_default_str();
  cmd->add_option("--http-port", opts->http_port,
                  "Serve /healthz, /readyz and /metrics (Prometheus) on this port (0: any "
                  "free port; default: no HTTP server)")
    ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-host", opts->http_host, "Address the HTTP server listens on")
    ->capture_default_str();
  cmd->add_option("--http-cors-origin", opts->http_cors_origin,
                  "With --head: the one origin (https://app.example) whose pages may call the "
                  "HTTP API cross-site with a bearer token (default: CORS off)")
    ->needs(head_flag);
  cmd->add_flag("--http-tls", opts->http_tls,
                "With --head and --tls-dir: serve HTTPS on --http-port with the head's "
                "certificate (clients trust the cluster's ca.pem)")
    ->needs(head_flag);
  auto log_format = std::make_shared<std::string>("text");
  cmd->add_option("--log-format", *log_format,
                  "text (human) or json (one object per line: time, level, message, node, "
                  "task, attempt)")
    ->capture_default_str()->check(CLI::IsMember({"text", "json"}));
  add_limit_options(cmd, *lim);
  auto retain = std::make_shared<std::string>();
  auto api_key_ttl = std::make_shared<std::string>(process_env().api_key_ttl);
  auto report_window_ms = std::make_shared<int>(1);
  cmd->add_option("--report-window-ms", *report_window_ms,
                  "A worker node: the longest it holds results and events to send them to "
                  "the head in one message (a result that leaves its worker idle goes at "
                  "once while this is at most 1)")
    ->capture_default_str()->check(CLI::Range(0, 1000));
  cmd->add_option("--retain", *retain,
                  "With --head: delete final tasks, and drop whole days of journal events, "
                  "older than this (12h, 30d, 8w; default: keep everything); checked at start "
                  "and every 10 minutes")
    ->needs(head_flag);
  cmd->add_option("--api-key-ttl", *api_key_ttl,
                  "With --head: how long an idempotency key of POST /api/v1/tasks keeps its "
                  "body check (a replay with another body is a 409); older ones are deleted "
                  "at start and every 10 minutes (1m to 365d; default: $TASKRT_API_KEY_TTL, "
                  "else 24h)")
    ->needs(head_flag);
  opts->net = net_options_from(process_env());
  cmd->add_option("--heartbeat-ms", opts->net.heartbeat_ms,
                  "Heartbeat interval between the cluster's processes in ms, the same on "
                  "every node (default: $TASKRT_HEARTBEAT_MS, else 500)")
    ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}))
    ->capture_default_str();
  cmd->add_option("--connection-timeout-ms", opts->net.connection_timeout_ms,
                  "A peer silent this long (ms) is lost, the same on every node (default: "
                  "$TASKRT_CONNECTION_TIMEOUT_MS, else 5000)")
    ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}))
    ->capture_default_str();
  opts->pg_script = env.pg_script;
  cmd->add_option("--pg-script", opts->pg_script,
                  "With --head and no --db: the helper that runs the embedded Postgres "
                  "(default: $TASKRT_PG_SCRIPT, else libexec/taskrt/pg next to the binary)")
    ->capture_default_str()
    ->needs(head_flag);
  cmd->callback([&env, cmd, opts, head, queues, address, insecure, tls, lim, log_format,
                 retain, api_key_ttl, report_window_ms] {
    opts->log_format = *logging::parse_log_format(*log_format);
    if (auto* config = cmd->get_parent() ? cmd->get_parent()->get_config_ptr() : nullptr;
        config && config->count() > 0) {
      const auto path = config->as<std::string>();
      if (auto unknown = unknown_config_keys(path, *cmd); !unknown.empty()) {
        env.exit_code = fail(usage, "--config " + path + ": [start] " + unknown
                                      + ": not an option of start (see start --help)");
        return;
      }
    }
    if (!apply_limits(*lim, env))
      return;
    TASKRT_FAULT_HOOK(true, // tests only (runtime/fault.hpp)
      const auto fault = parse_fault_point(process_env().fault);
      if (!fault) {
        env.exit_code = fail(usage, "TASKRT_FAULT=" + process_env().fault
                                      + ": not a fault point (runtime/fault.hpp)");
        return;
      }
      opts->fault = *fault;
    );
    for (auto [value, flag] : {std::pair{opts->stuck_timeout_s, "--stuck-timeout"},
                               std::pair{opts->drain_grace_s, "--drain-grace"},
                               std::pair{opts->takeover_after_s, "--takeover-after"}})
      if (auto e = check_seconds(value, flag)) {
        env.exit_code = fail(usage, *e);
        return;
      }
    if (const auto* e = lease::check_terms(opts->lease_s, opts->lease_margin_s); *e) {
      env.exit_code = fail(usage, e);
      return;
    }
    if (opts->stuck_timeout_s <= 0) {
      env.exit_code = fail(usage, "--stuck-timeout: must be more than 0");
      return;
    }
    if (!retain->empty()) {
      const auto d = parse_duration(*retain);
      if (!d || *d < 3600) {
        env.exit_code = fail(usage, "--retain: not a duration of an hour or more like 12h or "
                                    "30d: " + *retain);
        return;
      }
      opts->retain_s = *d;
    }
    if (!api_key_ttl->empty()) {
      const auto d = parse_duration(*api_key_ttl);
      if (!d || *d < 60 || *d > 365 * 86400.0) {
        env.exit_code = fail(usage, "--api-key-ttl (or TASKRT_API_KEY_TTL): not a duration "
                                    "from 1m to 365d like 24h or 7d: " + *api_key_ttl);
        return;
      }
      opts->api_key_ttl_s = *d;
    }
    std::stringstream qs{*queues};
    std::vector<std::string> queue_list;
    for (std::string q; std::getline(qs, q, ',');) {
      if (auto e = check_name(q, "--queues: a queue name", true)) {
        env.exit_code = fail(usage, *e + " (in '" + *queues + "')");
        return;
      }
      queue_list.push_back(q);
    }
    if (auto e = check_name(opts->node_id, "--node-id", true)) {
      env.exit_code = fail(usage, *e);
      return;
    }
    if (!*head) {
      if (address->empty()) {
        env.exit_code = fail(usage, "start: give --head (start a head) or --address HOST:PORT "
                                    "(join a head as a worker node; a head on this machine listens on "
                                    "127.0.0.1:7400)");
        return;
      }
      worker_node_options w;
      auto heads = parse_head_addresses(*address);
      if (!heads) {
        env.exit_code = fail(usage, "--address: " + error_message(heads.error()));
        return;
      }
      w.heads = std::move(*heads);
      w.head_host = w.heads.front().host;
      w.head_port = w.heads.front().port;
      w.node_id = opts->node_id == "head" ? "" : opts->node_id;
      if (opts->workers == 0) { // on a head 0 means none; a node of none would idle
        env.exit_code = fail(usage, "--workers 0: a worker node needs at least 1 worker "
                                    "(leave --workers out for one per core; 0 means none "
                                    "only on a head)");
        return;
      }
      w.workers = std::max(0, opts->workers); // -1 (not given): one per core
      w.queues = queue_list;
      w.prefetch = opts->prefetch;
      w.drain_grace_s = opts->drain_grace_s;
      w.exe = env.exe;
      w.tls = resolve_tls_options(*tls, env);
      w.http_host = opts->http_host;
      w.http_port = opts->http_port;
      w.log_format = opts->log_format;
      w.net = opts->net;
      w.fault = opts->fault;
      w.report_window = std::chrono::milliseconds(*report_window_ms);
      env.exit_code = run_worker_node(w, env.tasks);
      return;
    }
    opts->tls = resolve_tls_options(*tls, env);
    const bool loopback = opts->host == "127.0.0.1" || opts->host == "localhost"
                          || opts->host == "::1";
    if (!loopback && opts->tls.dir.empty() && !*insecure) {
      env.exit_code = fail(usage, "--host " + opts->host + ": without TLS a head listens on "
                                  "loopback only, because plaintext cluster traffic lets anyone "
                                  "who reaches the port submit and run tasks; pass --tls-dir DIR "
                                  "(mutual TLS, see `taskrt certs generate --help`) or --insecure "
                                  "to listen there in plaintext anyway");
      return;
    }
    if (!loopback && opts->tls.dir.empty())
      std::fprintf(stderr, "taskrt: WARNING: listening on %s without TLS (--insecure): cluster "
                           "traffic is plaintext and unauthenticated, so anyone who reaches this "
                           "port can submit and run tasks; use --tls-dir for mutual TLS\n",
                   opts->host.c_str());
    if (opts->dsn.empty())
      opts->dsn = process_env().database_url;
    opts->queues = queue_list;
    opts->exe = env.exe;
    env.exit_code = run_head(*opts, env.tasks, env.strategies);
  });
}

void add_stop_command(CLI::App& app, cli_env& env) {
  auto address = std::make_shared<std::string>();
  auto data_dir = std::make_shared<std::string>();
  auto timeout = std::make_shared<double>(120);
  auto tls = std::make_shared<tls_flags>();
  auto* cmd = app.add_subcommand("stop", "Drain and stop the head");
  cmd->footer(R"(Running attempts get the head's drain grace period; unfinished ones are
handed back (QUEUED) and run after the next start. Waits until the head exits.
Examples:
  taskrt stop
  taskrt stop --address 127.0.0.1:7400 --timeout 60)");
  cmd->add_option("--address", *address, "Head HOST:PORT (default: from the state file)");
  cmd->add_option("--data-dir", *data_dir, "Where the head's state file is");
  cmd->add_option("--timeout", *timeout, "Seconds to wait for the head to exit")
    ->capture_default_str();
  add_tls_options(cmd, *tls);
  cmd->callback([&env, address, data_dir, timeout, tls] {
    std::string err;
    auto c = connect_to_head(*address, *data_dir, *tls, env, err);
    if (!c) {
      env.exit_code = fail(failed, err);
      return;
    }
    c->stop();
    std::fprintf(stderr, "stopping the head");
    auto until = std::chrono::steady_clock::now()
                 + std::chrono::milliseconds(static_cast<int64_t>(*timeout * 1000));
    while (std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      std::fprintf(stderr, ".");
      if (!c->status()) {
        std::fprintf(stderr, " stopped\n");
        env.exit_code = ok;
        return;
      }
    }
    std::fprintf(stderr, "\n");
    env.exit_code = fail(failed, "the head did not stop within the timeout");
  });
}

void add_submit_command(CLI::App& app, cli_env& env) {
  struct args_t {
    std::string name, args = "{}", queue, lock, at, policy, key, address, data_dir,
      output = "table", after, trigger = "all_success";
    tls_flags tls;
    limits lim;
    std::vector<std::string> limit_keys;
    int32_t priority = 0;
    double in = 0, time_limit = 0;
    bool wait = false;
  };
  auto a = std::make_shared<args_t>();
  auto* cmd = app.add_subcommand("submit", "Submit a task by name");
  cmd->footer(R"(Prints the task id once the task is durably QUEUED. With --wait, waits for
the final state and exits 0 for SUCCEEDED, 1 otherwise. Bad input (JSON that
is invalid, too big, too deep or holds \u0000; an empty --lock or --queue; a
time that is not a finite number) is refused with exit code 2 before anything
is sent.
Examples:
  taskrt submit echo --args '{"hello":"world"}' --wait
  taskrt submit echo --args @big-input.json          # from a file
  generate-input | taskrt submit echo --args -       # from stdin
  taskrt submit charge --args '{"order":42}' --key order-42   # at most one task per key
  taskrt submit fail --args '{"kind":"std::runtime_error","times":2}' --policy '{"retries":3,"wait":1}'
  taskrt submit sleep --args '{"ms":5000}' --in 30 --priority 5 --lock account-42
  taskrt submit echo -o json
  taskrt submit echo --limit api.github --limit 'tenant:{args.tenant}' --args '{"tenant":"acme"}'
  taskrt submit collect --after 12,13 --trigger all_done   # WAITING until 12 and 13 end)");
  cmd->add_option("name", a->name, "Registered task name")->required();
  cmd->add_option("--args", a->args,
                  "JSON arguments, @FILE to read them from a file, or - for stdin")
    ->capture_default_str();
  auto* queue = cmd->add_option("--queue", a->queue,
                                "Queue (default: the task's, else \"default\")");
  cmd->add_option("--priority", a->priority, "Higher runs first (-1000000 to 1000000)")
    ->capture_default_str();
  auto* lock = cmd->add_option("--lock", a->lock, "At most one RUNNING task per lock");
  cmd->add_option("--key", a->key,
                  "Idempotency key: a second submit with the same key creates nothing and "
                  "prints the first task's id");
  cmd->add_option("--limit", a->limit_keys,
                  "Limit key (repeatable; `taskrt limits`); {args.FIELD} is filled in");
  auto* in = cmd->add_option("--in", a->in, "Start no earlier than SECONDS from now");
  cmd->add_option("--at", a->at, "Start no earlier than an RFC 3339 time")->excludes(in);
  cmd->add_option("--policy", a->policy, "Retry policy JSON (see `taskrt retry-plan --help`)");
  cmd->add_option("--time-limit", a->time_limit, "Per-attempt limit in seconds (0: none)");
  cmd->add_flag("--wait", a->wait, "Wait for the final state");
  auto* after = cmd->add_option("--after", a->after,
                                "Parent task ids, comma-separated: WAITING until their final "
                                "states meet --trigger");
  cmd->add_option("--trigger", a->trigger,
                  "With --after: all_success (default), all_done or any_success")
    ->check(CLI::IsMember({"all_success", "all_done", "any_success"}))
    ->needs(after);
  cmd->add_option("--address", a->address, "Head HOST:PORT (default: from the state file)");
  cmd->add_option("--data-dir", a->data_dir, "Where the head's state file is");
  cmd->add_option("-o,--output", a->output, "table or json")
    ->check(CLI::IsMember({"table", "json"}));
  add_tls_options(cmd, a->tls);
  add_limit_options(cmd, a->lim);
  cmd->callback([&env, a, queue, lock, in, after] {
    if (!apply_limits(a->lim, env))
      return;
    // Given but empty is a mistake (`--lock "$ACCOUNT"` with the variable
    // unset): refused, never read as "none".
    if (lock->count() > 0 && a->lock.empty()) {
      env.exit_code = fail(usage, "--lock: empty (an empty lock would silently drop mutual "
                                  "exclusion; leave out --lock for none)");
      return;
    }
    if (queue->count() > 0 && a->queue.empty()) {
      env.exit_code = fail(usage, "--queue: empty (leave out --queue for the task's queue)");
      return;
    }
    if (!a->policy.empty())
      if (auto p = parse_retry_policy(a->policy); std::holds_alternative<std::string>(p)) {
        env.exit_code = fail(usage, "--policy: " + std::get<std::string>(p));
        return;
      }
    for (auto [value, flag] : {std::pair{a->in, "--in"}, std::pair{a->time_limit, "--time-limit"}})
      if (auto e = check_seconds(value, flag)) {
        env.exit_code = fail(usage, *e);
        return;
      }
    std::string read_err;
    auto text = read_args(a->args, read_err);
    if (!text) {
      env.exit_code = fail(usage, read_err);
      return;
    }
    const std::string what = a->args == "-" ? "--args - (stdin)"
                             : a->args.rfind('@', 0) == 0 ? "--args " + a->args
                                                          : std::string{"--args"};
    if (auto e = check_json_text(*text, what)) {
      env.exit_code = fail(usage, *e);
      return;
    }
    task_spec spec;
    spec.name = a->name;
    spec.args = std::move(*text);
    spec.queue = a->queue;
    spec.priority = a->priority;
    spec.lock = a->lock;
    spec.key = a->key;
    spec.limits = a->limit_keys;
    spec.policy = a->policy;
    spec.time_limit_s = a->time_limit;
    spec.origin = origin();
    if (in->count() > 0)
      spec.run_at_us = to_micros(add_seconds_clamped(now(), a->in));
    if (!a->at.empty()) {
      auto t = parse_run_at(a->at, now());
      if (!t) {
        env.exit_code = fail(usage, error_message(t.error()));
        return;
      }
      spec.run_at_us = to_micros(*t);
    }
    if (after->count() > 0) {
      std::string err;
      auto ids = parse_id_list(a->after, err);
      if (!ids) {
        env.exit_code = fail(usage, "--after: " + err);
        return;
      }
      spec.after = std::move(*ids);
      spec.trigger = parse_trigger_rule(a->trigger).value_or(trigger_rule::all_success);
      if (auto e = sched::check_parents(spec.after, 0)) {
        env.exit_code = fail(usage, "--" + *e);
        return;
      }
    }
    if (spec.priority < -1'000'000 || spec.priority > 1'000'000) {
      env.exit_code = fail(usage, "--priority: must be from -1000000 to 1000000");
      return;
    }
    // The same checks the client and the head run, named after the flags.
    if (auto e = check_task_spec(spec)) {
      env.exit_code = fail(usage, *e);
      return;
    }
    std::string err;
    auto c = connect_to_head(a->address, a->data_dir, a->tls, env, err);
    if (!c) {
      env.exit_code = fail(failed, err);
      return;
    }
    auto id = c->submit(spec);
    if (!id) {
      env.exit_code = fail(taskrt_code(id.error()) == static_cast<uint8_t>(errc::bad_request)
                             ? usage : failed,
                           "submit: " + error_message(id.error()));
      return;
    }
    const bool as_json = a->output == "json";
    if (!a->wait) {
      if (as_json)
        std::printf("%s\n", json{{"id", *id}}.dump().c_str());
      else
        std::printf("%lld\n", static_cast<long long>(*id));
      env.exit_code = ok;
      return;
    }
    if (!as_json)
      std::fprintf(stderr, "task %lld queued; waiting...\n", static_cast<long long>(*id));
    auto out = c->await(*id);
    if (!out) {
      env.exit_code = fail(failed, "await: " + error_message(out.error()));
      return;
    }
    auto parse = [](const std::string& s) {
      return s.empty() ? json(nullptr) : json::parse(s, nullptr, false);
    };
    if (as_json) {
      json j = json::object();
      j["id"] = out->id;
      j["state"] = to_string(out->state);
      j["attempt"] = out->attempt;
      j["result"] = parse(out->result);
      j["error"] = parse(out->error);
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%lld %s after %d attempt(s)\n", static_cast<long long>(out->id),
                  to_string(out->state), out->attempt);
      if (!out->result.empty())
        std::printf("result: %s\n", out->result.c_str());
      if (!out->error.empty() && out->state != task_state::succeeded)
        std::printf("error: %s\n", out->error.c_str());
    }
    env.exit_code = out->state == task_state::succeeded ? ok : failed;
  });
}

void add_worker_process_command(CLI::App& app, cli_env& env) {
  auto* cmd = app.add_subcommand("worker-process", "");
  cmd->group(""); // hidden: started by the head, never by people
  auto lim = std::make_shared<limits>();
  add_limit_options(cmd, *lim); // the node's limits, passed on by spawn_workers
  cmd->callback([&env, lim] {
    if (apply_limits(*lim, env))
      env.exit_code = run_worker_process(env.tasks);
  });
}

} // namespace taskrt::cli

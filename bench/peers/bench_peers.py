#!/usr/bin/env python3
"""taskrt against graphile-worker, side by side on one private Postgres.

Run through scripts/bench-peers (it installs, builds and passes the paths);
`scripts/bench-peers --help` tells the options. Each run gets a database of
its own on the same server, so pg_stat_database.xact_commit counts only that
run's commits. Everything runs on loopback and every wait is bounded.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

CLK_TCK = os.sysconf("SC_CLK_TCK")
PEERS = ["taskrt", "taskrt-actor", "taskrt-2nodes", "gw-tuned", "gw-batched", "gw-default"]
# taskrt-actor: examples/fanout_actor, one submit request per task and one
# await per id from a C++ actor (end to end only).
SCENARIOS = ["e2e", "drain", "latency"]


class BenchError(Exception):
    """A run that could not be measured (the message says why)."""


def log(msg):
    print(f"bench-peers: {msg}", file=sys.stderr, flush=True)


# -- /proc --------------------------------------------------------------------

def proc_stat(pid):
    """(ppid, utime+stime, cutime+cstime) in seconds, or None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK,
            (int(fields[13]) + int(fields[14])) / CLK_TCK)


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] == pid:
                out.append(int(d))
    return out


def cpu(pid):
    st = proc_stat(pid)
    return st[1] if st else 0.0


def cpu_children(pid):
    return sum(cpu(c) for c in children(pid))


def cpu_tree_with_reaped(pid):
    """A process, the children it reaped, and its live children (Postgres)."""
    st = proc_stat(pid)
    if not st:
        return 0.0
    return st[1] + st[2] + cpu_children(pid)


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# -- Postgres -------------------------------------------------------------------

class Postgres:
    """The server every run uses; one database per run."""

    def __init__(self, root, work, dsn):
        self.root, self.own = root, dsn is None
        self.dir = os.path.join(work, "pg")
        if self.own:
            dsn = subprocess.run([os.path.join(root, "scripts/pg"), "start", self.dir],
                                 check=True, capture_output=True, text=True).stdout.strip()
        self.dsn = dsn
        self.postmaster = None
        self.queries = {}  # our own transactions per database, not the peer's
        if self.own:
            with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
                self.postmaster = int(f.readline())

    def db_dsn(self, db):
        u = urllib.parse.urlsplit(self.dsn)
        return urllib.parse.urlunsplit(u._replace(path="/" + db))

    def psql(self, sql, db="postgres"):
        self.queries[db] = self.queries.get(db, 0) + 1
        r = subprocess.run(["psql", self.db_dsn(db), "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise BenchError(f"psql: {r.stderr.strip()}")
        return r.stdout.strip()

    def create(self, db):
        self.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{db}"')

    def drop(self, db):
        self.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    def commits(self, db):
        """Commits in `db` less our own queries there. Read it when no client
        of `db` is connected: a backend publishes its counters when it exits
        (a busy or idle one only every few seconds)."""
        time.sleep(0.3)
        n = int(self.psql(f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{db}'"))
        return n - self.queries.get(db, 0)

    def cpu(self):
        return cpu_tree_with_reaped(self.postmaster) if self.postmaster else None

    def stop(self):
        if self.own:
            subprocess.run([os.path.join(self.root, "scripts/pg"), "stop", self.dir, "--remove"],
                           capture_output=True)


# -- processes ------------------------------------------------------------------

class Proc:
    """A child process with its log file; stopped by SIGTERM, then SIGKILL."""

    def __init__(self, name, argv, work, env=None, stdout_pipe=False):
        self.name = name
        self.log_path = os.path.join(work, name + ".log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout_pipe else self.log,
                                  stderr=self.log, env=env, text=True)
        self.pid = self.p.pid
        self.rusage_cpu = None

    def wait(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.rusage_cpu = ru.ru_utime + ru.ru_stime
                self.p.returncode = os.waitstatus_to_exitcode(status)
                return self.p.returncode
            time.sleep(0.02)
        raise BenchError(f"{self.name} still running after {timeout:.0f} s (log: {self.log_path})")

    def output(self, timeout):
        """Everything it printed on stdout, once it exited (0 or BenchError)."""
        out = self.p.stdout.read() if self.p.stdout else ""
        rc = self.wait(timeout)
        if rc != 0:
            raise BenchError(f"{self.name} exited {rc}: {self.tail()}")
        return out

    def tail(self):
        self.log.flush()
        with open(self.log_path) as f:
            lines = [l.strip() for l in f if l.strip()]
        return " | ".join(lines[-3:])

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.p.returncode is not None:
            return
        try:
            os.kill(self.pid, sig)
            self.wait(timeout)
        except (ProcessLookupError, ChildProcessError):
            pass
        except BenchError:
            os.kill(self.pid, signal.SIGKILL)
            self.wait(10)


def last_json(text, what):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise BenchError(f"{what} printed no JSON line")


def now_us():
    return int(time.time() * 1e6)


def percentiles(values):
    if not values:
        return None
    v = sorted(values)
    pick = lambda p: v[min(len(v) - 1, max(0, -(-len(v) * p // 100) - 1))]
    return {"n": len(v), "p50": pick(50), "p99": pick(99), "max": v[-1]}


# -- taskrt -------------------------------------------------------------------------

class Taskrt:
    """taskrt heads and worker nodes, and the taskrt_bench client."""

    def __init__(self, args, pg, work):
        self.a, self.pg, self.work = args, pg, work
        self.bin = os.path.join(args.bin_dir, "taskrt")
        self.client = os.path.join(args.bin_dir, "taskrt_bench")
        self.fanout = os.path.join(args.bin_dir, "fanout_actor")
        self.cores = os.cpu_count() or 2

    def start_head(self, db, tag, workers=None):
        data = os.path.join(self.work, tag)
        os.makedirs(data, exist_ok=True)
        state = os.path.join(data, "head.json")
        if os.path.exists(state):
            os.unlink(state)
        argv = [self.bin, "start", "--head", "--db", self.pg.db_dsn(db), "--data-dir", data,
                "--port", "0"]  # any free port: the state file says which
        if workers is None and self.a.workers is not None:
            workers = self.a.workers
        if workers is not None:
            argv += ["--workers", str(workers)]
        head = Proc(tag, argv, self.work)
        deadline = time.time() + 60
        while time.time() < deadline:
            if head.p.poll() is not None:
                raise BenchError(f"the head exited {head.p.returncode}: {head.tail()}")
            try:
                with open(state) as f:
                    head.port = json.load(f)["port"]
                return head
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        head.stop(signal.SIGKILL)
        raise BenchError(f"the head wrote no {state} within 60 s: {head.tail()}")

    def start_nodes(self, head, count):
        return [Proc(f"node{i}-{head.name}",
                     [self.bin, "start", "--address", f"127.0.0.1:{head.port}",
                      "--node-id", f"bench-node{i}",
                      *(["--workers", str(self.a.workers)] if self.a.workers else [])], self.work)
                for i in range(1, count + 1)]

    def run_client(self, name, head, mode, *extra, timeout=3600):
        p = Proc(name, [self.client, "--address", f"127.0.0.1:{head.port}", mode,
                        "--timeout", str(int(self.a.timeout)), *extra], self.work,
                 stdout_pipe=True)
        out = last_json(p.output(timeout), name)
        out["client_cpu_s"] = p.rusage_cpu
        return out

    def run_fanout(self, name, head, n, origin, timeout=3600):
        p = Proc(name, [self.fanout, "--address", f"127.0.0.1:{head.port}", "--tasks", str(n),
                        "--origin", origin], self.work, stdout_pipe=True)
        out = last_json(p.output(timeout), name)
        if out.get("succeeded") != n:
            raise BenchError(f"fanout_actor: {out.get('succeeded')} of {n} SUCCEEDED")
        out["client_cpu_s"] = p.rusage_cpu
        return out

    def expected_workers(self, nodes):
        return (self.a.workers or self.cores) * (nodes if nodes else 1)

    def check_succeeded(self, db, origin, n, t0_us):
        """Waits (bounded) until n tasks of `origin` are SUCCEEDED in the
        journal. 0 when they already were at the first look (the client's
        done_us ends the run), else when they were seen (that ends it)."""
        deadline = time.time() + 60
        first = True
        while True:
            got = int(self.pg.psql(f"SELECT count(*) FROM tasks WHERE origin = '{origin}' "
                                   "AND state = 'SUCCEEDED'", db))
            if got >= n:
                return 0 if first else now_us()
            first = False
            if time.time() > deadline:
                raise BenchError(f"only {got} of {n} tasks SUCCEEDED in the journal")
            time.sleep(0.05)

    def run(self, peer, scenario, n):
        nodes = 2 if peer == "taskrt-2nodes" else 0
        db = f"bench_{peer.replace('-', '_')}_{scenario}"
        self.pg.create(db)
        procs = []
        try:
            c0 = self.pg.commits(db)
            r = self._run(peer, scenario, n, nodes, db, procs)
            for p in reversed(procs):
                p.stop()
            # Includes the head's start (schema check) and stop: a few commits.
            r["commits_per_task"] = (self.pg.commits(db) - c0) / r["tasks"]
            return r
        finally:
            for p in reversed(procs):
                p.stop()
            self.pg.drop(db)

    def _run(self, peer, scenario, n, nodes, db, procs):
        origin = f"bench-{scenario}"
        want = self.expected_workers(nodes)
        head_workers = 0 if nodes or scenario == "drain" else None
        head = self.start_head(db, f"head-{peer}-{scenario}", head_workers)
        procs.append(head)
        node_procs = []
        if nodes and scenario != "drain":
            node_procs = self.start_nodes(head, nodes)
            procs.extend(node_procs)
        r = {"peer": peer, "scenario": scenario, "tasks": n}
        client_cpu = 0.0
        if scenario == "drain":
            # Queue first (a head without workers), then let the workers start.
            out = self.run_client("client-queue", head, "submit", "--tasks", str(n),
                                  "--batch", str(self.a.batch), "--origin", origin,
                                  "--min-workers", "0")
            client_cpu += out["client_cpu_s"]
            if nodes:
                base = self.sample(head, node_procs)
                t0 = now_us()
                node_procs = self.start_nodes(head, nodes)
                procs.extend(node_procs)
            else:
                head.stop(signal.SIGKILL)  # the queue stays in the journal (acknowledged = committed)
                procs.remove(head)
                base = {"head": 0.0, "workers": 0.0, "nodes": 0.0, "pg": self.pg.cpu()}
                t0 = now_us()
                head = self.start_head(db, f"head-{peer}-{scenario}-2")
                procs.append(head)
            out = self.run_client("client-idle", head, "idle", "--min-workers", str(want))
            client_cpu += out["client_cpu_s"]
        else:
            if scenario == "latency":
                n = int(self.a.rate * self.a.seconds)
                r["tasks"] = n
            # The clock starts once every worker is ready (the client waits).
            self.run_client("client-ready", head, "idle", "--min-workers", str(want))
            base = self.sample(head, node_procs)
            t0 = now_us()
            if peer == "taskrt-actor":
                out = self.run_fanout("client-fanout", head, n, origin)
            elif scenario == "e2e":
                out = self.run_client("client-e2e", head, "submit", "--tasks", str(n), "--wait",
                                      "--batch", str(self.a.batch), "--origin", origin,
                                      "--min-workers", "0")
            else:
                out = self.run_client("client-rate", head, "rate", "--rate", str(self.a.rate),
                                      "--seconds", str(self.a.seconds), "--origin", origin,
                                      "--min-workers", "0")
            client_cpu += out["client_cpu_s"]
        end = max(out["done_us"], self.check_succeeded(db, origin, n, t0))
        after = self.sample(head, node_procs)
        r["seconds"] = (end - t0) / 1e6
        r["per_s"] = n / r["seconds"]
        if scenario == "drain":
            # From the moment the head had recovered and every worker was up.
            r["ready_s"] = (out["ready_us"] - t0) / 1e6
            r["per_s_after_ready"] = n / max(1e-6, (end - out["ready_us"]) / 1e6)
        r["cpu_s"] = {k: (after[k] - base[k]) if after[k] is not None and base[k] is not None
                      else None for k in after}
        r["cpu_s"]["client"] = client_cpu
        r["head_peak_rss_mb"] = (status_kb(head.pid, "VmHWM") or 0) / 1024
        if scenario == "latency":
            r["submit_s"] = out["submit_s"]  # how long submitting at the rate took
            rows = self.pg.psql(
                f"SELECT (result->>'started_us')::bigint - (args->>'t0')::bigint FROM tasks "
                f"WHERE origin = '{origin}' AND state = 'SUCCEEDED'", db)
            r["latency_ms"] = percentiles([int(x) / 1000 for x in rows.split()])
            r["latency_stages_ms"] = self.latency_stages(db, origin)
        return r

    def latency_stages(self, db, origin):
        """Where enqueue->start went, per task, from the journal's own times:
        client_to_head = the head took the submit (the submit event's `at`,
        set before the commit) less t0; head_to_dispatch = the start
        transition's `at` (set when the attempt is dispatched, after the
        submit committed; the first one, should a task start twice) less that; dispatch_to_start = the task's own
        start less the dispatch (worker actor, pipe, worker process)."""
        rows = self.pg.psql(
            "SELECT (extract(epoch FROM q.at) * 1e6)::bigint - (t.args->>'t0')::bigint,"
            " (extract(epoch FROM r.at) * 1e6)::bigint - (extract(epoch FROM q.at) * 1e6)::bigint,"
            " (t.result->>'started_us')::bigint - (extract(epoch FROM r.at) * 1e6)::bigint"
            " FROM tasks t"
            " JOIN (SELECT task_id, min(at) AS at FROM task_events WHERE kind = 'submit'"
            "       GROUP BY task_id) q ON q.task_id = t.id"
            " JOIN (SELECT task_id, min(at) AS at FROM task_events WHERE kind = 'start'"
            "       GROUP BY task_id) r ON r.task_id = t.id"
            f" WHERE t.origin = '{origin}' AND t.state = 'SUCCEEDED'", db)
        cols = [[], [], []]
        for line in rows.split():
            for i, x in enumerate(line.split("|")):
                cols[i].append(int(x) / 1000)
        names = ["client_to_head", "head_to_dispatch", "dispatch_to_start"]
        out = {n: percentiles(c) for n, c in zip(names, cols)}
        log("taskrt enqueue->start by stage (ms, p50/p99): " + ", ".join(
            f"{n} {v['p50']:.2f}/{v['p99']:.2f}" for n, v in out.items() if v))
        return out

    def sample(self, head, node_procs):
        return {"head": cpu(head.pid), "workers": cpu_children(head.pid),
                "nodes": sum(cpu(p.pid) + cpu_children(p.pid) for p in node_procs),
                "pg": self.pg.cpu()}


# -- graphile-worker ----------------------------------------------------------------

class Graphile:
    """graphile-worker 0.17 (npm) run by bench/peers/graphile_bench.js."""

    def __init__(self, args, pg, work):
        self.a, self.pg, self.work = args, pg, work
        self.script = os.path.join(args.root, "bench", "peers", "graphile_bench.js")

    def env(self, db):
        e = dict(os.environ)
        e["DATABASE_URL"] = self.pg.db_dsn(db)
        e["GRAPHILE_WORKER_DIR"] = self.a.gw_dir
        return e

    def node(self, name, db, *argv, pipe=True):
        return Proc(name, ["node", self.script, *argv], self.work, env=self.env(db),
                    stdout_pipe=pipe)

    def start_worker(self, db, n, variant, scenario):
        flags = {"gw-tuned": ["--tuned"], "gw-batched": ["--tuned", "--batched"]}.get(variant, [])
        w = self.node(f"gw-worker-{scenario}", db, "run", "--jobs", str(n),
                      "--timeout", str(int(self.a.timeout)), *flags)
        deadline = time.time() + 60
        while "worker ready" not in open(w.log_path).read():
            if w.p.poll() is not None or time.time() > deadline:
                raise BenchError(f"graphile-worker did not start: {w.tail()}")
            time.sleep(0.05)
        return w

    def run(self, peer, scenario, n):
        tuned = peer
        db = f"bench_{peer.replace('-', '_')}_{scenario}"
        self.pg.create(db)
        procs = []
        try:
            self.node("gw-migrate", db, "migrate").output(120)
            r = {"peer": peer, "scenario": scenario, "tasks": n}
            if scenario == "latency":
                n = int(self.a.rate * self.a.seconds)
                r["tasks"] = n
            client_cpu = 0.0
            c0 = self.pg.commits(db)
            if scenario == "drain":
                add = self.node("gw-add-drain", db, "add", "--jobs", str(n), "--batch", str(self.a.batch))
                last_json(add.output(self.a.timeout), "graphile add")
                client_cpu += add.rusage_cpu
                t0 = now_us()
                pg0 = self.pg.cpu()
                w = self.start_worker(db, n, tuned, scenario)
                procs.append(w)
            else:
                w = self.start_worker(db, n, tuned, scenario)
                procs.append(w)
                pg0 = self.pg.cpu()
                t0 = now_us()
                if scenario == "e2e":
                    add = self.node("gw-add-e2e", db, "add", "--jobs", str(n), "--batch", str(self.a.batch))
                else:
                    add = self.node("gw-rate", db, "rate", "--rate", str(self.a.rate),
                                    "--seconds", str(self.a.seconds))
                procs.append(add)
                added = last_json(add.output(self.a.timeout), "graphile add")
                client_cpu += add.rusage_cpu
                r["submit_s"] = added["submit_s"]
                if scenario == "latency":
                    # Awaited addJob calls from a few callers (graphile_bench.js rate).
                    for k in ("submitters", "kept_rate", "max_lag_ms", "add_ms"):
                        r[k] = added[k]
            line = w.p.stdout.readline()  # printed once done, before it stops
            pg1 = self.pg.cpu()
            out = json.loads(line) if line.strip() else None
            if not out or not out.get("done"):
                raise BenchError(f"graphile-worker did not finish: {w.tail()}")
            for p in reversed(procs):
                p.stop()
            r["seconds"] = (out["done_us"] - t0) / 1e6
            r["per_s"] = n / r["seconds"]
            if scenario == "drain":
                # From the first job's start (the worker's own start excluded).
                r["ready_s"] = (out["first_start_us"] - t0) / 1e6
                r["per_s_after_ready"] = n / max(1e-6, (out["done_us"] - out["first_start_us"]) / 1e6)
            # Less the bench's own polls of the jobs table once all had run.
            r["commits_per_task"] = (self.pg.commits(db) - c0 - out["polls"]) / n
            # Its own figures: the process may be gone by the time /proc is read.
            w_cpu = out["cpu_s_total"] if scenario == "drain" else out["cpu_s_since_ready"]
            r["cpu_s"] = {"head": w_cpu, "workers": 0.0, "nodes": 0.0,
                          "pg": (pg1 - pg0) if pg0 is not None else None, "client": client_cpu}
            r["head_peak_rss_mb"] = out["max_rss_kb"] / 1024
            if scenario == "latency":
                r["latency_ms"] = out["latency_ms"]
            return r
        finally:
            for p in reversed(procs):
                p.stop()
            self.pg.drop(db)


# -- soak and queued memory ---------------------------------------------------------

def soak(args, pg, work):
    t = Taskrt(args, pg, work)
    db = "bench_soak"
    pg.create(db)
    head = t.start_head(db, "head-soak")
    try:
        extra = ["--minutes", str(args.soak)] if args.soak else ["--tasks", str(args.soak_tasks)]
        c = Proc("client-soak", [t.client, "--address", f"127.0.0.1:{head.port}", "soak", *extra,
                                 "--interval", str(args.interval), "--origin", "bench-soak",
                                 "--min-workers", str(t.expected_workers(0)),
                                 "--timeout", str(int(args.timeout))], work, stdout_pipe=True)
        rows = []
        print(f"{'t (s)':>8} {'done':>10} {'tasks/s':>9} {'head RSS MB':>12}", flush=True)
        for line in c.p.stdout:
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            row["head_rss_mb"] = (status_kb(head.pid, "VmRSS") or 0) / 1024
            rows.append(row)
            print(f"{row['t_s']:>8.1f} {row['done']:>10} {row['per_s']:>9.0f} "
                  f"{row['head_rss_mb']:>12.1f}", flush=True)
        if c.wait(args.timeout) != 0:
            raise BenchError(f"soak client failed: {c.tail()}")
        # Whole intervals only: the last one ends when the work does.
        full = [r for r in rows if r["interval_s"] >= args.interval * 0.9 and not r["tail"]]
        res = {"bench": "soak", "intervals": rows,
               "head_peak_rss_mb": (status_kb(head.pid, "VmHWM") or 0) / 1024}
        if len(full) >= 2:
            first, last = full[0], full[-1]
            res.update(first_per_s=first["per_s"], last_per_s=last["per_s"],
                       rate_change_pct=100 * (last["per_s"] - first["per_s"]) / first["per_s"],
                       rss_first_mb=first["head_rss_mb"], rss_last_mb=last["head_rss_mb"])
            log(f"soak: tasks/s {first['per_s']:.0f} -> {last['per_s']:.0f} "
                f"({res['rate_change_pct']:+.1f}%), head RSS {first['head_rss_mb']:.0f} -> "
                f"{last['head_rss_mb']:.0f} MB (first -> last whole interval under load)")
        return res
    finally:
        head.stop()
        pg.drop(db)


def soak_actor(args, pg, work):
    """One head, `soak_actor` rounds of fanout_actor (one submit request per
    task, one await per id): head RSS and tasks/s after each round."""
    t = Taskrt(args, pg, work)
    db = "bench_soak_actor"
    n = args.soak_tasks or 25000
    pg.create(db)
    head = t.start_head(db, "head-soak-actor")
    try:
        t.run_client("client-ready", head, "idle", "--min-workers", str(t.expected_workers(0)))
        rows = []
        print(f"{'round':>5} {'tasks':>7} {'tasks/s':>9} {'head RSS MB':>12} {'head CPU s':>10}", flush=True)
        for k in range(1, args.soak_actor + 1):
            c0 = cpu(head.pid)
            out = t.run_fanout(f"client-fanout-{k}", head, n, f"soak-{k}")
            row = {"round": k, "tasks": n, "per_s": out["per_s"],
                   "head_rss_mb": (status_kb(head.pid, "VmRSS") or 0) / 1024,
                   "head_cpu_s": cpu(head.pid) - c0}
            rows.append(row)
            print(f"{k:>5} {n:>7} {row['per_s']:>9.0f} {row['head_rss_mb']:>12.1f} "
                  f"{row['head_cpu_s']:>10.2f}", flush=True)
        first, last = rows[0], rows[-1]
        res = {"bench": "soak-actor", "rounds": rows,
               "head_peak_rss_mb": (status_kb(head.pid, "VmHWM") or 0) / 1024,
               "rate_change_pct": 100 * (last["per_s"] - first["per_s"]) / first["per_s"],
               "rss_change_pct": 100 * (last["head_rss_mb"] - first["head_rss_mb"]) / first["head_rss_mb"]}
        log(f"soak-actor: tasks/s {first['per_s']:.0f} -> {last['per_s']:.0f} "
            f"({res['rate_change_pct']:+.1f}%), head RSS {first['head_rss_mb']:.0f} -> "
            f"{last['head_rss_mb']:.0f} MB ({res['rss_change_pct']:+.1f}%), first -> last round")
        return res
    finally:
        head.stop()
        pg.drop(db)


def queued(args, pg, work, n):
    t = Taskrt(args, pg, work)
    db = f"bench_queued_{n}"
    pg.create(db)
    head = t.start_head(db, f"head-queued-{n}", 0)
    try:
        rss0 = (status_kb(head.pid, "VmRSS") or 0) / 1024
        log(f"queueing {n} tasks on a head without workers")
        out = t.run_client("client-queued", head, "submit", "--tasks", str(n),
                           "--origin", "bench-queued", "--min-workers", "0")
        time.sleep(2)
        rss = (status_kb(head.pid, "VmRSS") or 0) / 1024
        hwm = (status_kb(head.pid, "VmHWM") or 0) / 1024
        head.stop(signal.SIGKILL)
        t0 = time.time()
        head2 = t.start_head(db, f"head-queued-{n}-2", 0)
        try:
            ping = last_json(Proc("client-ping", [t.client, "--address", f"127.0.0.1:{head2.port}",
                                                  "ping", "--timeout", str(int(args.timeout))],
                                  work, stdout_pipe=True).output(args.timeout), "ping")
            serving = time.time() - t0
            rss2 = (status_kb(head2.pid, "VmRSS") or 0) / 1024
        finally:
            head2.stop(signal.SIGKILL)
        return {"bench": "queued", "tasks": n, "submit_s": out["submit_s"],
                "head_rss_empty_mb": rss0, "head_rss_queued_mb": rss, "head_peak_rss_mb": hwm,
                "kb_per_task": (rss - rss0) * 1024 / n,
                "serving_after_kill9_s": serving, "ping_s": ping["serving_after_s"],
                "head_rss_after_restart_mb": rss2}
    finally:
        head.stop(signal.SIGKILL)
        pg.drop(db)


# -- output ----------------------------------------------------------------------------

def fmt(x, spec):
    return format(x, spec) if isinstance(x, (int, float)) else "-"


def table(runs):
    ref = {r["scenario"]: r["per_s"] for r in runs if r["peer"] == "gw-tuned" and "per_s" in r}
    head = (f"{'peer':<14} {'scenario':<8} {'tasks':>7} {'s':>7} {'tasks/s':>8} {'x gw-t':>6} "
            f"{'commit/t':>8} {'cpu head':>8} {'workers':>7} {'pg':>6} {'client':>6} "
            f"{'RSS MB':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    lines = [head, "-" * len(head)]
    for r in runs:
        if "skipped" in r:
            lines.append(f"{r['peer']:<14} {r['scenario']:<8} skipped: {r['skipped']}")
            continue
        c, lat = r["cpu_s"], r.get("latency_ms") or {}
        ratio = r["per_s"] / ref[r["scenario"]] if r["scenario"] in ref else None
        lines.append(
            f"{r['peer']:<14} {r['scenario']:<8} {r['tasks']:>7} {r['seconds']:>7.2f} "
            f"{r['per_s']:>8.0f} {fmt(ratio, '6.2f'):>6} {r['commits_per_task']:>8.3f} "
            f"{fmt(c['head'], '8.1f'):>8} {fmt((c['workers'] or 0) + (c['nodes'] or 0), '7.1f'):>7} "
            f"{fmt(c['pg'], '6.1f'):>6} {fmt(c['client'], '6.1f'):>6} "
            f"{r['head_peak_rss_mb']:>7.0f} {fmt(lat.get('p50'), '7.2f'):>7} "
            f"{fmt(lat.get('p99'), '7.2f'):>7} {fmt(lat.get('max'), '7.1f'):>7}")
    return "\n".join(lines)


def markdown(runs):
    """The table as Markdown, for docs/performance.md."""
    ref = {r["scenario"]: r["per_s"] for r in runs if r["peer"] == "gw-tuned" and "per_s" in r}
    out = ["| peer | scenario | tasks | s | tasks/s | × gw-tuned | commits/task | CPU s head "
           "(gw: worker) | CPU s workers | CPU s Postgres | CPU s client | peak RSS MB | "
           "p50 ms | p99 ms | max ms |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in runs:
        if "per_s" not in r:
            why = r.get("skipped") or r.get("failed")
            out.append(f"| {r['peer']} | {r['scenario']} | {why} |" + " |" * 12)
            continue
        c, lat = r["cpu_s"], r.get("latency_ms") or {}
        ratio = r["per_s"] / ref[r["scenario"]] if r["scenario"] in ref else None
        out.append(
            f"| {r['peer']} | {r['scenario']} | {r['tasks']} | {r['seconds']:.2f} | {r['per_s']:.0f} | "
            f"{fmt(ratio, '.2f')} | {r['commits_per_task']:.3f} | {fmt(c['head'], '.1f')} | "
            f"{fmt((c['workers'] or 0) + (c['nodes'] or 0), '.1f')} | {fmt(c['pg'], '.1f')} | "
            f"{fmt(c['client'], '.1f')} | {r['head_peak_rss_mb']:.0f} | {fmt(lat.get('p50'), '.2f')} | "
            f"{fmt(lat.get('p99'), '.2f')} | {fmt(lat.get('max'), '.1f')} |")
    return "\n".join(out)


def ratios(runs):
    by = {(r["peer"], r["scenario"]): r for r in runs if "per_s" in r}
    out = {}
    if ("taskrt-actor", "e2e") in by and ("taskrt", "e2e") in by:
        out["taskrt-actor/taskrt e2e"] = round(by[("taskrt-actor", "e2e")]["per_s"]
                                               / by[("taskrt", "e2e")]["per_s"], 3)
    for (peer, sc), r in by.items():
        for gw in ("gw-tuned", "gw-batched"):
            ref = by.get((gw, sc))
            if ref and peer.startswith("taskrt"):
                out[f"{peer}/{gw} {sc}"] = round(r["per_s"] / ref["per_s"], 3)
    return out


def plot(runs, path, work):
    data = os.path.join(work, "plot.dat")
    peers = [p for p in PEERS if any(r["peer"] == p and "per_s" in r for r in runs)]
    with open(data, "w") as f:
        for p in peers:
            vals = []
            for sc in SCENARIOS[:2]:
                r = next((r for r in runs if r["peer"] == p and r["scenario"] == sc and "per_s" in r), None)
                vals.append(f"{r['per_s']:.0f}" if r else "0")
            f.write(f"{p} " + " ".join(vals) + "\n")
    lat = os.path.join(work, "lat.dat")
    with open(lat, "w") as f:
        for p in peers:
            r = next((r for r in runs if r["peer"] == p and r["scenario"] == "latency"
                      and r.get("latency_ms")), None)
            if r:
                f.write(f"{p} {r['latency_ms']['p50']:.3f} {r['latency_ms']['p99']:.3f}\n")
    script = f"""
set terminal pngcairo size 1100,450 font ",10"
set output "{path}"
set multiplot layout 1,2 title "taskrt vs graphile-worker 0.17 (one run, one 2-core machine, shared)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key above horizontal
set grid ytics
set xtics rotate by -25
set yrange [0:*]
set ylabel "tasks/s"
set title "throughput ({runs[0]['tasks'] if runs else ''} no-op tasks)"
plot "{data}" using 2:xtic(1) title "end to end", "" using 3 title "drain"
set title "enqueue to start at 1k/s offered"
set ylabel "ms (log)"
set yrange [*:*]
set logscale y
plot "{lat}" using 2:xtic(1) title "p50", "" using 3 title "p99"
unset multiplot
"""
    gp = os.path.join(work, "plot.gp")
    with open(gp, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"gnuplot: {r.stderr.strip()}")


# -- main ------------------------------------------------------------------------------------

def parse():
    ap = argparse.ArgumentParser(
        prog="scripts/bench-peers",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="taskrt and graphile-worker 0.17 side by side on one private Postgres "
                    "(fsync on): end to end, drain, and enqueue->start latency at a fixed rate; "
                    "tasks/s, commits per task, CPU seconds per process, peak RSS.",
        epilog="""examples:
  scripts/bench-peers                              # 20000 tasks, all peers, 10 s at 1k/s
  scripts/bench-peers --tasks 50000 --plot perf.png
  scripts/bench-peers --peers taskrt,gw-tuned --scenarios e2e -o json
  scripts/bench-peers --soak 10                    # head RSS and tasks/s per interval
  scripts/bench-peers --soak-actor 6               # the per-task actor path: 6 rounds of 25000
  scripts/bench-peers --queued 100000              # head RSS with 100k QUEUED, restart after kill -9
exit codes: 0 measured, 1 a run failed, 2 usage error""")
    ap.add_argument("--tasks", type=int, default=20000, help="tasks per throughput run (default 20000)")
    ap.add_argument("--batch", type=int, default=1000, help="tasks per submit / addJobs call (default 1000)")
    ap.add_argument("--rate", type=float, default=1000, help="offered tasks/s in the latency run (default 1000)")
    ap.add_argument("--seconds", type=float, default=10, help="length of the latency run (default 10)")
    ap.add_argument("--peers", default="taskrt,taskrt-actor,taskrt-2nodes,gw-tuned,gw-batched",
                    help=f"comma-separated, from {','.join(PEERS)} (default: all but gw-default)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="e2e,drain,latency (default: all)")
    ap.add_argument("--workers", type=int, help="taskrt worker processes per head or node "
                    "(default: the taskrt default, one per core)")
    ap.add_argument("--plot", metavar="PNG", help="draw tasks/s and latency with gnuplot")
    ap.add_argument("--soak", type=float, metavar="MINUTES", help="soak mode for MINUTES instead")
    ap.add_argument("--soak-tasks", type=int, metavar="N", help="soak mode for N tasks instead")
    ap.add_argument("--soak-actor", type=int, metavar="ROUNDS",
                    help="soak of the per-task actor path instead: ROUNDS rounds of fanout_actor "
                         "(--soak-tasks per round, default 25000) on one head; RSS and tasks/s per round")
    ap.add_argument("--interval", type=float, default=10, help="soak report interval in s (default 10)")
    ap.add_argument("--queued", metavar="N[,N]", help="queued-memory mode: head RSS with N QUEUED tasks")
    ap.add_argument("--dsn", help="use this Postgres server (one database per run is created on it)")
    ap.add_argument("--timeout", type=float, default=900, help="bound of any wait in s (default 900)")
    ap.add_argument("-o", "--output", choices=["table", "json", "markdown"], default="table",
                    help="table (and the JSON line), json (the line only), markdown (and the line)")
    ap.add_argument("--root", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--bin-dir", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--gw-dir", default="", help=argparse.SUPPRESS)
    ap.add_argument("--gw-skip", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.peers = [p for p in a.peers.split(",") if p]
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    bad = [p for p in a.peers if p not in PEERS] + [s for s in a.scenarios if s not in SCENARIOS]
    if bad or a.tasks <= 0 or a.batch <= 0 or a.rate <= 0 or a.seconds <= 0 \
            or (a.workers is not None and a.workers <= 0):
        ap.error(f"unknown peer or scenario {bad}" if bad else "counts must be positive")
    return a


def main():
    a = parse()
    work = tempfile.mkdtemp(prefix="taskrt-bench-peers.")
    os.chmod(work, 0o755)  # the postgres user runs the private server inside
    pg = Postgres(a.root, work, a.dsn)
    rc = 0
    load0 = os.getloadavg()[0]
    try:
        if a.soak_actor:
            res = soak_actor(a, pg, work)
            print(json.dumps(res))
            return 0
        if a.soak or a.soak_tasks:
            res = soak(a, pg, work)
            print(json.dumps(res))
            return 0
        if a.queued:
            for n in [int(x) for x in a.queued.split(",")]:
                res = queued(a, pg, work, n)
                log(f"{n} QUEUED: head RSS {res['head_rss_queued_mb']:.0f} MB "
                    f"({res['kb_per_task']:.2f} KB/task); serving {res['serving_after_kill9_s']:.1f} s "
                    f"after kill -9")
                print(json.dumps(res), flush=True)
            return 0
        runs = []
        tr, gw = Taskrt(a, pg, work), Graphile(a, pg, work)
        for sc in a.scenarios:
            for peer in a.peers:
                if peer == "taskrt-actor" and sc != "e2e":
                    continue  # the actor path is measured end to end only
                if peer.startswith("gw") and a.gw_skip:
                    runs.append({"peer": peer, "scenario": sc, "skipped": a.gw_skip})
                    continue
                log(f"{peer} {sc} ...")
                try:
                    r = (tr if peer.startswith("taskrt") else gw).run(peer, sc, a.tasks)
                    log(f"{peer} {sc}: {r['per_s']:.0f} tasks/s, {r['commits_per_task']:.3f} commits/task")
                except BenchError as e:
                    log(f"{peer} {sc} FAILED: {e}")
                    r = {"peer": peer, "scenario": sc, "failed": str(e)}
                    rc = 1
                runs.append(r)
        if a.gw_skip:
            log(f"graphile-worker was skipped: {a.gw_skip}")
        if a.output == "markdown":
            print(markdown(runs))
        if a.output == "table":
            print(table([r for r in runs if "failed" not in r]))
            for r in runs:
                if "failed" in r:
                    print(f"{r['peer']} {r['scenario']}: FAILED: {r['failed']}")
        result = {"bench": "peers", "tasks": a.tasks, "batch": a.batch, "rate": a.rate,
                  "seconds": a.seconds, "cores": os.cpu_count(),
                  "load_avg_start": load0, "runs": runs, "ratios": ratios(runs),
                  "peer_skipped": a.gw_skip or None}
        result["load_avg_end"] = os.getloadavg()[0]
        print(json.dumps(result), flush=True)
        if a.plot:
            plot([r for r in runs if "per_s" in r], os.path.abspath(a.plot), work)
            log(f"plot written to {a.plot}")
        return rc
    except BenchError as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        pg.stop()
        if os.environ.get("BENCH_KEEP_WORK"):
            log(f"logs kept in {work}")
        else:
            subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A taskrt head with many simulated worker nodes (taskrt_node_sim).

Run through scripts/bench-nodes (it builds and passes the paths);
`scripts/bench-nodes --help` tells the options. For each node count: a fresh
database and a head without workers; the simulated nodes connect (one actor
system and one TCP connection each, spread over processes of --per-process
nodes), register and heartbeat; the head's CPU is read from /proc while they
only heartbeat, then N noop tasks are submitted in batches while the nodes
return results at once (or after --delay-ms), and the rate is measured end to
end. The TCP connections are counted at the head's port in /proc/net/tcp, not
taken from the simulator's word. Every wait is bounded.
"""
import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_peers import (BenchError, Postgres, Proc, Taskrt, cpu, now_us,  # noqa: E402
                         status_kb)


def log(msg):
    print(f"bench-nodes: {msg}", file=sys.stderr, flush=True)


def established_at(port):
    """ESTABLISHED TCP connections whose local port is `port` (the head's side)."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


def read_json_line(proc, timeout, what):
    """The next JSON line `proc` prints on stdout, within `timeout` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([proc.p.stdout], [], [], 0.2)
        if ready:
            line = proc.p.stdout.readline()
            if not line:
                break
            if line.startswith("{"):
                return json.loads(line)
        elif proc.p.poll() is not None:
            break
    raise BenchError(f"{what}: no JSON line within {timeout:.0f} s: {proc.tail()}")


def cpu_over(pid, seconds):
    """CPU seconds `pid` used over the next `seconds` of wall time."""
    c0, t0 = cpu(pid), time.time()
    time.sleep(seconds)
    return cpu(pid) - c0, time.time() - t0


def run_nodes(a, pg, work, t, nodes):
    db = f"bench_nodes_{nodes}"
    pg.create(db)
    head, sims = None, []
    try:
        head = t.start_head(db, f"head-nodes-{nodes}", 0)
        time.sleep(1)
        r = {"nodes": nodes, "slots_per_node": a.slots, "prefetch": a.prefetch,
             "delay_ms": a.delay_ms, "tasks": a.tasks}
        c, s = cpu_over(head.pid, a.idle_seconds)
        r["head_cpu_pct_no_nodes"] = 100 * c / s
        log(f"{nodes} nodes: starting the simulated nodes")
        t0 = time.time()
        first = 0
        while first < nodes:
            k = min(a.per_process, nodes - first)
            sims.append(Proc(f"sim-{nodes}-{first}",
                             [os.path.join(a.bin_dir, "taskrt_node_sim"), "--address",
                              f"127.0.0.1:{head.port}", "--nodes", str(k), "--first", str(first),
                              "--slots", str(a.slots), "--prefetch", str(a.prefetch),
                              "--delay-ms", str(a.delay_ms), "--timeout", str(int(a.timeout))],
                             work, stdout_pipe=True))
            first += k
        regs = [read_json_line(p, a.timeout, p.name) for p in sims]
        registered = sum(x["registered"] for x in regs)
        if registered != nodes:
            raise BenchError(f"only {registered} of {nodes} simulated nodes registered: "
                             f"{[x.get('error') for x in regs if x.get('error')]}")
        r["register_s"] = time.time() - t0
        r["sim_processes"] = len(sims)
        r["sim_connect_retries"] = sum(x.get("connect_retries", 0) for x in regs)
        r["sim_threads"] = sum(x["threads"] for x in regs)
        r["sim_rss_mb"] = sum(x["rss_mb"] for x in regs)
        r["tcp_connections"] = established_at(head.port)
        if r["tcp_connections"] != nodes:
            raise BenchError(f"{r['tcp_connections']} TCP connections at the head's port, "
                             f"expected {nodes}")
        time.sleep(2)  # let the registrations' journal writes settle
        sims0 = sum(cpu(p.pid) for p in sims)
        c, s = cpu_over(head.pid, a.idle_seconds)
        r["head_cpu_pct_heartbeats"] = 100 * c / s
        # The simulator's own cost on the same cores (it competes with the head).
        r["sims_cpu_pct_heartbeats"] = 100 * (sum(cpu(p.pid) for p in sims) - sims0) / s
        r["head_rss_mb_idle"] = (status_kb(head.pid, "VmRSS") or 0) / 1024
        log(f"{nodes} nodes: {r['tcp_connections']} TCP connections, head CPU "
            f"{r['head_cpu_pct_heartbeats']:.1f}% while they heartbeat (the simulator "
            f"{r['sims_cpu_pct_heartbeats']:.1f}%)")
        origin = "bench-nodes"
        base = {"head": cpu(head.pid), "sims": sum(cpu(p.pid) for p in sims),
                "pg": pg.cpu()}
        t1 = now_us()
        out = t.run_client("client-nodes", head, "submit", "--tasks", str(a.tasks), "--wait",
                           "--batch", str(a.batch), "--origin", origin,
                           "--min-workers", str(nodes * a.slots))
        end = max(out["done_us"], t.check_succeeded(db, origin, a.tasks, t1))
        r["seconds"] = (end - t1) / 1e6
        r["per_s"] = a.tasks / r["seconds"]
        r["cpu_s"] = {"head": cpu(head.pid) - base["head"],
                      "sims": sum(cpu(p.pid) for p in sims) - base["sims"],
                      "pg": (pg.cpu() - base["pg"]) if base["pg"] is not None else None,
                      "client": out["client_cpu_s"]}
        r["head_peak_rss_mb"] = (status_kb(head.pid, "VmHWM") or 0) / 1024
        for p in sims:
            p.stop(signal.SIGTERM)
        dones = []
        for p in sims:
            rest = p.p.stdout.read() if p.p.stdout else ""
            dones += [json.loads(x) for x in rest.splitlines() if x.startswith("{")]
        r["sim_results"] = sum(d["results"] for d in dones)
        r["sim_heartbeats_ok"] = sum(d["heartbeats_ok"] for d in dones)
        r["sim_head_lost"] = sum(d["head_lost"] for d in dones)
        log(f"{nodes} nodes: {r['per_s']:.0f} tasks/s end to end, head peak RSS "
            f"{r['head_peak_rss_mb']:.0f} MB")
        return r
    finally:
        for p in sims:
            p.stop(signal.SIGKILL)
        if head:
            head.stop()
        pg.drop(db)


def table(runs):
    head = (f"{'nodes':>6} {'TCP conn':>8} {'sim procs':>9} {'head CPU% idle':>14} "
            f"{'head CPU% hb':>12} {'sims CPU% hb':>12} {'RSS MB':>7} {'tasks/s':>8} {'x first':>7} "
            f"{'cpu head':>8} {'sims':>6} {'pg':>6} {'peak RSS':>8}")
    lines = [head, "-" * len(head)]
    ref = runs[0]["per_s"] if runs and "per_s" in runs[0] else None
    for r in runs:
        if "failed" in r:
            lines.append(f"{r['nodes']:>6} FAILED: {r['failed']}")
            continue
        c = r["cpu_s"]
        lines.append(
            f"{r['nodes']:>6} {r['tcp_connections']:>8} {r['sim_processes']:>9} "
            f"{r['head_cpu_pct_no_nodes']:>14.1f} {r['head_cpu_pct_heartbeats']:>12.1f} "
            f"{r['sims_cpu_pct_heartbeats']:>12.1f} "
            f"{r['head_rss_mb_idle']:>7.0f} {r['per_s']:>8.0f} "
            f"{(r['per_s'] / ref if ref else 0):>7.2f} {c['head']:>8.1f} {c['sims']:>6.1f} "
            f"{(c['pg'] or 0):>6.1f} {r['head_peak_rss_mb']:>8.0f}")
    return "\n".join(lines)


def parse():
    ap = argparse.ArgumentParser(
        prog="scripts/bench-nodes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A taskrt head with many simulated worker nodes (real protocol, one TCP "
                    "connection each, no task processes): the head's CPU while they heartbeat, "
                    "the dispatch rate end to end, the head's RSS.",
        epilog="""examples:
  scripts/bench-nodes                          # 2 and 1000 nodes, 20000 tasks
  scripts/bench-nodes --nodes 2,100,1000 --tasks 50000
  scripts/bench-nodes --nodes 1000 --delay-ms 5 -o json
exit codes: 0 measured, 1 a run failed, 2 usage error""")
    ap.add_argument("--nodes", default="2,1000", help="node counts, comma-separated (default 2,1000)")
    ap.add_argument("--tasks", type=int, default=20000, help="noop tasks per dispatch run (default 20000)")
    ap.add_argument("--batch", type=int, default=1000, help="tasks per batch submit (default 1000)")
    ap.add_argument("--slots", type=int, default=2, help="slots per simulated node (default 2)")
    ap.add_argument("--prefetch", type=int, default=1, help="prefetch per slot (default 1, as a node)")
    ap.add_argument("--delay-ms", type=int, default=0, help="time a simulated task takes (default 0)")
    ap.add_argument("--per-process", type=int, default=250,
                    help="simulated nodes per taskrt_node_sim process (default 250)")
    ap.add_argument("--idle-seconds", type=float, default=10,
                    help="how long the head's CPU is read while nodes only heartbeat (default 10)")
    ap.add_argument("--dsn", help="use this Postgres server (one database per run is created on it)")
    ap.add_argument("--timeout", type=float, default=600, help="bound of any wait in s (default 600)")
    ap.add_argument("-o", "--output", choices=["table", "json"], default="table",
                    help="table (and the JSON line) or json (the line only)")
    ap.add_argument("--root", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--bin-dir", required=True, help=argparse.SUPPRESS)
    a = ap.parse_args()
    try:
        a.node_counts = [int(x) for x in a.nodes.split(",") if x]
    except ValueError:
        ap.error(f"--nodes must be comma-separated numbers, got '{a.nodes}'")
    if not a.node_counts or min(a.node_counts) <= 0 or a.tasks <= 0 or a.batch <= 0 \
            or a.slots <= 0 or a.prefetch < 0 or a.delay_ms < 0 or a.per_process <= 0 \
            or a.idle_seconds <= 0:
        ap.error("counts must be positive (--prefetch and --delay-ms may be 0)")
    a.workers = None  # what Taskrt reads; the heads here run none
    return a


def main():
    a = parse()
    work = tempfile.mkdtemp(prefix="taskrt-bench-nodes.")
    os.chmod(work, 0o755)  # the postgres user runs the private server inside
    pg = Postgres(a.root, work, a.dsn)
    rc = 0
    load0 = os.getloadavg()
    try:
        t = Taskrt(a, pg, work)
        runs = []
        for n in a.node_counts:
            try:
                runs.append(run_nodes(a, pg, work, t, n))
            except BenchError as e:
                log(f"{n} nodes FAILED: {e}")
                runs.append({"nodes": n, "failed": str(e)})
                rc = 1
        ok = [r for r in runs if "per_s" in r]
        ratios = {}
        if len(ok) >= 2:
            lo, hi = ok[0], ok[-1]
            ratios = {"per_s": round(hi["per_s"] / lo["per_s"], 3),
                      "head_cpu_heartbeats": round(hi["head_cpu_pct_heartbeats"]
                                                   / max(0.1, lo["head_cpu_pct_heartbeats"]), 3)}
        if a.output == "table":
            print(table(runs))
            print(f"TCP connections are counted at the head's port (/proc/net/tcp): one per "
                  f"simulated node, each its own CAF actor system.")
        result = {"bench": "nodes", "tasks": a.tasks, "batch": a.batch, "slots": a.slots,
                  "prefetch": a.prefetch, "delay_ms": a.delay_ms, "cores": os.cpu_count(),
                  "load_avg_start": load0, "load_avg_end": os.getloadavg(),
                  "runs": runs, "ratios_last_over_first": ratios}
        print(json.dumps(result), flush=True)
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

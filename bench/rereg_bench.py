#!/usr/bin/env python3
"""Head kill -9 and restart on the same port, with worker nodes connected:
how long until every node is registered again (issue 21). Prints one line
per cycle and the distribution; a benchmark, not a test.

  bench/rereg_bench.py --bin build/bin/taskrt --dsn postgresql://... \\
      [--cycles 50] [--nodes 2] [--down S] [--json]

Per cycle: kill -9 of the head (t_kill), the head started again at once with
the same arguments (same port, same journal; --down S later), then
  head_up   = t_kill -> the head's port accepts a TCP connection (a head
              refused because the killed one's lock session still lives is
              started again after 100 ms, and counted),
  rejoin    = head_up -> every node has logged "node ID registered" once more,
  total     = t_kill -> every node registered again.
A fresh database is created on the DSN's server and dropped at the end.
Every wait is bounded (--timeout per cycle)."""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time


def port_open(port):
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def registered(log, node):
    try:
        with open(log) as f:
            return f.read().count(f"node {node} registered")
    except FileNotFoundError:
        return 0


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, -(-p * len(v) // 100) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the taskrt binary")
    ap.add_argument("--dsn", required=True, help="a Postgres server (a database is created on it)")
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=60, help="bound of one cycle in s")
    ap.add_argument("--down", type=float, default=0,
                    help="s the head stays down before it is started again (default 0)")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    a = ap.parse_args()
    server, _, _ = a.dsn.rpartition("/")
    db = f"rereg_bench_{os.getpid()}"
    subprocess.run(["psql", f"{server}/postgres", "-qc", f"create database {db}"], check=True)
    dsn = f"{server}/{db}"
    work = tempfile.mkdtemp(prefix="rereg-bench-")
    port = free_port()
    head_argv = [a.bin, "start", "--head", "--db", dsn, "--data-dir", work, "--workers", "0",
                 "--port", str(port)]
    procs = []

    def spawn(argv, log):
        f = open(log, "a")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
        f.close()
        return p

    def wait_until(pred, bound, step=0.005):
        end = time.monotonic() + bound
        while time.monotonic() < end:
            if pred():
                return True
            time.sleep(step)
        return pred()

    rows = []
    failures = 0
    refusals = 0
    try:
        head = spawn(head_argv, f"{work}/head.log")
        if not wait_until(lambda: port_open(port), 60, 0.05):
            sys.exit("the head did not listen within 60 s (see %s/head.log)" % work)
        nodes = [f"n{i + 1}" for i in range(a.nodes)]
        for n in nodes:
            procs.append(spawn([a.bin, "start", "--address", f"127.0.0.1:{port}", "--node-id", n,
                                "--workers", "1"], f"{work}/{n}.log"))
        if not wait_until(lambda: all(registered(f"{work}/{n}.log", n) >= 1 for n in nodes), 60):
            sys.exit("the nodes did not register within 60 s")
        for c in range(1, a.cycles + 1):
            before = {n: registered(f"{work}/{n}.log", n) for n in nodes}
            t_kill = time.monotonic()
            head.send_signal(signal.SIGKILL)
            head.wait()
            time.sleep(a.down)
            head = spawn(head_argv, f"{work}/head.log")
            # Refused ("another head is active") while Postgres has not yet
            # ended the killed head's lock session: started again 100 ms
            # later, as a supervisor would; counted.
            def head_up():
                nonlocal head, refusals
                if head.poll() == 1 and time.monotonic() - t_kill < a.timeout:
                    refusals += 1
                    time.sleep(0.1)
                    head = spawn(head_argv, f"{work}/head.log")
                return port_open(port)
            up = wait_until(head_up, a.timeout)
            t_up = time.monotonic()
            ok = up and wait_until(
                lambda: all(registered(f"{work}/{n}.log", n) > before[n] for n in nodes),
                a.timeout - (t_up - t_kill))
            t_all = time.monotonic()
            if not ok:
                failures += 1
                late = [n for n in nodes if registered(f"{work}/{n}.log", n) <= before[n]]
                why = (f"the head did not listen within {a.timeout} s (exit {head.poll()})" if not up
                       else f"node(s) {','.join(late)} not registered again within {a.timeout} s")
                print(f"cycle {c}: {why}", flush=True)
                continue
            row = {"cycle": c, "head_up_s": t_up - t_kill, "rejoin_s": t_all - t_up,
                   "total_s": t_all - t_kill}
            rows.append(row)
            print(f"cycle {c:3d}: head up {row['head_up_s']:.3f} s, every node registered "
                  f"{row['rejoin_s']:.3f} s later, {row['total_s']:.3f} s after the kill", flush=True)
    finally:
        for p in procs + [head]:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        subprocess.run(["psql", f"{server}/postgres", "-qc", f"drop database if exists {db}"])
        if os.environ.get("TASKRT_BENCH_KEEP"):
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not rows:
        sys.exit("no cycle completed")
    out = {"cycles": a.cycles, "nodes": a.nodes, "completed": len(rows), "failed": failures,
           "head_refused": refusals}
    for k in ("head_up_s", "rejoin_s", "total_s"):
        v = [r[k] for r in rows]
        out[k] = {"p50": pct(v, 50), "p90": pct(v, 90), "max": max(v), "min": min(v)}
    buckets = [0.25, 0.5, 1, 2, 5, 15]
    hist = {}
    for b_lo, b_hi in zip([0] + buckets, buckets + [float("inf")]):
        hist[f"{b_lo}-{b_hi}"] = sum(1 for r in rows if b_lo <= r["rejoin_s"] < b_hi)
    out["rejoin_histogram_s"] = hist
    print(f"{len(rows)}/{a.cycles} cycles, {a.nodes} nodes; failed {failures}; restarted head "
          f"refused {refusals} time(s) (the killed head's lock session not yet ended)")
    for k in ("head_up_s", "rejoin_s", "total_s"):
        d = out[k]
        print(f"  {k:10s} p50 {d['p50']:.3f}  p90 {d['p90']:.3f}  max {d['max']:.3f}  min {d['min']:.3f}")
    print("  rejoin (head up -> all registered) histogram, s: "
          + ", ".join(f"[{k}) {n}" for k, n in hist.items()))
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

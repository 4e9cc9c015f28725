#!/usr/bin/env bash
# The node simulator's smoke test: bench/peers/bench_nodes.py once with 2 and
# 6 simulated nodes (two taskrt_node_sim processes for the 6) and a few
# hundred tasks against $TASKRT_TEST_DSN. Checks the JSON line: one TCP
# connection per simulated node counted at the head's port, every node
# registered and heartbeating, every task SUCCEEDED (the runner checks the
# journal), every figure present. No figure is compared with a bound.
#   bench_nodes_smoke.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=$1 bin=$2
if [ -z "${TASKRT_TEST_DSN:-}" ]; then
  echo "SKIPPED: TASKRT_TEST_DSN is not set (scripts/pg start DIR prints one)"
  exit 0
fi
for b in taskrt taskrt_bench taskrt_node_sim; do
  [ -x "$bin/$b" ] || { echo "no $bin/$b: build the $b target"; exit 1; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
python3 "$src/bench/peers/bench_nodes.py" --root "$src" --bin-dir "$bin" \
  --dsn "$TASKRT_TEST_DSN" --nodes 2,6 --per-process 4 --tasks 300 --batch 50 \
  --idle-seconds 1.5 -o json --timeout 300 >"$out"
python3 - "$out" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
assert len(lines) == 1, f"expected one JSON line, got {len(lines)}"
res = json.loads(lines[0])
assert res["bench"] == "nodes", res
runs = {r["nodes"]: r for r in res["runs"]}
assert set(runs) == {2, 6}, runs.keys()
for n, r in runs.items():
    assert "failed" not in r, f"{n} nodes failed: {r['failed']}"
    assert r["tcp_connections"] == n, r
    assert r["sim_processes"] == (1 if n <= 4 else 2), r
    assert r["sim_results"] == 300 and r["tasks"] == 300, r
    assert r["sim_heartbeats_ok"] >= n and r["sim_head_lost"] == 0, r
    for key in ("head_cpu_pct_no_nodes", "head_cpu_pct_heartbeats", "sims_cpu_pct_heartbeats",
                "head_rss_mb_idle",
                "per_s", "seconds", "head_peak_rss_mb"):
        assert key in r and r[key] >= 0, f"{n} nodes: {key}"
    assert r["per_s"] > 0 and r["head_peak_rss_mb"] > 0, r
assert "per_s" in res["ratios_last_over_first"], res
print("bench-nodes smoke: JSON line well formed;", json.dumps(res["ratios_last_over_first"]))
PY

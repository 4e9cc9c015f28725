#!/usr/bin/env bash
# Runs bench/peers/bench_peers.py once with a tiny N against $TASKRT_TEST_DSN
# (taskrt with the default head and with 2 worker nodes, graphile-worker
# tuned; end to end, drain, latency) and checks the JSON line it prints: the
# bench name, every run of both peers present with its figures and no run
# failed. No figure is compared with a bound (a busy machine is no bug).
# graphile-worker comes from npm: when it cannot be installed, the taskrt
# side is still checked and the test says plainly that the peer was skipped.
#   bench_peers_smoke.sh SOURCE_DIR BIN_DIR GRAPHILE_DIR
set -euo pipefail
src=$1 bin=$2 gw_dir=$3
if [ -z "${TASKRT_TEST_DSN:-}" ]; then
  echo "SKIPPED: TASKRT_TEST_DSN is not set (scripts/pg start DIR prints one)"
  exit 0
fi
[ -x "$bin/taskrt_bench" ] || { echo "no $bin/taskrt_bench: build the taskrt_bench target"; exit 1; }
skip=""
if ! GRAPHILE_WORKER_DIR=$gw_dir "$src/scripts/install-bench-deps"; then
  skip="graphile-worker could not be installed from npm here"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
python3 "$src/bench/peers/bench_peers.py" --root "$src" --bin-dir "$bin" --gw-dir "$gw_dir" \
  --gw-skip "$skip" --dsn "$TASKRT_TEST_DSN" --tasks 200 --batch 50 --rate 100 --seconds 1 \
  --peers taskrt,taskrt-actor,taskrt-2nodes,gw-tuned -o json --timeout 300 >"$out"
python3 - "$out" "$skip" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
assert len(lines) == 1, f"expected one JSON line, got {len(lines)}"
res = json.loads(lines[0])
assert res["bench"] == "peers", res
runs = {(r["peer"], r["scenario"]): r for r in res["runs"]}
peers = ["taskrt", "taskrt-2nodes"] + ([] if sys.argv[2] else ["gw-tuned"])
for peer in peers:
    for sc in ("e2e", "drain", "latency"):
        r = runs.get((peer, sc))
        assert r is not None, f"no run of {peer} {sc}"
        assert "failed" not in r, f"{peer} {sc} failed: {r.get('failed')}"
        want = 200 if sc != "latency" else 100
        assert r["tasks"] == want, r
        for key in ("seconds", "per_s", "commits_per_task", "cpu_s", "head_peak_rss_mb"):
            assert key in r, f"{peer} {sc} has no {key}"
        assert r["seconds"] > 0 and r["per_s"] > 0 and r["commits_per_task"] > 0, r
        assert r["head_peak_rss_mb"] > 0, r
        if sc == "e2e" and peer == "taskrt":
            a = runs.get(("taskrt-actor", "e2e"))  # the per-task actor path, end to end only
            assert a is not None and "failed" not in a and a["tasks"] == want and a["per_s"] > 0, a
            assert res["ratios"].get("taskrt-actor/taskrt e2e", 0) > 0, res["ratios"]
        if sc == "latency":
            lat = r["latency_ms"]
            assert lat["n"] == want and lat["p50"] <= lat["p99"] <= lat["max"], lat
if sys.argv[2]:
    assert res["peer_skipped"] and all("skipped" in runs[("gw-tuned", sc)]
                                       for sc in ("e2e", "drain", "latency")), res
    print(f"graphile-worker SKIPPED ({sys.argv[2]}): only the taskrt side was checked")
else:
    assert res["ratios"].get("taskrt/gw-tuned e2e", 0) > 0, res["ratios"]
    print("both peers measured; ratios:", json.dumps(res["ratios"]))
print("bench smoke: JSON line well formed")
PY

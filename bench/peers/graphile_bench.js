// The graphile-worker side of scripts/bench-peers: the same work as
// bench/taskrt_bench.cpp, printed as one JSON line per process.
//
//   node graphile_bench.js run --jobs N [--tuned [--batched]]   the worker: runs
//        `noop` jobs until it has run N and the jobs table is empty, then
//        prints when (done_us) and the enqueue→start latencies of jobs whose
//        payload carries the submit time t0 (µs since the epoch).
//        --tuned: concurrency 24, localQueue size 500 (the rest default);
//        --batched: also completeJobBatchDelay and failJobBatchDelay 0
//        (completions of one tick in one statement).
//   node graphile_bench.js add --jobs N [--batch 1000] [--inflight 4]
//        addJobs in batches, up to `inflight` batches at once.
//   node graphile_bench.js rate --rate 1000 --seconds S [--submitters 10]
//        one awaited addJob per 1/rate s, payload {t0}, the way an application
//        submits: `submitters` callers (request handlers) take the slots in
//        turn, each awaiting its addJob before taking the next. Prints the
//        addJob round trips and whether every slot started on time.
//        (Before, addJob was fired without awaiting, every call queued in
//        the 10-connection pool of makeWorkerUtils: see docs/performance.md.)
//   node graphile_bench.js migrate                 installs its schema.
// Needs DATABASE_URL and GRAPHILE_WORKER_DIR (the folder holding
// node_modules/graphile-worker). Every mode is bounded: N jobs or S seconds,
// and --timeout (s, default 600) for waiting.
"use strict";
const path = require("path");
const { performance } = require("perf_hooks");
const gw = require(path.join(process.env.GRAPHILE_WORKER_DIR || ".", "node_modules", "graphile-worker"));

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parse(argv) {
  const o = { mode: argv[0], jobs: 0, batch: 1000, inflight: 4, rate: 1000, seconds: 10, submitters: 10, tuned: false, batched: false, timeout: 600 };
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--tuned") { o.tuned = true; continue; }
    if (k === "--batched") { o.batched = true; continue; }
    const v = argv[++i];
    if (v === undefined) usage(`${k} needs a value`);
    const key = k.replace(/^--/, "");
    if (!(key in o) || key === "mode") usage(`unknown option ${k}`);
    o[key] = Number(v);
    if (!Number.isFinite(o[key]) || o[key] < 0) usage(`bad value '${v}' for ${k}`);
  }
  if (!["run", "add", "rate", "migrate"].includes(o.mode)) usage(`unknown mode '${o.mode}'`);
  if (!process.env.DATABASE_URL) usage("DATABASE_URL is not set");
  return o;
}

function usage(why) {
  console.error(`graphile_bench: ${why}\nusage: node graphile_bench.js run|add|rate|migrate [--jobs N] [--batch B] [--inflight K] [--rate R] [--seconds S] [--submitters K] [--tuned]`);
  process.exit(2);
}

// Warnings and errors only: no line per job (taskrt logs none either).
const logger = new gw.Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
});

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function runWorker(o) {
  const connectionString = process.env.DATABASE_URL;
  let executed = 0;
  let firstUs = 0;
  let lastUs = 0;
  const lat = [];
  const options = {
    connectionString,
    noHandleSignals: true,
    logger,
    taskList: {
      noop: async (payload) => {
        const started = nowUs();
        if (executed++ === 0) firstUs = started;
        lastUs = started;
        if (payload && payload.t0) lat.push((started - payload.t0) / 1000);
      },
    },
  };
  if (o.tuned) {
    options.concurrency = 24;
    options.preset = { worker: { localQueue: { size: 500 } } };
    if (o.batched) Object.assign(options.preset.worker, { completeJobBatchDelay: 0, failJobBatchDelay: 0 });
  }
  const runner = await gw.run(options);
  const cpuReady = process.cpuUsage();
  console.error("graphile_bench: worker ready");
  const utils = await gw.makeWorkerUtils({ connectionString, logger });
  const t0 = Date.now();
  let done = false;
  let polls = 0;
  while (Date.now() - t0 < o.timeout * 1000) {
    if (executed >= o.jobs) {
      polls++;
      const r = await utils.withPgClient((c) => c.query("select count(*)::int as n from graphile_worker.jobs"));
      if (r.rows[0].n === 0) { done = true; break; }
    }
    await sleep(executed >= o.jobs ? 5 : 20);
  }
  const doneUs = nowUs();
  const cpuTotal = process.cpuUsage();
  const cpuSince = process.cpuUsage(cpuReady);
  lat.sort((a, b) => a - b);
  console.log(JSON.stringify({
    mode: "run", tuned: o.tuned, batched: o.batched, jobs: o.jobs, executed, done, polls, done_us: doneUs, first_start_us: firstUs, last_start_us: lastUs,
    cpu_s_total: (cpuTotal.user + cpuTotal.system) / 1e6, cpu_s_since_ready: (cpuSince.user + cpuSince.system) / 1e6,
    max_rss_kb: process.resourceUsage().maxRSS,
    latency_ms: lat.length ? { n: lat.length, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1] } : null,
  }));
  await utils.release();
  await runner.stop();
  process.exit(done ? 0 : 1);
}

async function addJobs(o) {
  const utils = await gw.makeWorkerUtils({ connectionString: process.env.DATABASE_URL, logger });
  const t0 = performance.now();
  let left = o.jobs;
  const inflight = new Set();
  while (left > 0 || inflight.size > 0) {
    while (left > 0 && inflight.size < o.inflight) {
      const k = Math.min(o.batch, left);
      left -= k;
      const specs = Array.from({ length: k }, () => ({ identifier: "noop", payload: {} }));
      const p = utils.addJobs(specs).then(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.race(inflight);
  }
  console.log(JSON.stringify({ mode: "add", jobs: o.jobs, submit_s: (performance.now() - t0) / 1000, done_us: nowUs() }));
  await utils.release();
}

async function addAtRate(o) {
  const utils = await gw.makeWorkerUtils({ connectionString: process.env.DATABASE_URL, logger });
  const total = Math.floor(o.rate * o.seconds);
  const t0 = performance.now();
  let next = 0;
  const addMs = [];
  let maxLagMs = 0;
  // One caller: take the next slot k (due k/rate s after the start), wait
  // for it, stamp t0 and await addJob, as a request handler of the
  // application would. Late: the next slot is taken at once (catching up).
  const caller = async () => {
    for (let k = next++; k < total; k = next++) {
      const wait = (k * 1000) / o.rate - (performance.now() - t0);
      if (wait >= 1) await sleep(wait);
      const start = performance.now();
      maxLagMs = Math.max(maxLagMs, start - t0 - (k * 1000) / o.rate);
      await utils.addJob("noop", { t0: nowUs() });
      addMs.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.submitters) }, caller));
  const submitS = (performance.now() - t0) / 1000;
  addMs.sort((a, b) => a - b);
  console.log(JSON.stringify({
    mode: "rate", jobs: total, offered_per_s: o.rate, submitters: Math.max(1, o.submitters), submit_s: submitS,
    // Kept the rate: no slot started more than 100 ms after it was due.
    kept_rate: maxLagMs <= 100, max_lag_ms: maxLagMs,
    add_ms: { p50: percentile(addMs, 50), p99: percentile(addMs, 99), max: addMs[addMs.length - 1] },
  }));
  await utils.release();
}

async function main() {
  const o = parse(process.argv.slice(2));
  if (o.mode === "migrate") {
    await gw.runMigrations({ connectionString: process.env.DATABASE_URL, logger });
    console.error("graphile_bench: schema ready");
  } else if (o.mode === "run") await runWorker(o);
  else if (o.mode === "add") await addJobs(o);
  else await addAtRate(o);
}

main().catch((e) => {
  console.error(`graphile_bench: ${e && e.message ? e.message : e}`);
  process.exit(1);
});

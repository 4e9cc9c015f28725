// What every browser test shares: a real head (the build's taskrt, local
// worker processes, the test Postgres in a schema of its own, the HTTP port
// on loopback), the CLI against it, and Debian's chromium driven by
// playwright-core. Nothing is faked: the page talks to the head's API.
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

let chromium;
try {
  ({chromium} = await import('playwright-core'));
} catch {
  die('playwright-core is not installed in tests/browser/node_modules: run scripts/install-deps (it runs npm ci there)');
}

/// Ends the test at once (nothing started yet).
export function die(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

/// Fails the scenario (the runner stops the head and the browser).
export function fail(msg) {
  throw new Error(msg);
}

export function step(msg) {
  console.log(`[${new Date().toISOString().slice(11, 23)}] ${msg}`);
}

export const CHROMIUM = process.env.TASKRT_CHROMIUM || '/usr/bin/chromium';

/// Polls fn() until it returns something truthy; fails with `what` after ms.
export async function until(what, fn, ms = 30000, every = 200) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise(r => setTimeout(r, every));
  }
  fail(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const {port} = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/// A head of its own: `taskrt start --head` on a fresh schema of
/// TASKRT_TEST_DSN, with `workers` local worker processes and the HTTP port
/// (API and dashboard) on 127.0.0.1. stop() ends it and drops the schema.
export async function startHead({taskrt, workers = 2, name = 'browser'}) {
  const base = process.env.TASKRT_TEST_DSN;
  if (!base) die('set TASKRT_TEST_DSN (scripts/pg start DIR prints one)');
  if (!fs.existsSync(CHROMIUM)) die(`${CHROMIUM} is missing: scripts/install-deps installs Debian's chromium`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `taskrt-${name}-`));
  const schema = `browser_${process.pid}_${Date.now() % 100000}`;
  execFileSync('psql', ['-X', '-q', base, '-c',
    `SET client_min_messages = warning; DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`]);
  const sep = base.includes('?') ? '&' : '?';
  const dsn = `${base}${sep}options=-csearch_path%3D${schema}`;
  const httpPort = await freePort();
  const env = {...process.env, HOME: path.join(work, 'home')};
  for (const k of ['TASKRT_PG_SCRIPT', 'TASKRT_DATABASE_URL', 'TASKRT_ADDRESS', 'TASKRT_DATA_DIR', 'TASKRT_TLS_DIR'])
    delete env[k];
  fs.mkdirSync(env.HOME);
  const dataDir = path.join(work, 'head');
  const log = fs.openSync(path.join(work, 'head.log'), 'a');
  const proc = spawn(taskrt, ['start', '--head', '--db', dsn, '--data-dir', dataDir, '--workers', String(workers),
    '--node-id', 'browser-head', '--port', '0', '--http-port', String(httpPort)],
  {env, stdio: ['ignore', log, log]});
  let exited = null;
  proc.on('exit', code => { exited = code; });
  const url = `http://127.0.0.1:${httpPort}`;
  await until('the head to be ready (/readyz)', async () => {
    if (exited !== null) die(`the head exited with ${exited}:\n${fs.readFileSync(path.join(work, 'head.log'), 'utf8')}`);
    const r = await fetch(url + '/readyz').catch(() => null);
    return r && r.status === 200;
  }, 60000);

  /// The CLI against this head; its stdout.
  const cli = (...args) => execFileSync(taskrt, [...args, '--data-dir', dataDir],
    {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']});
  const cliJson = (...args) => JSON.parse(cli(...args, '-o', 'json'));

  return {
    url, dsn, work, cli, cliJson,
    log: () => fs.readFileSync(path.join(work, 'head.log'), 'utf8'),
    async stop() {
      if (exited === null) {
        proc.kill('SIGTERM');
        await until('the head to stop', () => exited !== null, 20000).catch(() => proc.kill('SIGKILL'));
      }
      try {
        execFileSync('psql', ['-X', '-q', base, '-c', `SET client_min_messages = warning; DROP SCHEMA IF EXISTS ${schema} CASCADE`]);
      } catch { /* the next run makes its own schema */ }
      fs.rmSync(work, {recursive: true, force: true});
    },
  };
}

/// Submits a task with the CLI; its id.
export function submit(head, name, args = {}, ...more) {
  const out = head.cli('submit', name, '--args', JSON.stringify(args), ...more).trim();
  const id = Number(out.split('\n').pop());
  if (!Number.isInteger(id) || id <= 0) fail(`submit ${name} printed no id: ${out}`);
  return id;
}

/// A token printed once by `taskrt tokens add NAME --role ROLE`.
export function addToken(head, name, role) {
  const out = head.cli('tokens', 'add', name, '--role', role);
  const m = out.match(/\b([A-Za-z0-9_\-.~]{20,})\b/);
  if (!m) fail(`tokens add ${name} printed no token: ${out}`);
  return m[1];
}

/// The login link `taskrt dashboard` prints (one-time token in it).
export function loginLink(head, ...args) {
  const out = head.cli('dashboard', ...args);
  const m = out.match(/https?:\/\/\S+token=\S+/);
  if (!m) fail(`taskrt dashboard printed no login link: ${out}`);
  return m[0];
}

export async function launch() {
  return chromium.launch({executablePath: CHROMIUM, args: ['--no-sandbox']});
}

/// A page that fails the test on a script error and logs the console's errors.
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext({viewport: {width: 1280, height: 860}, ...opts});
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', e => { page.errors.push(e.message); console.error('page error: ' + e.message); });
  page.on('console', m => { if (m.type() === 'error') console.error('console: ' + m.text()); });
  return page;
}

/// Saves a screenshot of `page` as `name`.png under the artifacts folder
/// (TASKRT_BROWSER_ARTIFACTS, default build/browser-artifacts).
export async function shot(page, name, {fullPage = true} = {}) {
  const dir = process.env.TASKRT_BROWSER_ARTIFACTS || path.resolve('browser-artifacts');
  fs.mkdirSync(dir, {recursive: true});
  const file = path.join(dir, name + '.png');
  await page.screenshot({path: file, fullPage});
  step(`screenshot ${file}`);
  return file;
}

/// A mark set on the page's window: still there means no reload happened.
export async function markNoReload(page) {
  await page.evaluate(() => { window.__taskrtNoReload = true; });
  return async () => {
    if (!(await page.evaluate(() => window.__taskrtNoReload === true)))
      fail('the page was reloaded (the update should have come through the live feed)');
  };
}

// The dashboard's shell: the router (deep links: the head serves this page
// for /, /tasks, /tasks/{id}, /nodes and /queues), the session (who, which
// role), the live-feed indicator, and the history the overview charts.
import {api, feed, onUnauthorized, query, whoami} from './api.js';
import {History, BUCKETS, BUCKET_S} from './chart.js';
import {h, fill, rowsOf} from './util.js';
import {overview} from './overview.js';
import {tasks} from './tasks.js';
import {task} from './task.js';
import {nodes} from './nodes.js';
import {queues} from './queues.js';

const routes = [
  {re: /^\/$/, nav: 'overview', view: overview, title: 'Overview'},
  {re: /^\/tasks\/?$/, nav: 'tasks', view: tasks, title: 'Tasks'},
  {re: /^\/tasks\/(\d+)\/?$/, nav: 'tasks', view: task, title: 'Task'},
  {re: /^\/nodes\/?$/, nav: 'nodes', view: nodes, title: 'Nodes'},
  {re: /^\/queues\/?$/, nav: 'queues', view: queues, title: 'Queues'},
];

/// What every view gets: the session, the feed, the shared history, and
/// navigate() to move within the app.
const ctx = {
  session: {name: null, role: 'viewer'},
  feed,
  history: new History([
    {name: 'succeeded', label: 'succeeded / s', color: 'var(--ok)'},
    {name: 'failed', label: 'failed / s (FAILED or LOST for good)', color: 'var(--bad)'},
  ]),
  navigate,
  get operator() { return this.session.role === 'operator' || this.session.role === 'admin'; },
};

let cleanup = null;
let renderSeq = 0;

function render() {
  const path = location.pathname;
  const main = document.getElementById('main');
  if (cleanup) { try { cleanup(); } catch (e) { console.error(e); } cleanup = null; }
  const seq = ++renderSeq;
  for (const r of routes) {
    const m = path.match(r.re);
    if (!m) continue;
    document.querySelectorAll('nav a').forEach(a =>
      a.classList.toggle('active', a.dataset.nav === r.nav));
    document.title = `${r.title} · taskrt`;
    main.replaceChildren();
    const c = r.view(main, ctx, ...m.slice(1), new URLSearchParams(location.search));
    // A view may answer its cleanup at once or after loading.
    Promise.resolve(c).then(fn => {
      if (seq === renderSeq) cleanup = fn || null; else if (fn) fn();
    });
    return;
  }
  fill(main, h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '. ',
    h('a', {href: '/'}, 'Back to the overview')));
}

/// Goes to `url` inside the app (pushState, or replaceState with replace).
export function navigate(url, {replace = false} = {}) {
  if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  render();
  if (!replace) window.scrollTo(0, 0);
}

function banner(...children) {
  const b = document.getElementById('banner');
  if (!children.length) { b.hidden = true; b.replaceChildren(); return; }
  fill(b, ...children);
  b.hidden = false;
}

function signedOut() {
  banner(h('strong', {}, 'Not signed in (or the session expired). '),
    'Run ', h('code', {}, 'taskrt dashboard'), ' on a machine that reaches the head and open the link it prints.');
}

async function start() {
  // A login link leaves its one-time token in the address; drop it from
  // the address bar and the history once the page is here.
  const u = new URL(location.href);
  if (u.searchParams.has('token')) {
    u.searchParams.delete('token');
    history.replaceState(null, '', u.pathname + u.search + u.hash);
  }
  document.addEventListener('click', e => {
    const a = e.target.closest('a');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
    if (!routes.some(r => r.re.test(a.pathname))) return;
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
  window.addEventListener('popstate', render);
  onUnauthorized(signedOut);

  const live = document.getElementById('live');
  feed.onState(s => {
    live.dataset.state = s;
    live.textContent = {live: 'live', connecting: 'connecting…', off: 'offline'}[s] || s;
  });
  // The overview's chart: tasks that ended, per 10 s. A failed attempt that
  // is retried is not an end; the journal's decision in the event says.
  feed.subscribe(ev => {
    const at = ev.at ? Date.parse(ev.at) : Date.now();
    const d = ev.detail && ev.detail.decision;
    if (ev.kind === 'succeed') ctx.history.add('succeeded', at);
    else if ((ev.kind === 'fail' || ev.kind === 'lose') && !(d && d.decision === 'retry'))
      ctx.history.add('failed', at);
  });

  try {
    ctx.session = await whoami();
    const who = document.getElementById('who');
    if (ctx.session.name) fill(who, ctx.session.name, ' ', h('span', {class: 'role'}, ctx.session.role));
    else fill(who, h('span', {class: 'role'}, ctx.session.role));
    document.body.dataset.role = ctx.session.role;
  } catch {
    signedOut();
  }
  feed.start();
  render();
  seedHistory();
}

/// Fills the chart's past from the journal: the tasks of the last ten
/// minutes that ended (at most the last 1000 of each kind; the chart then
/// starts where they do).
async function seedHistory() {
  const span = BUCKETS * BUCKET_S;
  let start = Date.now() - span * 1000;
  try {
    const got = await Promise.all([['succeeded', 'SUCCEEDED'], ['failed', 'FAILED,LOST']].map(
      async ([name, state]) => [name, await api('/tasks' + query({state, since: Math.round(span / 60) + 'm', sort: '-updated', limit: 1000}))]));
    for (const [name, res] of got) {
      const rows = rowsOf(res, 'tasks');
      if (res && res.more && rows.length) start = Math.max(start, Date.parse(rows[rows.length - 1].updated_at));
      for (const t of rows) if (t.updated_at) ctx.history.add(name, Date.parse(t.updated_at));
    }
    ctx.history.started = start;
  } catch (e) {
    console.warn('the chart starts empty: ' + e.message);
  }
}

start();

// The dashboard's shell: the router (deep links: the head serves this page
// for /, /tasks, /tasks/{id}, /nodes and /queues), the session (who, which
// role), the live-feed indicator, and the history the overview charts.
import {feed, onUnauthorized, whoami} from './api.js';
import {History} from './chart.js';
import {h, fill} from './util.js';
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
    {name: 'failed', label: 'failed attempts / s (fail, lose)', color: 'var(--bad)'},
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
  feed.subscribe(ev => {
    const at = ev.at ? Date.parse(ev.at) : Date.now();
    if (ev.kind === 'succeed' || ev.to === 'SUCCEEDED') ctx.history.add('succeeded', at);
    else if (ev.kind === 'fail' || ev.kind === 'lose') ctx.history.add('failed', at);
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
}

start();

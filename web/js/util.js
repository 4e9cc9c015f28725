// Small helpers shared by the views: element builder, formatting, badges.

/// h('div', {class: 'x', onclick: fn}, child, ...): an element. Children may be
/// strings, numbers, nodes, arrays or null (skipped).
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    // Through the CSSOM: the page's Content-Security-Policy allows no style attributes.
    else if (k === 'style') e.style.cssText = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false || c === '') continue;
    if (Array.isArray(c)) append(e, c);
    else e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/// Replaces the children of `e`.
export function fill(e, ...children) {
  e.replaceChildren();
  append(e, children);
  return e;
}

export const STATES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'LOST'];

export function badge(state) {
  const s = state || '?';
  return h('span', {class: 'badge st-' + String(s).toLowerCase()}, s);
}

/// A link inside the app (the router takes the click).
export function link(href, ...children) {
  return h('a', {href}, ...children);
}

export function taskLink(id) {
  return link('/tasks/' + id, '#' + id);
}

function parseTime(t) {
  if (t === null || t === undefined || t === '') return null;
  const d = new Date(t);
  return isNaN(d) ? null : d;
}

const pad = n => String(n).padStart(2, '0');

/// "12:03:10" today, "Dec 5 12:03:10" otherwise; the full time in the title.
export function time(t) {
  const d = parseTime(t);
  if (!d) return h('span', {class: 'muted'}, '–');
  const now = new Date();
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const text = d.toDateString() === now.toDateString()
    ? hms : `${d.toLocaleString('en', {month: 'short'})} ${d.getDate()} ${hms}`;
  return h('time', {datetime: d.toISOString(), title: d.toISOString()}, text);
}

/// 0.4 -> "400 ms", 75 -> "1 m 15 s".
export function duration(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return '–';
  const s = Math.abs(seconds);
  if (s < 1) return Math.round(s * 1000) + ' ms';
  if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' m ' + Math.round(s % 60) + ' s';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' m';
  return Math.floor(s / 86400) + ' d ' + Math.round((s % 86400) / 3600) + ' h';
}

/// Seconds between two times (the second defaults to now), or null.
export function between(a, b) {
  const da = parseTime(a);
  const db = b === undefined ? new Date() : parseTime(b);
  return da && db ? (db - da) / 1000 : null;
}

export function seconds(t) {
  const d = parseTime(t);
  return d ? d.getTime() / 1000 : null;
}

/// "in 42 s" / "3 m ago".
export function relative(t) {
  const s = between(new Date(), t);
  if (s === null) return '';
  return s >= 0 ? 'in ' + duration(s) : duration(-s) + ' ago';
}

export function num(v) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number' && !Number.isInteger(v)) return v.toFixed(v < 10 ? 2 : 1);
  return typeof v === 'number' ? v.toLocaleString('en') : String(v);
}

/// Pretty JSON in a <pre>, or a dash.
export function jsonBlock(v) {
  if (v === null || v === undefined) return h('span', {class: 'muted'}, '–');
  return h('pre', {class: 'json'}, typeof v === 'string' ? v : JSON.stringify(v, null, 2));
}

/// A table: cols = [{label, cell(row) -> node|string, cls}], rows = [...].
export function table(cols, rows, {empty = 'Nothing here.', rowAttrs} = {}) {
  if (!rows.length) return h('p', {class: 'muted empty'}, empty);
  return h('div', {class: 'table-wrap'},
    h('table', {},
      h('thead', {}, h('tr', {}, cols.map(c => h('th', {class: c.cls}, c.label)))),
      h('tbody', {}, rows.map(r => h('tr', rowAttrs ? rowAttrs(r) : {},
        cols.map(c => h('td', {class: c.cls, 'data-label': typeof c.label === 'string' ? c.label : (c.label.dataset.label || c.label.textContent)}, c.cell(r))))))));
}

/// A key/value list.
export function facts(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/// Calls fn at most once per `ms` while calls keep coming (the first at once,
/// the last one always): a busy feed redraws a few times a second, not per event.
export function throttle(fn, ms) {
  let last = 0, t = null;
  const run = () => { t = null; last = Date.now(); fn(); };
  const d = () => {
    if (t) return;
    const wait = last + ms - Date.now();
    if (wait <= 0) run(); else t = setTimeout(run, wait);
  };
  d.cancel = () => { clearTimeout(t); t = null; };
  return d;
}

/// A bar showing used of total (node slots, queue load).
export function meter(used, total) {
  const pct = total > 0 ? Math.min(100, Math.round(100 * used / total)) : 0;
  return h('span', {class: 'meter', title: `${used} of ${total}`},
    h('span', {class: 'meter-bar'}, h('span', {class: 'meter-fill', style: `width:${pct}%`})),
    h('span', {class: 'meter-text'}, `${num(used)} / ${num(total)}`));
}

/// The first array found in `v` (an array itself, or v[key] for the keys).
export function rowsOf(v, ...keys) {
  if (Array.isArray(v)) return v;
  for (const k of keys) if (v && Array.isArray(v[k])) return v[k];
  return [];
}

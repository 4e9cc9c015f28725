// A small SVG line chart for the overview, and the history it draws: events
// of the live feed counted in 10-second buckets since the page opened.
import {h} from './util.js';

const NS = 'http://www.w3.org/2000/svg';
const svg = (tag, attrs) => {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

export const BUCKET_S = 10;
export const BUCKETS = 60; // ten minutes

/// Counts per bucket for each series (succeeded, failed).
export class History {
  constructor(series) {
    this.series = series;
    this.counts = new Map(); // bucket index -> {name: count}
    this.started = Date.now();
  }

  add(name, atMs = Date.now()) {
    const b = Math.floor(atMs / 1000 / BUCKET_S);
    const c = this.counts.get(b) || {};
    c[name] = (c[name] || 0) + 1;
    this.counts.set(b, c);
    for (const k of this.counts.keys()) if (k < b - BUCKETS * 2) this.counts.delete(k);
  }

  /// [{t (ms), name: rate per second, ...}] for the last BUCKETS buckets.
  points() {
    const now = Math.floor(Date.now() / 1000 / BUCKET_S);
    const first = Math.max(now - BUCKETS + 1, Math.floor(this.started / 1000 / BUCKET_S));
    const out = [];
    for (let b = first; b <= now; b++) {
      const c = this.counts.get(b) || {};
      const p = {t: b * BUCKET_S * 1000};
      for (const s of this.series) p[s.name] = (c[s.name] || 0) / BUCKET_S;
      out.push(p);
    }
    return out;
  }
}

/// An SVG chart of history.points(): one line per series, a legend below.
export function lineChart(history) {
  const pts = history.points();
  const W = 600, H = 160, L = 40, R = 8, T = 8, B = 22;
  const max = Math.max(0.1, ...pts.flatMap(p => history.series.map(s => p[s.name])));
  const x = i => L + (pts.length < 2 ? 0 : (i * (W - L - R)) / (pts.length - 1));
  const y = v => T + (H - T - B) * (1 - v / max);
  const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': 'events per second over time'});
  for (const f of [0, 0.5, 1]) {
    root.append(svg('line', {x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), class: 'grid'}));
    const label = svg('text', {x: L - 4, y: y(max * f) + 4, class: 'axis', 'text-anchor': 'end'});
    label.textContent = (max * f).toFixed(max < 1 ? 2 : max < 10 ? 1 : 0);
    root.append(label);
  }
  if (pts.length) {
    const t0 = svg('text', {x: L, y: H - 4, class: 'axis'});
    t0.textContent = new Date(pts[0].t).toLocaleTimeString();
    const t1 = svg('text', {x: W - R, y: H - 4, class: 'axis', 'text-anchor': 'end'});
    t1.textContent = 'now';
    root.append(t0, t1);
  }
  for (const s of history.series) {
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p[s.name]).toFixed(1)}`).join('');
    if (d) root.append(svg('path', {d, class: 'line', stroke: s.color}));
  }
  const legend = h('div', {class: 'legend'}, history.series.map(s =>
    h('span', {}, h('i', {style: `background:${s.color}`}), s.label)));
  const fig = h('figure', {class: 'chart-box'}, root, legend);
  // How many events each line stands for (tests and curious people read it).
  for (const s of history.series)
    fig.dataset[s.name] = Math.round(pts.reduce((a, p) => a + p[s.name] * BUCKET_S, 0));
  return fig;
}

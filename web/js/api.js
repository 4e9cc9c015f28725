// The head's HTTP API (/api/v1, docs/cli.md) as the dashboard uses it: JSON
// calls with the session cookie, the caller's role, and one shared live feed
// (Server-Sent Events from /api/v1/events).

/// An answer that was not 2xx: status, and the API's {error, detail}.
export class ApiError extends Error {
  constructor(status, body) {
    const msg = body && (body.detail || body.error) ? [body.error, body.detail].filter(Boolean).join(': ')
      : `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.body = body;
  }
}

const listeners = {unauthorized: new Set()};

/// Called with the error when an answer says the session is missing or expired.
export function onUnauthorized(fn) { listeners.unauthorized.add(fn); }

/// GET (or `method`) /api/v1 + path; resolves to the parsed JSON body.
export async function api(path, {method = 'GET', body} = {}) {
  const opts = {method, credentials: 'same-origin', headers: {Accept: 'application/json'}};
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch('/api/v1' + path, opts);
  } catch (e) {
    throw new ApiError(0, {error: 'unreachable', detail: 'the head did not answer (' + e.message + ')'});
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = {error: text.trim()}; }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401) listeners.unauthorized.forEach(fn => fn(err));
    throw err;
  }
  return data;
}

/// A query string from an object, skipping empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') continue;
    q.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/// Who the session is: {name, role}. Without an answer the role is
/// 'viewer', so no button appears that the API would refuse.
export async function whoami() {
  try {
    const me = await api('/whoami');
    return {name: me.name || me.token || '?', role: me.role || 'viewer'};
  } catch (e) {
    if (e.status === 401) throw e;
    return {name: null, role: 'viewer'};
  }
}

/// The task id an event is about, whatever the feed calls it.
export function eventTask(ev) {
  return ev.task_id ?? ev.task ?? null;
}

/// One EventSource for the whole page; views subscribe and filter. The
/// browser reconnects by itself and sends Last-Event-ID, so nothing is
/// missed; after the server closes it for good (401) it is reopened later.
class Feed {
  constructor() {
    this.subs = new Set();
    this.statusSubs = new Set();
    this.es = null;
    this.state = 'off';
    this.retry = null;
  }

  start() {
    if (this.es) return;
    clearTimeout(this.retry);
    let es;
    try {
      es = new EventSource('/api/v1/events', {withCredentials: true});
    } catch {
      this.setState('off');
      return;
    }
    this.es = es;
    this.setState('connecting');
    es.onopen = () => this.setState('live');
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        this.es = null;
        this.setState('off');
        this.retry = setTimeout(() => this.start(), 5000);
      } else {
        this.setState('connecting');
      }
    };
    const deliver = e => {
      let ev;
      try { ev = JSON.parse(e.data); } catch { return; }
      if (!ev || typeof ev !== 'object') return;
      if (e.lastEventId && ev.id === undefined) ev.id = e.lastEventId;
      this.setState('live');
      for (const fn of this.subs) {
        try { fn(ev); } catch (err) { console.error(err); }
      }
    };
    es.onmessage = deliver;
    for (const type of ['transition', 'note']) es.addEventListener(type, deliver);
  }

  setState(s) {
    if (s === this.state) return;
    this.state = s;
    this.statusSubs.forEach(fn => fn(s));
  }

  /// fn(event) for every event; returns the unsubscribe function.
  subscribe(fn) {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  onState(fn) { this.statusSubs.add(fn); fn(this.state); }
}

export const feed = new Feed();

// "/tasks/{id}": what `taskrt tasks describe` shows (GET /api/v1/tasks/{id}):
// why the task waits (its last retry decision and that decision's inputs),
// an attempt timeline (node, begin and end of each attempt, LOST and why),
// progress, checkpoints, args/result/error and the journal's events.
// Operators get Cancel and Retry, each after a confirmation. The page
// reloads its data when the live feed reports an event of this task.
import {api, eventTask} from './api.js';
import {h, fill, badge, time, duration, between, seconds, relative, jsonBlock, table, facts, num, throttle, link} from './util.js';

const FINAL_RETRYABLE = ['FAILED', 'LOST', 'CANCELLED'];
const CANCELLABLE = ['QUEUED', 'RUNNING'];

/// The fraction done a progress value says, in [0, 1], or null: a number
/// from 0 to 1, or an object with `fraction` (0..1), `percent` (0..100), or
/// `done` and `total`.
export function progressFraction(v) {
  const clamp = x => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : null);
  if (typeof v === 'number') return v >= 0 && v <= 1 ? v : null;
  if (!v || typeof v !== 'object') return null;
  if (typeof v.fraction === 'number') return clamp(v.fraction);
  if (typeof v.percent === 'number') return clamp(v.percent / 100);
  if (typeof v.done === 'number' && typeof v.total === 'number' && v.total > 0) return clamp(v.done / v.total);
  return null;
}

export function task(main, ctx, id) {
  const head = h('div', {class: 'task-head'});
  const note = h('div', {class: 'notice', hidden: true, role: 'status'});
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  fill(main, h('p', {class: 'crumbs'}, link('/tasks', '← Tasks')), head, note, body);
  let t = null;

  function say(text, kind = 'ok') {
    note.className = 'notice ' + kind;
    fill(note, text);
    note.hidden = false;
  }

  // Retry's options, as `taskrt tasks retry` has them (kept across redraws).
  const retryOptions = h('details', {class: 'retry-options'}, h('summary', {}, 'Retry options'),
    h('div', {class: 'filters'},
      h('label', {}, 'Priority', h('input', {name: 'priority', type: 'number', step: 1})),
      h('label', {}, 'Queue', h('input', {name: 'queue', autocomplete: 'off'})),
      h('label', {}, 'In (seconds)', h('input', {name: 'in', type: 'number', min: 0, step: 'any'}))));

  function retryBody() {
    const body = {};
    for (const input of retryOptions.querySelectorAll('input')) {
      const v = input.value.trim();
      if (v !== '') body[input.name] = input.type === 'number' ? Number(v) : v;
    }
    return body;
  }

  async function act(action, question, body = {}) {
    if (!window.confirm(question)) return;
    try {
      const res = await api(`/tasks/${id}/${action}`, {method: 'POST', body});
      say(action === 'retry'
        ? `Retry requested${res && res.id && String(res.id) !== String(id) ? ' (task #' + res.id + ')' : ''}; this page follows the new attempt.`
        : 'Cancel requested.');
      load();
    } catch (e) {
      say(`${action} refused: ${e.message}`, 'bad');
    }
  }

  function buttons() {
    if (!ctx.operator || !t) return null;
    return h('div', {class: 'actions'},
      CANCELLABLE.includes(t.state) ? h('button', {type: 'button', class: 'danger', id: 'cancel',
        onclick: () => act('cancel', `Cancel task #${id} (${t.name})? A running attempt is stopped.`)}, 'Cancel') : null,
      FINAL_RETRYABLE.includes(t.state) ? [h('button', {type: 'button', id: 'retry', onclick: () => {
        const body = retryBody();
        const how = Object.entries(body).map(([k, v]) => k === 'in' ? `in ${v} s` : `${k} ${v}`).join(', ');
        act('retry', `Retry task #${id} (${t.name})${how ? ' with ' + how : ''}? It is queued again with a fresh retry budget.`, body);
      }}, 'Retry'), retryOptions] : null);
  }

  function drawHead() {
    document.title = `#${t.id} ${t.name} ${t.state} · taskrt`;
    fill(head, h('h1', {}, `Task #${t.id} `, h('span', {class: 'task-name'}, t.name), ' ', badge(t.state)), buttons());
  }

  function lastDecision() {
    const as = t.attempts || [];
    for (let i = as.length - 1; i >= 0; i--) if (as[i].retry_decision) return as[i];
    return null;
  }

  /// "Waiting until 12:03:10 (in 42 s): attempt 2 failed (...); the policy
  /// decided: retry 2 of 3, in 4 s" and the decision's inputs.
  function waiting() {
    const until = seconds(t.run_at);
    if (t.state !== 'QUEUED' || until === null || until <= Date.now() / 1000) return null;
    const a = lastDecision();
    const d = a && a.retry_decision;
    return h('section', {class: 'panel waiting', id: 'waiting'},
      h('h2', {}, 'Waiting until ', time(t.run_at), ' ', h('span', {class: 'muted countdown'}, `(${relative(t.run_at)})`)),
      d ? h('p', {}, `Attempt ${a.attempt}`, a.node ? ` on ${a.node}` : '', ' ended ', badge(a.outcome),
        a.error_kind ? [' with ', h('code', {}, a.error_kind)] : null,
        a.message ? [': ', a.message] : null, a.signal ? ` (signal ${a.signal})` : null,
        '. The retry policy decided ', h('strong', {}, d.decision || '?'),
        d.reason ? [': ', h('em', {}, d.reason)] : null,
        d.delay_s != null ? `, after ${duration(d.delay_s)}` : null, '.')
        : h('p', {}, 'Scheduled to run at this time (submitted with --in/--at, or retried with a delay).'),
      d ? decisionDetails(d) : null);
  }

  function decisionDetails(d, open = false) {
    const {decision, reason, delay_s, retry_at, inputs, ...rest} = d;
    return h('details', {class: 'decision', open},
      h('summary', {}, 'Decision and its inputs'),
      facts([
        ['Decision', decision ?? '–'], ['Reason', reason ?? '–'],
        delay_s != null && ['Delay', duration(delay_s)],
        retry_at && ['Retry at', time(retry_at)],
        ...Object.entries(rest).map(([k, v]) => [k, typeof v === 'object' ? jsonBlock(v) : String(v)]),
      ]),
      inputs !== undefined ? [h('h3', {}, 'Inputs'), inputsView(inputs)] : null);
  }

  function inputsView(inputs) {
    if (!inputs || typeof inputs !== 'object' || Array.isArray(inputs)) return jsonBlock(inputs);
    return facts(Object.entries(inputs).map(([k, v]) =>
      [k, v !== null && typeof v === 'object' ? jsonBlock(v) : String(v)]));
  }

  function timeline() {
    const as = (t.attempts || []).filter(a => a.started || a.ended);
    if (!as.length) return h('p', {class: 'muted'}, 'No attempt has begun.');
    const start = Math.min(...as.map(a => seconds(a.started) ?? seconds(a.ended)));
    // A retry's wait (ended .. retry_at) is drawn hatched after its attempt.
    const waitUntil = a => a.retry_decision && a.retry_decision.decision === 'retry' && a.ended
      ? seconds(a.retry_decision.retry_at) : null;
    const end = Math.max(Date.now() / 1000 * (t.state === 'RUNNING' ? 1 : 0),
      ...as.map(a => seconds(a.ended) ?? Date.now() / 1000), ...as.map(a => waitUntil(a) ?? 0));
    const span = Math.max(end - start, 0.001);
    const pct = v => (100 * (v - start) / span).toFixed(2) + '%';
    return h('div', {class: 'timeline', id: 'timeline'}, as.map(a => {
      const b = seconds(a.started) ?? seconds(a.ended);
      const e = seconds(a.ended) ?? Date.now() / 1000;
      const outcome = a.outcome || (a.ended ? '?' : 'RUNNING');
      const why = outcome === 'LOST' ? (a.signal ? `signal ${a.signal}` : (a.message || a.error_kind || 'lost')) : (a.error_kind || '');
      return h('div', {class: 'tl-row', 'data-attempt': a.attempt},
        h('span', {class: 'tl-label'}, `#${a.attempt} `, h('span', {class: 'muted'}, a.node || '?')),
        h('span', {class: 'tl-track'},
          h('span', {class: 'tl-bar st-' + outcome.toLowerCase(),
            style: `left:${pct(b)};width:max(3px, calc(${pct(e)} - ${pct(b)}))`,
            title: `attempt ${a.attempt} on ${a.node || '?'}: ${outcome}, ${duration(e - b)}${why ? ' (' + why + ')' : ''}`}),
          waitUntil(a) > e ? h('span', {class: 'tl-wait', style: `left:${pct(e)};width:calc(${pct(waitUntil(a))} - ${pct(e)})`,
            title: `waiting for the retry until ${new Date(waitUntil(a) * 1000).toLocaleTimeString()}`}) : null),
        h('span', {class: 'tl-out'}, badge(outcome), ' ', duration(e - b), why ? h('span', {class: 'muted'}, ' ' + why) : null));
    }));
  }

  function attemptsTable() {
    return table([
      {label: '#', cell: a => String(a.attempt)},
      {label: 'Node', cell: a => [a.node || '–', a.worker_pid ? h('span', {class: 'muted'}, ` pid ${a.worker_pid}`) : null]},
      {label: 'Began', cell: a => time(a.started)},
      {label: 'Ended', cell: a => time(a.ended)},
      {label: 'Took', cls: 'n', cell: a => a.started ? duration(between(a.started, a.ended || undefined)) : '–'},
      {label: 'Outcome', cell: a => badge(a.outcome || (a.ended ? '?' : 'RUNNING'))},
      {label: 'Error / why', cell: a => [
        a.error_kind ? h('code', {}, a.error_kind) : null, a.message ? ' ' + a.message : null,
        a.signal ? ` signal ${a.signal}` : null,
        a.backtrace ? h('details', {}, h('summary', {}, 'backtrace'), jsonBlock(a.backtrace)) : null,
        (a.handbacks || []).length ? h('div', {class: 'muted'}, `handed back ${a.handbacks.length}×: `,
          a.handbacks.map(hb => `${hb.reason || '?'} (${hb.node || '?'})`).join(', ')) : null]},
      {label: 'Retry decision', cell: a => a.retry_decision
        ? [h('strong', {}, a.retry_decision.decision || '?'), ' ', a.retry_decision.reason || '',
          a.retry_decision.retry_at ? [' → ', time(a.retry_decision.retry_at)] : null,
          decisionDetails(a.retry_decision)] : '–'},
    ], t.attempts || [], {empty: 'No attempts yet.', rowAttrs: a => ({'data-attempt': a.attempt})});
  }

  /// How far the task is: the latest value it reported with ctx.progress()
  /// (`progress` of GET /api/v1/tasks/{id}: the head keeps the newest one,
  /// written at most once a second), drawn as a bar when it reads as a
  /// fraction (see progressFraction); for a running attempt, how long it has
  /// run and its last checkpoint.
  function progress() {
    const p = t.progress;
    const cps = t.checkpoints || [];
    const current = (t.attempts || []).find(a => a.attempt === t.attempt && a.started && !a.ended);
    if (t.state !== 'RUNNING' && !p) return null;
    const cp = cps.filter(c => c.attempt === t.attempt).pop();
    const frac = p ? progressFraction(p.value) : null;
    return h('section', {class: 'panel', id: 'progress'}, h('h2', {}, 'Progress'),
      p ? h('div', {class: 'reported'},
        frac == null ? null : h('p', {class: 'meter'},
          h('progress', {max: '1', value: String(frac)}), h('strong', {class: 'percent'}, `${Math.round(frac * 100)}%`)),
        h('p', {}, 'Reported ', time(p.at), ` (${relative(p.at)}) in attempt ${p.attempt}`,
          p.attempt !== t.attempt ? ' (an earlier attempt)' : '', ': ', jsonBlock(p.value)))
        : h('p', {class: 'muted'}, 'No progress reported in this attempt yet.'),
      current ? h('p', {}, 'Attempt ', String(current.attempt), current.node ? ` on ${current.node}` : '',
        ' running for ', h('strong', {class: 'elapsed', 'data-since': current.started},
          duration(between(current.started))), '.') : null,
      cp ? h('p', {}, 'Last checkpoint ', time(cp.at), ` (${relative(cp.at)}): `, jsonBlock(cp.data))
        : t.state === 'RUNNING' ? h('p', {class: 'muted'}, 'No checkpoint in this attempt yet.') : null);
  }

  function events() {
    return table([
      {label: 'ID', cls: 'n', cell: e => String(e.id)},
      {label: 'At', cell: e => time(e.at)},
      {label: 'Att.', cls: 'n', cell: e => String(e.attempt)},
      {label: 'Kind', cell: e => h('code', {}, e.kind)},
      {label: 'Transition', cls: 'nowrap', cell: e => e.from || e.to ? [e.from ? badge(e.from) : '–', ' → ', e.to ? badge(e.to) : '–'] : ''},
      {label: 'Node', cell: e => e.node || ''},
      {label: 'Detail', cell: e => e.detail == null ? '' : h('code', {class: 'detail'}, JSON.stringify(e.detail))},
    ], t.events || [], {empty: 'No events.'});
  }

  function draw() {
    drawHead();
    const checkpoints = t.checkpoints || [];
    fill(body,
      waiting(),
      h('section', {class: 'panel'}, facts([
        ['Queue', link('/tasks?queue=' + encodeURIComponent(t.queue), t.queue)],
        ['Priority', num(t.priority)],
        t.lock && ['Lock', h('code', {}, t.lock)],
        ['Attempt', num(t.attempt)],
        ['Node', t.node || '–'],
        ['Created', time(t.created_at)],
        ['Updated', time(t.updated_at)],
        t.run_at && ['Run at', time(t.run_at)],
        t.time_limit_s ? ['Time limit', duration(t.time_limit_s)] : null,
        t.parent_id && ['Parent', link('/tasks/' + t.parent_id, '#' + t.parent_id)],
      ])),
      progress(),
      h('section', {class: 'panel'}, h('h2', {}, 'Attempts'), timeline(), attemptsTable()),
      h('div', {class: 'grid2'},
        h('section', {class: 'panel'}, h('h2', {}, 'Args'), jsonBlock(t.args)),
        h('section', {class: 'panel'}, h('h2', {}, t.last_error && t.state !== 'SUCCEEDED' ? 'Error' : 'Result'),
          jsonBlock(t.last_error && t.state !== 'SUCCEEDED' ? t.last_error : t.result))),
      h('section', {class: 'panel', id: 'checkpoints'}, h('h2', {}, 'Checkpoints'), table([
        {label: 'Attempt', cls: 'n', cell: c => String(c.attempt)},
        {label: 'At', cell: c => time(c.at)},
        {label: 'Data', cell: c => jsonBlock(c.data)},
      ], checkpoints, {empty: 'No checkpoints.'})),
      h('section', {class: 'panel'}, h('h2', {}, 'Policy'), jsonBlock(t.policy)),
      h('section', {class: 'panel'}, h('h2', {}, 'Events'), events()));
  }

  async function load() {
    try {
      t = await api('/tasks/' + id);
      draw();
    } catch (e) {
      fill(head, h('h1', {}, `Task #${id}`));
      fill(body, h('div', {class: 'error'}, e.status === 404 ? `There is no task #${id}.` : 'Could not load the task: ' + e.message));
    }
  }

  const soon = throttle(load, 300);
  const unsub = ctx.feed.subscribe(ev => { if (String(eventTask(ev)) === String(id)) soon(); });
  // The countdown and a running attempt's bar move without events; its
  // progress is no journal event either, so a running task is read again
  // every 2 s.
  let ticks = 0;
  const tick = setInterval(() => {
    if (!t) return;
    if (t.state === 'RUNNING' && ++ticks % 2 === 0) soon();
    const tl = main.querySelector('#timeline');
    if (t.state === 'RUNNING' && tl) tl.replaceWith(timeline());
    for (const e of main.querySelectorAll('.elapsed')) e.textContent = duration(between(e.dataset.since));
    const c = main.querySelector('.countdown');
    if (c) {
      if (seconds(t.run_at) <= Date.now() / 1000) load(); else c.textContent = `(${relative(t.run_at)})`;
    }
  }, 1000);
  load();
  return () => { unsub(); soon.cancel(); clearInterval(tick); };
}

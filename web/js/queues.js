// "/queues": depth, running, oldest ready task and rate of each queue
// (GET /api/v1/queues); refreshed every 5 s and on feed events.
import {api} from './api.js';
import {h, fill, num, duration, table, rowsOf, link, throttle} from './util.js';

export function queues(main, ctx) {
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  fill(main, h('h1', {}, 'Queues'), body);
  async function load() {
    try {
      const rows = rowsOf(await api('/queues'), 'queues');
      const name = q => q.queue ?? q.name;
      fill(body, table([
        {label: 'Queue', cell: q => link('/tasks?queue=' + encodeURIComponent(name(q)), name(q))},
        {label: 'Depth', cls: 'n', cell: q => num(q.depth ?? q.queued)},
        {label: 'Ready now', cls: 'n', cell: q => num(q.ready)},
        {label: 'Scheduled', cls: 'n', cell: q => num(q.scheduled)},
        {label: 'Running', cls: 'n', cell: q => num(q.running)},
        {label: 'Oldest ready', cls: 'n', cell: q => q.oldest_ready_age_s != null ? duration(q.oldest_ready_age_s) : '–'},
        {label: 'Finished / s', cls: 'n', cell: q => q.rate_per_s != null ? num(q.rate_per_s) : num(q.rate)},
      ], rows, {empty: 'No queue has tasks.', rowAttrs: q => ({'data-queue': name(q)})}));
    } catch (e) {
      fill(body, h('div', {class: 'error'}, 'Could not load the queues: ', e.message));
    }
  }
  load();
  const soon = throttle(load, 2000);
  const unsub = ctx.feed.subscribe(soon);
  const timer = setInterval(load, 5000);
  return () => { clearInterval(timer); unsub(); soon.cancel(); };
}

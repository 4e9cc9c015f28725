// "/": counts by state, throughput and failures over time, queue depths,
// nodes and their slots. Refreshed every 5 s and on feed events.
import {api} from './api.js';
import {lineChart} from './chart.js';
import {h, fill, STATES, badge, num, duration, meter, table, link, rowsOf, throttle} from './util.js';

export function overview(main, ctx) {
  const counts = h('section', {class: 'cards', id: 'counts'});
  const rates = h('section', {class: 'panel', id: 'rates'});
  const chart = h('section', {class: 'panel', id: 'chart'});
  const queueBox = h('section', {class: 'panel', id: 'queues-box'});
  const nodeBox = h('section', {class: 'panel', id: 'nodes-box'});
  const err = h('div', {class: 'error', hidden: true});
  fill(main, h('h1', {}, 'Overview'), err, counts,
    h('div', {class: 'grid2'}, rates, chart),
    h('div', {class: 'grid2'}, queueBox, nodeBox));

  const drawChart = () => fill(chart,
    h('h2', {}, 'Throughput and failures'),
    lineChart(ctx.history),
    h('p', {class: 'hint'}, 'Tasks that ended, per 10 s: the last ten minutes from the journal, then live.'));

  async function load() {
    const [status, qs, ns] = await Promise.allSettled([api('/status'), api('/queues'), api('/nodes')]);
    const failed = [status, qs, ns].find(r => r.status === 'rejected');
    err.hidden = !failed;
    if (failed) fill(err, 'Could not load everything: ', failed.reason.message);
    if (ns.status === 'fulfilled') lastNodes = rowsOf(ns.value, 'nodes');
    if (status.status === 'fulfilled') drawStatus(status.value);
    if (qs.status === 'fulfilled') drawQueues(rowsOf(qs.value, 'queues'));
    if (ns.status === 'fulfilled') drawNodes(lastNodes);
    drawChart();
  }

  function drawStatus(s) {
    const t = s.tasks || s.counts || {};
    fill(counts, STATES.map(st => h('a', {class: 'card st-card st-' + st.toLowerCase(),
      href: '/tasks?state=' + st, 'data-state': st},
      h('span', {class: 'card-n'}, num(t[st] ?? 0)), badge(st))));
    // Only what the head reported: a missing figure is left out, not shown as 0.
    const row = (label, v, ...more) => v === undefined || v === null ? null
      : [h('dt', {}, label), h('dd', {}, num(v), ...more)];
    const slots = s.node_slots || (s.head && s.head.live_node_slots) || slotsOf(lastNodes);
    fill(rates, h('h2', {}, 'Now'), h('dl', {class: 'facts'},
      row('Throughput', s.throughput_per_s, ' tasks/s ',
        s.succeeded_last_minute != null ? h('span', {class: 'muted'}, `(${num(s.succeeded_last_minute)} in the last minute)`) : null),
      row('Failed, last minute', s.failed_last_minute),
      row('Failed, last hour', s.failed_last_hour),
      row('Retries, last hour', s.retries_last_hour),
      row('Lost, last hour', s.lost_last_hour),
      row('Ready to run', s.queued_ready,
        s.oldest_queued_age_s != null ? h('span', {class: 'muted'}, `, the oldest waits ${duration(s.oldest_queued_age_s)}`) : null),
      row('Scheduled later', s.queued_scheduled,
        s.next_scheduled_in_s != null ? h('span', {class: 'muted'}, `, next in ${duration(s.next_scheduled_in_s)}`) : null),
      slots ? [h('dt', {}, 'Slots in use'), h('dd', {}, meter(slots.used ?? 0, slots.total ?? 0))] : null,
      s.head && s.head.node_id ? [h('dt', {}, 'Head'), h('dd', {}, s.head.node_id, ' ',
        h('span', {class: 'muted'}, s.head.address || s.head.version || ''),
        s.head.uptime_s != null ? h('span', {class: 'muted'}, `, up ${duration(s.head.uptime_s)}`) : null)] : null,
      s.head && s.head.journal_up === false ? [h('dt', {}, 'Journal'), h('dd', {class: 'error'},
        'Postgres is down: ', s.head.journal_error || '?')] : null));
  }

  let lastNodes = null;
  /// Slots of the nodes that take work (ALIVE, DRAINING).
  function slotsOf(nodes) {
    if (!nodes) return null;
    const up = nodes.filter(n => n.state === 'ALIVE' || n.state === 'DRAINING');
    return {used: up.reduce((a, n) => a + (n.running || 0), 0), total: up.reduce((a, n) => a + (n.slots || 0), 0)};
  }

  function drawQueues(rows) {
    fill(queueBox, h('h2', {}, link('/queues', 'Queues')), table([
      {label: 'Queue', cell: q => link('/tasks?queue=' + encodeURIComponent(q.queue ?? q.name), q.queue ?? q.name)},
      {label: 'Depth', cls: 'n', cell: q => num(q.depth ?? q.queued)},
      {label: 'Running', cls: 'n', cell: q => num(q.running)},
      {label: 'Oldest ready', cls: 'n', cell: q => q.oldest_ready_age_s != null ? duration(q.oldest_ready_age_s) : '–'},
    ], rows, {empty: 'No queue has tasks.'}));
  }

  function drawNodes(rows) {
    fill(nodeBox, h('h2', {}, link('/nodes', 'Nodes')), table([
      {label: 'Node', cell: n => n.id},
      {label: 'State', cell: n => badge(n.state)},
      {label: 'Slots', cell: n => meter(n.running ?? 0, n.slots ?? 0)},
    ], rows, {empty: 'No node has joined.'}));
  }

  const soon = throttle(() => load().catch(() => {}), 2000);
  const unsub = ctx.feed.subscribe(soon);
  const timer = setInterval(() => load().catch(() => {}), 5000);
  const chartTimer = setInterval(drawChart, 2000);
  load().catch(() => {});
  return () => { unsub(); soon.cancel(); clearInterval(timer); clearInterval(chartTimer); };
}

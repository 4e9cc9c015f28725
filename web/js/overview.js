// "/": counts by state, throughput and failures over time, queue depths,
// nodes and their slots. Refreshed every 5 s and on feed events.
import {api} from './api.js';
import {lineChart} from './chart.js';
import {h, fill, STATES, badge, num, duration, meter, table, link, rowsOf, debounce, time} from './util.js';

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
    h('p', {class: 'hint'}, 'From the live feed, per 10 s, since this page was opened.'));

  async function load() {
    const [status, qs, ns] = await Promise.allSettled([api('/status'), api('/queues'), api('/nodes')]);
    const failed = [status, qs, ns].find(r => r.status === 'rejected');
    err.hidden = !failed;
    if (failed) fill(err, 'Could not load everything: ', failed.reason.message);
    if (status.status === 'fulfilled') drawStatus(status.value);
    if (qs.status === 'fulfilled') drawQueues(rowsOf(qs.value, 'queues'));
    if (ns.status === 'fulfilled') drawNodes(rowsOf(ns.value, 'nodes'));
    drawChart();
  }

  function drawStatus(s) {
    const t = s.tasks || s.counts || {};
    fill(counts, STATES.map(st => h('a', {class: 'card st-card st-' + st.toLowerCase(),
      href: '/tasks?state=' + st, 'data-state': st},
      h('span', {class: 'card-n'}, num(t[st] ?? 0)), badge(st))));
    const slots = s.node_slots || (s.head && s.head.live_node_slots) || null;
    fill(rates, h('h2', {}, 'Now'), h('dl', {class: 'facts'},
      h('dt', {}, 'Throughput'), h('dd', {}, num(s.throughput_per_s ?? 0), ' tasks/s ',
        h('span', {class: 'muted'}, `(${num(s.succeeded_last_minute ?? 0)} in the last minute)`)),
      h('dt', {}, 'Failed, last hour'), h('dd', {}, num(s.failed_last_hour ?? 0)),
      h('dt', {}, 'Retries, last hour'), h('dd', {}, num(s.retries_last_hour ?? 0)),
      h('dt', {}, 'Lost, last hour'), h('dd', {}, num(s.lost_last_hour ?? 0)),
      h('dt', {}, 'Ready to run'), h('dd', {}, num(s.queued_ready ?? t.QUEUED ?? 0),
        s.oldest_queued_age_s != null ? h('span', {class: 'muted'}, `, oldest waits ${duration(s.oldest_queued_age_s)}`) : null),
      h('dt', {}, 'Scheduled later'), h('dd', {}, num(s.queued_scheduled ?? 0),
        s.next_scheduled_in_s != null ? h('span', {class: 'muted'}, `, next in ${duration(s.next_scheduled_in_s)}`) : null),
      slots ? [h('dt', {}, 'Slots in use'), h('dd', {}, meter(slots.used ?? 0, slots.total ?? 0))] : null,
      s.head && s.head.node_id ? [h('dt', {}, 'Head'), h('dd', {}, s.head.node_id, ' ',
        h('span', {class: 'muted'}, s.head.address || ''),
        s.head.uptime_s != null ? h('span', {class: 'muted'}, `, up ${duration(s.head.uptime_s)}`) : null)] : null));
  }

  function drawQueues(rows) {
    fill(queueBox, h('h2', {}, link('/queues', 'Queues')), table([
      {label: 'Queue', cell: q => link('/tasks?queue=' + encodeURIComponent(q.queue ?? q.name), q.queue ?? q.name)},
      {label: 'Depth', cls: 'n', cell: q => num(q.depth ?? q.queued)},
      {label: 'Running', cls: 'n', cell: q => num(q.running)},
      {label: 'Oldest ready', cls: 'n', cell: q => q.oldest_ready_age_s != null ? duration(q.oldest_ready_age_s) : time(q.oldest_ready)},
    ], rows, {empty: 'No queue has tasks.'}));
  }

  function drawNodes(rows) {
    fill(nodeBox, h('h2', {}, link('/nodes', 'Nodes')), table([
      {label: 'Node', cell: n => n.id},
      {label: 'State', cell: n => badge(n.state)},
      {label: 'Slots', cell: n => meter(n.running ?? 0, n.slots ?? 0)},
    ], rows, {empty: 'No node has joined.'}));
  }

  const soon = debounce(() => load().catch(() => {}), 500);
  const unsub = ctx.feed.subscribe(soon);
  const timer = setInterval(() => load().catch(() => {}), 5000);
  const chartTimer = setInterval(drawChart, 2000);
  load().catch(() => {});
  return () => { unsub(); soon.cancel(); clearInterval(timer); clearInterval(chartTimer); };
}

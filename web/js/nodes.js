// "/nodes": every node, its state, slots and heartbeat (GET /api/v1/nodes).
import {api} from './api.js';
import {h, fill, badge, meter, time, table, rowsOf, relative, link} from './util.js';

export function nodes(main) {
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  fill(main, h('h1', {}, 'Nodes'), body);
  async function load() {
    try {
      const rows = rowsOf(await api('/nodes'), 'nodes');
      fill(body, table([
        {label: 'Node', cell: n => link('/tasks?node=' + encodeURIComponent(n.id), n.id)},
        {label: 'State', cell: n => badge(n.state)},
        {label: 'Slots used', cell: n => meter(n.running ?? 0, n.slots ?? 0)},
        {label: 'Last heartbeat', cell: n => [time(n.last_heartbeat), ' ', h('span', {class: 'muted'}, relative(n.last_heartbeat))]},
        {label: 'Address', cell: n => n.address || '–'},
        {label: 'Started', cell: n => time(n.started_at)},
      ], rows, {empty: 'No node has joined this cluster.', rowAttrs: n => ({'data-node': n.id})}));
    } catch (e) {
      fill(body, h('div', {class: 'error'}, 'Could not load the nodes: ', e.message));
    }
  }
  load();
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}

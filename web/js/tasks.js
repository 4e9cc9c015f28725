// "/tasks": the list with the filters of `taskrt tasks list` (state, name,
// queue, node, error kind, since), sortable, paged with the API's cursor.
// The filters live in the address, so a filtered list is a link. New tasks
// and state changes arrive through the live feed without a reload.
import {api, query, eventTask} from './api.js';
import {h, fill, STATES, badge, time, table, rowsOf, throttle, num} from './util.js';

const FILTERS = ['state', 'name', 'queue', 'node', 'error_kind', 'since'];
const SORTABLE = {id: 'ID', name: 'Name', priority: 'Priority', updated: 'Updated'};
const DEFAULT_SORT = '-id';

export function tasks(main, ctx, params) {
  const p = Object.fromEntries(FILTERS.map(k => [k, params.get(k) || '']));
  const sort = params.get('sort') || DEFAULT_SORT;
  const limit = Number(params.get('limit')) || 50;
  const cursor = params.get('cursor') || '';
  // Cursors of the pages before this one (Back), carried in the address.
  const back = (params.get('back') || '').split('~').filter(Boolean);

  const go = (over) => {
    const next = {...p, sort: sort === DEFAULT_SORT ? '' : sort, limit: limit === 50 ? '' : limit,
      cursor: '', back: '', ...over};
    ctx.navigate('/tasks' + query(next), {replace: false});
  };

  const field = (k, label, attrs = {}) => h('label', {}, label,
    h('input', {name: k, value: p[k], autocomplete: 'off', ...attrs}));
  const form = h('form', {class: 'filters', onsubmit: e => {
    e.preventDefault();
    const fd = new FormData(form);
    go(Object.fromEntries(FILTERS.map(k => [k, (fd.get(k) || '').trim()])));
  }},
  h('label', {}, 'State', h('select', {name: 'state'},
    h('option', {value: ''}, 'any'),
    STATES.map(s => h('option', {value: s, selected: p.state.toUpperCase() === s}, s)))),
  field('name', 'Name', {placeholder: 'e.g. payments.charge'}),
  field('queue', 'Queue'),
  field('node', 'Node'),
  field('error_kind', 'Error kind', {placeholder: 'std::runtime_error'}),
  field('since', 'Since', {placeholder: '1h, 7d or RFC 3339'}),
  h('div', {class: 'filter-buttons'},
    h('button', {type: 'submit'}, 'Filter'),
    h('button', {type: 'button', class: 'secondary', onclick: () => ctx.navigate('/tasks')}, 'Clear')));

  const status = h('p', {class: 'muted', id: 'list-status', 'aria-live': 'polite'}, 'Loading…');
  const list = h('div', {id: 'task-list'});
  const pager = h('div', {class: 'pager'});
  fill(main, h('h1', {}, 'Tasks'), form, status, list, pager);

  let rows = [];

  const header = (key) => {
    const label = SORTABLE[key];
    const cur = sort.replace(/^-/, '') === key ? (sort.startsWith('-') ? ' ↓' : ' ↑') : '';
    const nextSort = sort === key ? '-' + key : key;
    return h('button', {type: 'button', class: 'sort', 'data-sort': key, 'data-label': label,
      title: 'Sort by ' + label.toLowerCase(), onclick: () => go({sort: nextSort})}, label + cur);
  };

  function draw() {
    fill(list, table([
      {label: header('id'), cell: t => h('a', {href: '/tasks/' + t.id}, '#' + t.id)},
      {label: header('name'), cell: t => t.name},
      {label: 'State', cell: t => badge(t.state)},
      {label: 'Attempt', cls: 'n', cell: t => num(t.attempt)},
      {label: 'Queue', cell: t => t.queue},
      {label: header('priority'), cls: 'n wide', cell: t => num(t.priority)},
      {label: 'Node', cell: t => t.node || '–'},
      {label: 'Error kind', cell: t => t.error_kind || ''},
      {label: header('updated'), cell: t => time(t.updated_at)},
      {label: 'Run at', cls: 'wide', cell: t => time(t.run_at)},
    ], rows, {empty: 'No task matches.', rowAttrs: t => ({'data-task': t.id})}));
  }

  async function load() {
    try {
      const res = await api('/tasks' + query({...p, sort, limit, cursor}));
      rows = rowsOf(res, 'tasks', 'items');
      const nextCursor = res && !Array.isArray(res) ? (res.next_cursor ?? res.next ?? null) : null;
      const shown = `${rows.length} task${rows.length === 1 ? '' : 's'}` +
        (back.length ? ` (page ${back.length + 1})` : '');
      const more = nextCursor || (res && res.more);
      fill(status, shown, more ? ', more match' : '',
        more && !nextCursor ? ' (pages follow ids: sort by ID to page, or narrow the filters)' : '');
      draw();
      fill(pager,
        h('button', {type: 'button', class: 'secondary', disabled: !cursor,
          onclick: () => go({cursor: (back[back.length - 1] || '_').replace(/^_$/, ''),
            back: back.slice(0, -1).join('~')})},
          '← Back'),
        h('button', {type: 'button', class: 'secondary', disabled: !nextCursor,
          onclick: () => go({cursor: nextCursor, back: [...back, cursor || '_'].join('~')})},
          'Next →'));
    } catch (e) {
      fill(status, h('span', {class: 'error'}, 'Could not load the tasks: ', e.message));
    }
  }

  // A task on the page changes in place; a task not on it reloads the first
  // page (it may be new and match the filters).
  const reload = throttle(load, 1000);
  const changed = new Set();
  const redraw = throttle(() => {
    draw();
    for (const id of changed) {
      const tr = list.querySelector(`tr[data-task="${id}"]`);
      if (tr) tr.classList.add('flash');
    }
    changed.clear();
  }, 250);
  const unsub = ctx.feed.subscribe(ev => {
    const id = eventTask(ev);
    if (id == null) return;
    const row = rows.find(t => String(t.id) === String(id));
    if (row) {
      if (ev.to) row.state = ev.to;
      if (ev.attempt) row.attempt = ev.attempt;
      if (ev.node) row.node = ev.node;
      if (ev.at) row.updated_at = ev.at;
      changed.add(row.id);
      redraw();
    } else if (!cursor) {
      reload();
    }
  });
  load();
  return () => { unsub(); reload.cancel(); redraw.cancel(); };
}

// Live: the change feed as it happens (newest first), with a pause that holds new changes back.
import { formatShortTime, formatTime, h, mount } from './dom.js'

const SHOWN = 200
let paused = false
let held = 0
let filter = ''

function rowOf(change) {
  const link = `#/records/${encodeURIComponent(change.collection)}/${encodeURIComponent(change.id)}`
  return h(
    'tr',
    { dataset: { seq: change.seq, id: change.id, collection: change.collection } },
    h('td', { class: 'num' }, String(change.seq)),
    h('td', { class: 'time', title: formatTime(change.at) }, formatShortTime(change.at)),
    h('td', {}, h('span', { class: `op op-${change.op}` }, change.op)),
    h('td', {}, change.collection),
    h('th', { scope: 'row' }, h('a', { href: link }, change.id)),
    h('td', { class: 'num' }, String(change.version)),
    h('td', {}, change.role),
  )
}

export async function showLive({ view, feed }) {
  const body = h('tbody', { id: 'feed-rows' })
  const status = h('p', { class: 'summary', role: 'status', 'aria-live': 'polite' })
  const pause = h('button', { type: 'button', id: 'pause', 'aria-pressed': String(paused), onclick: () => toggle() })
  const collections = [...new Set(feed.changes.map((c) => c.collection))].sort()
  const select = h(
    'select',
    { id: 'feed-filter', 'aria-label': 'Collection', onchange: (e) => ((filter = e.target.value), renderAll()) },
    h('option', { value: '' }, 'all collections'),
    collections.map((c) => h('option', { value: c, selected: c === filter }, c)),
  )
  const visible = (change) => filter === '' || change.collection === filter

  function renderStatus() {
    pause.textContent = paused ? `Resume${held > 0 ? ` (${held} new)` : ''}` : 'Pause'
    pause.setAttribute('aria-pressed', String(paused))
    status.textContent = paused
      ? `Paused: ${held} change${held === 1 ? '' : 's'} held back.`
      : `Following the change feed: ${feed.changes.length} change${feed.changes.length === 1 ? '' : 's'} received since the page opened.`
  }

  function renderAll() {
    mount(body, feed.changes.filter(visible).slice(-SHOWN).reverse().map(rowOf))
    held = 0
    renderStatus()
  }

  function toggle() {
    paused = !paused
    if (!paused) renderAll()
    renderStatus()
  }

  mount(
    view,
    h('h1', {}, 'Live'),
    h('p', { class: 'muted' }, 'Every write of every process, as it commits. Rows link to the record.'),
    h('div', { class: 'actions' }, pause, select),
    status,
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'grid', id: 'feed-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['seq', 'at', 'op', 'collection', 'id', 'version', 'role'].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        body,
      ),
    ),
  )
  renderAll()
  feed.listen((change) => {
    if (!select.querySelector(`option[value="${CSS.escape(change.collection)}"]`))
      select.append(h('option', { value: change.collection }, change.collection))
    if (paused) {
      held++
      return renderStatus()
    }
    if (!visible(change)) return renderStatus()
    const tr = rowOf(change)
    tr.classList.add('flash')
    body.prepend(tr)
    while (body.children.length > SHOWN) body.lastChild.remove()
    renderStatus()
  })
}

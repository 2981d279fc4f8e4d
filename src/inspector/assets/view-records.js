// Records: a page of a collection as a table, sorted and filtered with the query engine of find
// (POST /v1/collections/<name>/find and /count), paged with its keyset cursors; rows update in
// place when the feed reports a write; a record opens beside the table.
import { api } from './api.js'
import { errorBox, formatShortTime, formatTime, h, mount, preview } from './dom.js'
import { recordPanel } from './record-panel.js'
import { onLeave, screenToken } from './state.js'

const META = ['$id', '$version', '$createdAt', '$updatedAt', '$role']
const OPERATORS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'exists']
const PAGE_SIZES = [25, 50, 100]

/** Each collection's filter, order and page, kept while the tab lives. */
const states = new Map()
function stateOf(name) {
  if (!states.has(name))
    states.set(name, { conditions: [{ field: '', op: 'eq', value: '' }], orderBy: '$id', desc: false, limit: 25, cursors: [null], page: 0 })
  return states.get(name)
}

/**
 * The Collections overview, asked again only when older than a few seconds: opening a record
 * re-renders this screen, and on a big store every count costs a scan of an index.
 */
const FRESH_MS = 5000
let overviewCache = { at: 0, data: null }
async function recentOverview() {
  if (overviewCache.data === null || Date.now() - overviewCache.at > FRESH_MS)
    overviewCache = { at: Date.now(), data: await api.collections() }
  return overviewCache.data
}

/** The JSON Schema type of a field, where the schema says. */
function typeOf(collection, field) {
  if (field === '$version') return 'number'
  if (META.includes(field)) return 'string'
  const type = collection.schema.kind === 'json-schema' ? collection.schema.jsonSchema?.properties?.[field]?.type : undefined
  return Array.isArray(type) ? type.find((t) => t !== 'null') : type
}

function parseValue(raw, type) {
  const text = raw.trim()
  if (type === 'string') return raw
  if (text === 'null') return null
  if (type === 'number' || type === 'integer') return Number(text)
  if (text === 'true' || text === 'false') return text === 'true'
  if (text !== '' && !Number.isNaN(Number(text))) return Number(text)
  return raw
}

/** The `where` of the filter rows: one object, several operators on one field ANDed. */
export function whereOf(collection, conditions) {
  const where = {}
  for (const { field, op, value } of conditions) {
    if (field.trim() === '') continue
    const type = typeOf(collection, field)
    const parsed =
      op === 'exists' ? value !== 'false' : op === 'in' ? value.split(',').map((v) => parseValue(v, type)) : parseValue(value, type)
    where[field] = { ...where[field], [op]: parsed }
  }
  return Object.keys(where).length === 0 ? undefined : where
}

function chooseCollection(view, collections) {
  mount(
    view,
    h('h1', {}, 'Records'),
    h('p', {}, 'Pick a collection:'),
    h(
      'ul',
      { class: 'links' },
      collections.map((c) =>
        h('li', {}, h('a', { href: `#/records/${encodeURIComponent(c.name)}` }, c.name), ` (${c.count.toLocaleString('en')})`),
      ),
    ),
  )
}

export async function showRecords({ view, session, feed }, name, openId) {
  const current = screenToken()
  const overview = await recentOverview()
  if (!current()) return
  const collection = overview.collections.find((c) => c.name === name)
  if (collection === undefined) return chooseCollection(view, overview.collections)
  const state = stateOf(name)
  const base = `#/records/${encodeURIComponent(name)}`

  const filterRows = h('div', { class: 'conditions' })
  const summary = h('p', { class: 'summary', role: 'status', 'aria-live': 'polite' })
  const tableBox = h('div', { class: 'scroll' })
  const pager = h('div', { class: 'pager' })
  const panel = h('section', { class: 'record', id: 'record', 'aria-label': 'Record' })
  const fieldList = h(
    'datalist',
    { id: 'fields' },
    [...collection.fields, ...META].map((f) => h('option', { value: f })),
  )
  let rows = new Map()
  const knownFields = collection.schema.kind === 'json-schema' || collection.schema.kind === 'fields'
  let fields = collection.fields.slice(0, 5)
  let newSince = 0

  function renderConditions() {
    mount(
      filterRows,
      state.conditions.map((c, i) =>
        h(
          'div',
          { class: 'condition' },
          h('input', {
            list: 'fields',
            class: 'field',
            'aria-label': 'Field',
            placeholder: 'field',
            value: c.field,
            oninput: (e) => (c.field = e.target.value),
          }),
          h(
            'select',
            { class: 'op', 'aria-label': 'Operator', onchange: (e) => ((c.op = e.target.value), renderConditions()) },
            OPERATORS.map((op) => h('option', { value: op, selected: op === c.op }, op)),
          ),
          c.op === 'exists'
            ? h(
                'select',
                { class: 'value', 'aria-label': 'Value', onchange: (e) => (c.value = e.target.value) },
                h('option', { value: 'true', selected: c.value !== 'false' }, 'true'),
                h('option', { value: 'false', selected: c.value === 'false' }, 'false'),
              )
            : h('input', {
                class: 'value',
                'aria-label': 'Value',
                placeholder: c.op === 'in' ? 'a, b, c' : 'value',
                value: c.value,
                oninput: (e) => (c.value = e.target.value),
              }),
          h(
            'button',
            {
              type: 'button',
              class: 'ghost',
              'aria-label': 'Remove condition',
              onclick: () => (state.conditions.splice(i, 1), renderConditions()),
            },
            '✕',
          ),
        ),
      ),
    )
  }

  function sortButton(label, key) {
    const active = state.orderBy === key
    return h(
      'th',
      { scope: 'col', 'aria-sort': active ? (state.desc ? 'descending' : 'ascending') : 'none' },
      h(
        'button',
        {
          type: 'button',
          class: 'sort',
          dataset: { sort: key },
          onclick: () => ((state.desc = active ? !state.desc : false), (state.orderBy = key), reset(), void loadPage('keep')),
        },
        label,
        active ? (state.desc ? ' ▼' : ' ▲') : '',
      ),
    )
  }

  function rowOf(record) {
    return h(
      'tr',
      { dataset: { id: record.id }, class: record.id === openId ? 'open' : '' },
      h('th', { scope: 'row' }, h('a', { href: `${base}/${encodeURIComponent(record.id)}` }, record.id)),
      h('td', { class: 'num version' }, String(record.version)),
      h('td', { class: 'time', title: formatTime(record.updatedAt) }, formatShortTime(record.updatedAt)),
      fields.length > 0
        ? fields.map((f) => h('td', { dataset: { field: f } }, preview(record.data?.[f])))
        : h('td', { class: 'data' }, preview(record.data, 80)),
    )
  }

  function renderTable(records) {
    rows = new Map(records.map((r) => [r.id, { record: r, tr: rowOf(r) }]))
    mount(
      tableBox,
      h(
        'table',
        { class: 'grid', id: 'records' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            sortButton('id', '$id'),
            sortButton('version', '$version'),
            sortButton('updated', '$updatedAt'),
            fields.length > 0 ? fields.map((f) => sortButton(f, f)) : h('th', { scope: 'col' }, 'data'),
          ),
        ),
        h(
          'tbody',
          {},
          records.length > 0
            ? [...rows.values()].map((r) => r.tr)
            : h('tr', {}, h('td', { colspan: 4 + fields.length, class: 'muted' }, 'No records match.')),
        ),
      ),
    )
  }

  function reset() {
    state.cursors = [null]
    state.page = 0
  }

  let loads = 0
  /**
   * Loads the page in view, and counts the matches: 'force' (a filter applied, a refresh), 'auto'
   * (opening the screen: again if the last count is older than a few seconds) or 'keep' (another
   * page or order of the same matches).
   */
  async function loadPage(recount = 'force') {
    // Only the latest load renders: a slow query finishing after a newer one must not replace it.
    const mine = ++loads
    const where = whereOf(collection, state.conditions)
    const options = { orderBy: `${state.desc ? '-' : ''}${state.orderBy}`, limit: state.limit }
    if (where !== undefined) options.where = where
    const after = state.cursors[state.page]
    if (after !== null) options.after = after
    let page, count
    try {
      const key = JSON.stringify(where ?? null)
      const ask = state.countKey !== key || recount === 'force' || (recount === 'auto' && Date.now() - (state.countAt ?? 0) > FRESH_MS)
      let total
      ;[page, total] = await Promise.all([api.find(name, options), ask ? api.count(name, where) : Promise.resolve(state.count)])
      if (ask) Object.assign(state, { count: total, countKey: key, countAt: Date.now() })
      count = total
    } catch (error) {
      if (mine !== loads) return
      mount(tableBox, errorBox(error))
      mount(summary)
      mount(pager)
      return
    }
    if (!current() || mine !== loads) return
    newSince = 0
    // Without a schema's field list, the columns are the indexed fields, then the keys the records have.
    if (!knownFields) fields = [...new Set([...collection.fields, ...page.records.flatMap((r) => Object.keys(r.data ?? {}))])].slice(0, 5)
    state.cursors[state.page + 1] = page.next
    const first = state.page * state.limit
    summary.textContent =
      count.count === 0
        ? 'No records match.'
        : `Records ${first + 1}–${first + page.records.length} of ${count.count.toLocaleString('en')}${where === undefined ? '' : ' matching the filter'}.`
    summary.dataset.count = String(count.count)
    renderTable(page.records)
    mount(
      pager,
      h(
        'button',
        { type: 'button', id: 'prev', disabled: state.page === 0, onclick: () => (state.page--, void loadPage('keep')) },
        '← Previous',
      ),
      h('span', { class: 'page' }, `Page ${state.page + 1}`),
      h(
        'button',
        { type: 'button', id: 'next', disabled: page.next === null, onclick: () => (state.page++, void loadPage('keep')) },
        'Next →',
      ),
      h(
        'label',
        {},
        'per page ',
        h(
          'select',
          { id: 'limit', onchange: (e) => ((state.limit = Number(e.target.value)), reset(), void loadPage('keep')) },
          PAGE_SIZES.map((n) => h('option', { value: n, selected: n === state.limit }, String(n))),
        ),
      ),
    )
  }

  /** A write another process made: rows in view update in place; new records are counted for a refresh. */
  async function onChange(change) {
    if (change.collection !== name) return
    if (change.id === openId) panelHandle?.changed(change)
    const row = rows.get(change.id)
    if (row === undefined) {
      if (change.op === 'insert') {
        newSince++
        summary.dataset.fresh = String(newSince)
        summary.replaceChildren(
          summary.textContent.replace(/ \(\d+ new.*$/, ''),
          ` (${newSince} new since loaded — `,
          h('a', { href: '#', onclick: (e) => (e.preventDefault(), void loadPage()) }, 'refresh'),
          ')',
        )
      }
      return
    }
    if (change.op === 'delete' || change.op === 'trim') {
      row.tr.classList.add('gone')
      row.tr.querySelector('.version').textContent = `${change.op}d`
      return
    }
    let record = row.record
    if (change.data !== undefined && (change.dataVersion ?? change.version) > record.version)
      record = { ...record, data: change.data, version: change.dataVersion ?? change.version, updatedAt: change.at, role: change.role }
    else if (change.data === undefined) record = await api.get(name, change.id).catch(() => record)
    const tr = rowOf(record)
    tr.classList.add('flash')
    row.tr.replaceWith(tr)
    rows.set(change.id, { record, tr })
  }

  mount(
    view,
    h('h1', {}, name, ' ', h('span', { class: 'muted small' }, `${collection.count.toLocaleString('en')} records`)),
    h(
      'form',
      { class: 'filter', id: 'filter', 'aria-label': 'Filter', onsubmit: (e) => (e.preventDefault(), reset(), void loadPage()) },
      fieldList,
      filterRows,
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          { type: 'button', onclick: () => (state.conditions.push({ field: '', op: 'eq', value: '' }), renderConditions()) },
          '+ condition',
        ),
        h('button', { type: 'submit', class: 'primary', id: 'apply' }, 'Apply filter'),
        h(
          'button',
          {
            type: 'button',
            id: 'clear',
            onclick: () => ((state.conditions = [{ field: '', op: 'eq', value: '' }]), renderConditions(), reset(), void loadPage()),
          },
          'Clear',
        ),
      ),
    ),
    h('div', { class: openId ? 'split' : '' }, h('div', { class: 'list' }, summary, tableBox, pager), openId ? panel : null),
  )
  renderConditions()
  const panelHandle = openId ? recordPanel(panel, { collection: name, id: openId, session, closeHref: base }) : null
  feed.listen((change) => void onChange(change))
  const keys = (e) => {
    if (e.key === 'Escape' && openId && !panelHandle?.editing) location.hash = base
    if (e.key === '/' && !['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName)) {
      e.preventDefault()
      view.querySelector('.condition .field')?.focus()
    }
  }
  document.addEventListener('keydown', keys)
  onLeave(() => document.removeEventListener('keydown', keys))
  await loadPage('auto')
}

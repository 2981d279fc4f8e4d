// Collections: names, counts, writers, schema, indexes, retention and archive size.
import { api } from './api.js'
import { formatBytes, formatMs, h, mount } from './dom.js'
import { screenToken } from './state.js'

function schemaCell(schema) {
  switch (schema.kind) {
    case 'none':
      return h('span', { class: 'muted' }, 'none (any JSON object)')
    case 'digest':
      return h(
        'span',
        { class: 'muted', title: 'declared by another process; this inspector has no config with it' },
        `declared elsewhere (${schema.digest})`,
      )
    case 'validator':
      return `${schema.vendor} (fields not known)`
    case 'fields':
      return `${schema.vendor}: ${schema.fields.join(', ')}${schema.open ? ', …' : ''}`
    default:
      return h(
        'details',
        {},
        h('summary', {}, `${schema.vendor}: ${Object.keys(schema.jsonSchema?.properties ?? {}).join(', ') || 'JSON Schema'}`),
        h('pre', { class: 'json small' }, JSON.stringify(schema.jsonSchema, null, 2)),
      )
  }
}

function retentionCell(retention) {
  if (retention === null) return h('span', { class: 'muted' }, 'keep all')
  if (typeof retention === 'string') return retention
  const limits = [
    retention.maxCount === null ? null : `newest ${retention.maxCount.toLocaleString('en')}`,
    retention.maxAgeMs === null ? null : `for ${formatMs(retention.maxAgeMs)}`,
  ].filter(Boolean)
  return `${limits.join(', ')}; ${retention.archive === null ? 'trimmed records deleted' : `archived by ${retention.archive.period}`}`
}

export async function showCollections({ view }) {
  const current = screenToken()
  const data = await api.collections()
  if (!current()) return
  const total = data.collections.reduce((n, c) => n + c.count, 0)
  const rows = data.collections.map((c) =>
    h(
      'tr',
      { dataset: { collection: c.name } },
      h('th', { scope: 'row' }, h('a', { href: `#/records/${encodeURIComponent(c.name)}` }, c.name)),
      h('td', { class: 'num', dataset: { count: c.count } }, c.count.toLocaleString('en')),
      h(
        'td',
        {},
        c.writers === null ? h('span', { class: 'muted' }, 'undeclared') : c.writers.join(', ') || h('span', { class: 'muted' }, 'nobody'),
      ),
      h('td', {}, schemaCell(c.schema)),
      h('td', {}, c.indexes.join(', ') || h('span', { class: 'muted' }, '–')),
      h('td', {}, retentionCell(c.retention)),
      h(
        'td',
        { class: 'num' },
        c.archive === null ? h('span', { class: 'muted' }, '–') : `${formatBytes(c.archive.bytes)} (${c.archive.files} files)`,
      ),
    ),
  )
  mount(
    view,
    h('h1', {}, 'Collections'),
    h(
      'p',
      { class: 'muted' },
      `${data.collections.length} collections, ${total.toLocaleString('en')} records; schema version ${data.schemaVersion}; change log at seq ${data.changes.head}.`,
    ),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'grid', id: 'collections' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['name', 'records', 'writers', 'schema', 'indexes', 'retention', 'archive'].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h('tbody', {}, rows.length > 0 ? rows : h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No collections yet.'))),
      ),
    ),
  )
}

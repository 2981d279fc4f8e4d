// Processes: live processes, durable consumers and how far behind they are, the write lock; refreshed every 2 s.
import { api } from './api.js'
import { formatAge, formatTime, h, mount } from './dom.js'
import { onLeave, screenToken } from './state.js'

const REFRESH_MS = 2000

function table(id, headers, rows, empty) {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      { class: 'grid', id },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headers.map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h('tbody', {}, rows.length > 0 ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, empty))),
    ),
  )
}

function lockSection(lock, processes) {
  if (lock === null)
    return h(
      'p',
      { class: 'muted' },
      'This engine has no store-wide write lock to show (PostgreSQL locks rows), or this system cannot tell who holds it.',
    )
  const holder =
    lock.holders.length === 0
      ? 'Nobody holds the write lock right now.'
      : `Held by ${lock.holders.map((l) => `pid ${l.pid}${l.role === null ? ' (not a registered Tandem process)' : ` (role ${l.role})`}`).join(', ')}.`
  const waiting =
    lock.waiting === null ? ' No process is waiting for it.' : ` A process announced it is waiting (${lock.waiting.announcedMsAgo} ms ago).`
  const contended = processes.filter((p) => (p.busyRetries ?? 0) > 0)
  return h(
    'p',
    { id: 'write-lock' },
    holder,
    waiting,
    contended.length > 0
      ? ` Contention so far: ${contended.map((p) => `pid ${p.pid} retried ${p.busyRetries}×, longest wait ${p.longestWaitMs ?? 0} ms`).join('; ')}.`
      : '',
  )
}

export async function showProcesses({ view }) {
  const current = screenToken()
  async function render() {
    const data = await api.processes()
    if (!current()) return
    mount(
      view,
      h('h1', {}, 'Processes'),
      h('h2', {}, `Live processes (${data.processes.length})`),
      table(
        'processes',
        ['role', 'pid', 'host', 'singleton', 'since', 'heartbeat', 'busy retries'],
        data.processes.map((p) =>
          h(
            'tr',
            { dataset: { pid: p.pid, role: p.role } },
            h(
              'th',
              { scope: 'row' },
              p.role,
              p.self ? h('span', { class: 'badge' }, 'this inspector') : null,
              p.stopped ? h('span', { class: 'badge warn' }, 'stopped') : null,
            ),
            h('td', { class: 'num' }, String(p.pid)),
            h('td', {}, p.host),
            h('td', {}, p.singleton ? 'yes' : 'no'),
            h('td', { title: formatTime(p.startedAt) }, `${formatTime(p.startedAt)} (${formatAge(p.startedAt)})`),
            h('td', {}, formatAge(p.heartbeatAt)),
            h('td', { class: 'num' }, String(p.busyRetries ?? 0)),
          ),
        ),
        'No live process.',
      ),
      h('h2', {}, `Consumers (${data.consumers.length})`),
      h(
        'p',
        { class: 'muted' },
        `The change log is at seq ${data.changes.head}${data.changes.trimmedThrough > 0 ? `, trimmed through seq ${data.changes.trimmedThrough}` : ''}.`,
      ),
      table(
        'consumers',
        ['name', 'position', 'behind', 'running in', 'state'],
        data.consumers.map((c) =>
          h(
            'tr',
            { dataset: { consumer: c.name } },
            h('th', { scope: 'row' }, c.name),
            h('td', { class: 'num' }, String(c.position)),
            h('td', { class: 'num behind' }, String(c.behind)),
            h('td', {}, c.holder === null ? '–' : `pid ${c.holder.pid} on ${c.holder.host}`),
            h(
              'td',
              {},
              c.trimmed
                ? h('span', { class: 'bad' }, 'trimmed: must resync')
                : c.behind > 0
                  ? 'behind'
                  : h('span', { class: 'good' }, 'caught up'),
            ),
          ),
        ),
        'No durable consumers.',
      ),
      h('h2', {}, 'Write lock'),
      lockSection(data.writeLock, data.processes),
      h('p', { class: 'muted small' }, `Refreshed ${new Date().toLocaleTimeString()} (every ${REFRESH_MS / 1000} s).`),
    )
  }
  await render()
  const timer = setInterval(() => void render().catch(() => {}), REFRESH_MS)
  onLeave(() => clearInterval(timer))
}

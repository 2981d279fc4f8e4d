import { hostname } from 'node:os'
import type { StoreDescription } from '../../index.js'
import { type ProcessEntry } from '../../registry/process-registry.js'
import { formatAge, formatBytes, plural } from '../format.js'
import { openReadable } from '../open.js'
import { EXIT, type Command, type CommandContext } from '../output.js'
import { renderTable, type Cell } from '../table.js'
import { TARGET_OPTIONS } from '../options.js'
import { positionals } from '../arguments.js'
import { readConsumers } from '../peek.js'
import { describeTarget, resolveTarget } from '../target.js'

/** `tandem status --json`: the store's description plus what the CLI derives from it. */
export interface StatusReport extends StoreDescription {
  /** The file (or server) described. */
  store: string
  /** Collections × roles: which role may write which collection (roles from the declarations and the live processes). */
  ownership: { roles: string[]; matrix: Record<string, Record<string, boolean>> }
  /** Lock contention over the live processes: total SQLITE_BUSY retries, longest single wait. */
  contention: { busyRetries: number; longestWaitMs: number }
}

function isThisProcess(p: ProcessEntry): boolean {
  return p.pid === process.pid && p.host === hostname()
}

/** Builds the report; the CLI's own registration (it had to open the store) is left out. */
export function statusReport(store: string, description: StoreDescription): StatusReport {
  const processes = description.processes.filter((p) => !isThisProcess(p))
  const roles = new Set<string>()
  for (const c of description.collections) for (const w of c.writers ?? []) if (w !== '*') roles.add(w)
  for (const p of processes) roles.add(p.role)
  const sortedRoles = [...roles].sort()
  const matrix: Record<string, Record<string, boolean>> = {}
  for (const c of description.collections) {
    matrix[c.name] = Object.fromEntries(
      sortedRoles.map((r) => [r, c.writers !== null && (c.writers.includes('*') || c.writers.includes(r))]),
    )
  }
  return {
    store,
    ...description,
    processes,
    ownership: { roles: sortedRoles, matrix },
    contention: {
      busyRetries: processes.reduce((n, p) => n + (p.busyRetries ?? 0), 0),
      longestWaitMs: processes.reduce((n, p) => Math.max(n, p.longestWaitMs ?? 0), 0),
    },
  }
}

function printReport(ctx: CommandContext, r: StatusReport): void {
  const { paint } = ctx
  const heading = (text: string) => ctx.out(`\n${paint(text, 'bold')}`)
  const s = r.storage
  ctx.out(`${paint('Store', 'bold')}   ${r.store} (${r.kind})`)
  if (s?.bytes !== undefined) {
    const over = s.walLimitBytes !== undefined && (s.walBytes ?? 0) > s.walLimitBytes
    const wal = `WAL ${formatBytes(s.walBytes)}${s.walLimitBytes === undefined ? '' : ` (checkpoint past ${formatBytes(s.walLimitBytes)})`}`
    // Engines without a WAL file (PostgreSQL) report only the database size.
    ctx.out(`Size    ${formatBytes(s.bytes)} database${s.walBytes === undefined ? '' : `, ${over ? paint(wal, 'yellow') : wal}`}`)
  }
  const z = r.sizes
  if (z !== undefined) {
    const free = z.freeBytes === undefined ? '' : `, free ${formatBytes(z.freeBytes)}`
    const amplification =
      z.amplification === undefined ? 'no data yet' : `amplification ${z.amplification}× (live data ${formatBytes(z.liveDataBytes)})`
    ctx.out(
      `        records ${formatBytes(z.recordBytes)}, indexes ${formatBytes(z.indexBytes)}, change log ${formatBytes(z.changeLogBytes)} (history ${formatBytes(z.historyBytes)})${free}; ${amplification}`,
    )
  }
  ctx.out(`Schema  version ${r.schemaVersion}`)

  heading(`Collections (${r.collections.length})`)
  if (r.collections.length === 0) ctx.out('  (none)')
  else {
    const rows = r.collections.map((c) => [
      c.name,
      String(c.count),
      c.writers?.join(', ') ?? '(undeclared)',
      c.indexes.join(', ') || '-',
      c.declaredBy ?? '-',
      `${c.history ?? '-'}${c.historyBytes === undefined ? '' : ` (${formatBytes(c.historyBytes)})`}`,
    ])
    const headers = ['name', { header: 'records', align: 'right' as const }, 'writers', 'indexes', 'declared by', 'history (bytes)']
    for (const line of renderTable(headers, rows, paint)) ctx.out(line)
  }

  if (r.collections.length > 0 && r.ownership.roles.length > 0) {
    heading('Ownership (w = may write)')
    const rows = r.collections.map((c): Cell[] => [
      c.name,
      ...r.ownership.roles.map((role): Cell =>
        r.ownership.matrix[c.name]?.[role] === true ? { text: 'w', style: 'green' } : { text: '.', style: 'dim' },
      ),
    ])
    for (const line of renderTable(['collection', ...r.ownership.roles], rows, paint)) ctx.out(line)
  }

  heading(`Processes (${r.processes.length} live)`)
  if (r.processes.length === 0) ctx.out('  (none besides this command)')
  else {
    // definition: the fingerprint of the collections and migrations each process opened with; processes that agree share one.
    const rows = r.processes.map((p) => [
      p.role,
      String(p.pid),
      p.host,
      `${p.startedAt} (${formatAge(p.startedAt)})`,
      formatAge(p.heartbeatAt),
      String(p.busyRetries ?? 0),
      `${p.longestWaitMs ?? 0} ms`,
      p.definition ?? '-',
    ])
    const columns = [
      'role',
      { header: 'pid', align: 'right' as const },
      'host',
      'started',
      'heartbeat',
      { header: 'busy retries', align: 'right' as const },
      { header: 'longest wait', align: 'right' as const },
      'definition',
    ]
    for (const line of renderTable(columns, rows, paint)) ctx.out(line)
  }
  ctx.out(
    `  Lock contention: ${plural(r.contention.busyRetries, 'busy retry', 'busy retries')}, longest wait ${r.contention.longestWaitMs} ms.`,
  )
  if (r.staleProcesses.length > 0) {
    ctx.out(
      paint(
        `  ${plural(r.staleProcesses.length, 'stale registration')} of dead processes (${r.staleProcesses.map((p) => `pid ${p.pid} ${p.role}`).join(', ')}): tandem doctor --fix prunes them.`,
        'yellow',
      ),
    )
  }

  heading('Change log')
  ctx.out(`  head seq ${r.changes.head}${r.changes.trimmedThrough > 0 ? `, trimmed through seq ${r.changes.trimmedThrough}` : ''}`)
  if (r.consumers.length > 0) {
    const rows = r.consumers.map((c): Cell[] => [
      c.name,
      String(c.position),
      String(c.behind),
      c.holder === null ? '-' : `pid ${c.holder.pid} on ${c.holder.host}`,
      c.trimmed ? { text: 'TRIMMED: must resync', style: 'red' } : c.behind > 0 ? 'behind' : { text: 'caught up', style: 'green' },
    ])
    for (const line of renderTable(
      ['consumer', { header: 'position', align: 'right' }, { header: 'behind', align: 'right' }, 'running in', 'state'],
      rows,
      paint,
    ))
      ctx.out(line)
  } else ctx.out('  no durable consumers')
}

export const status: Command = {
  name: 'status',
  summary: 'Show a store: sizes, schema version, collections and owners, live processes, change log and consumers, lock contention.',
  usage: 'tandem status [store] [--schema S] [--config PATH] [--json]',
  options: { ...TARGET_OPTIONS },
  examples: [
    'tandem status                 # the store named by $TANDEM_STORE or tandem.config.* (found upward)',
    'tandem status data/app.db       # any store file, no config needed',
    'tandem status postgres://app@db:5432/app --schema app',
    'tandem status --json | jq .processes',
  ],
  async run(ctx) {
    const [argument] = positionals(ctx, [], ['store'])
    const target = await resolveTarget(ctx, argument)
    const store = await openReadable(target)
    let description: StoreDescription
    try {
      description = await store.describe()
      // "behind" counts only the changes each consumer's filter lets through (describe() counts all).
      description = { ...description, consumers: await readConsumers(store.backend, description.changes) }
    } finally {
      await store.close()
    }
    const report = statusReport(describeTarget(target), description)
    if (ctx.json) ctx.result(report)
    else printReport(ctx, report)
    return EXIT.ok
  },
}

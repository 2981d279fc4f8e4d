import { isStale, type Backend, type ChangeFilter, type ConsumerDescription, type ProcessEntry, type Query } from '../index.js'

/*
 * Library gap (see the CLI report): every openStore() registers the process, and registering
 * prunes the stale entries of dead processes. A doctor that opened the store that way would erase
 * the very entries it must report, and change the store without --fix. Until the library has a
 * way to open without registering (or describe without a Store), doctor reads the registry and
 * the consumer positions here, through the public Backend interface, on a bare backend.
 * The names and shapes below mirror src/registry/process-registry.ts, src/changes/consumer.ts
 * and src/store/describe.ts; the staleness rule is the library's own (isStale).
 */
const PROCESSES = '_processes'
const CONSUMERS = '_consumers'
/** The registry's lock, as register() takes it: a prune never interleaves with a newcomer's singleton check. */
const REGISTRY_LOCK = 'registry'
const BY_ID: Query = { where: [], orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' } }
/** Changes read per page when counting what a filtered consumer has not seen. */
const COUNT_PAGE = 1000

/** A consumer's row in _consumers. `filter` is there when the library records the consumer's collections/ids. */
interface ConsumerState {
  position: number
  holder: { pid: number; host: string; heartbeatAt: number } | null
  filter?: ChangeFilter | null
}

export interface Peek {
  processes: ProcessEntry[]
  staleProcesses: ProcessEntry[]
  consumers: ConsumerDescription[]
  changes: { head: number; trimmedThrough: number }
}

function hasFilter(filter: ChangeFilter | null | undefined): filter is ChangeFilter {
  return filter != null && (filter.collections !== undefined || filter.ids !== undefined)
}

/**
 * How many changes after `position` (up to `head`) the consumer will be handed: all of them
 * without a filter, else only those of its collections and ids, counted by reading the log.
 */
async function countBehind(backend: Backend, position: number, head: number, filter: ChangeFilter | null | undefined): Promise<number> {
  if (!hasFilter(filter)) return Math.max(0, head - position)
  let count = 0
  let cursor = position
  while (cursor < head) {
    const batch = await backend.readChanges(cursor, COUNT_PAGE, filter)
    count += batch.changes.filter((c) => c.seq <= head).length
    const next = Math.max(batch.scannedThrough, batch.changes.at(-1)?.seq ?? cursor)
    if (next <= cursor) break
    cursor = next
  }
  return count
}

/**
 * Every durable consumer: its position, who runs it, and how far behind the log's head it is,
 * counting only the changes its filter lets through (when the store records the filter).
 */
export async function readConsumers(backend: Backend, changes: { head: number; trimmedThrough: number }): Promise<ConsumerDescription[]> {
  const rows = await backend.read((tx) => tx.find(CONSUMERS, BY_ID))
  const consumers: ConsumerDescription[] = []
  for (const row of rows) {
    const state = row.data as unknown as ConsumerState
    consumers.push({
      name: row.id,
      position: state.position,
      holder: state.holder === null ? null : { pid: state.holder.pid, host: state.holder.host, heartbeatAt: new Date(state.holder.heartbeatAt).toISOString() },
      behind: await countBehind(backend, state.position, changes.head, state.filter),
      trimmed: state.position < changes.trimmedThrough,
    })
  }
  return consumers
}

/** Reads the registry, the change-log bounds and the consumers, changing nothing. */
export async function peekStore(backend: Backend, now = Date.now()): Promise<Peek> {
  const head = await backend.changeHead()
  const { trimmedThrough } = await backend.readChanges(head, 1)
  const entries = await backend.read(async (tx) => (await tx.find(PROCESSES, BY_ID)).map((r) => r.data as unknown as ProcessEntry))
  return {
    processes: entries.filter((e) => !isStale(e, now)),
    staleProcesses: entries.filter((e) => isStale(e, now)),
    consumers: await readConsumers(backend, { head, trimmedThrough }),
    changes: { head, trimmedThrough },
  }
}

/**
 * Removes the registrations of dead processes (the library's rule, isStale), in one write
 * transaction under the registry's lock, as every openStore() does on registering. It goes
 * through the backend, not a Store: it needs no collection, schema or migration, so it works on a
 * store that has applied migrations this program does not know (a Store would open read-only).
 */
export async function pruneStaleProcesses(backend: Backend, now = Date.now()): Promise<ProcessEntry[]> {
  return backend.write(async (tx) => {
    await tx.lock(REGISTRY_LOCK)
    const removed: ProcessEntry[] = []
    for (const row of await tx.find(PROCESSES, BY_ID)) {
      const entry = row.data as unknown as ProcessEntry
      if (isStale(entry, now)) {
        await tx.delete(PROCESSES, row.id)
        removed.push(entry)
      }
    }
    return removed
  })
}

import type { JsonObject, ReadTx, StorageInfo, WriteTx } from '../backends/backend.js'
import { CONSUMERS_COLLECTION } from '../changes/consumer.js'
import { isStale, PROCESSES_COLLECTION, type ProcessEntry } from '../registry/process-registry.js'
import type { CollectionSettings } from './config.js'

/** The internal collection where each process records the collections it declares. */
export const DECLARATIONS_COLLECTION = '_collections'

interface Declaration {
  writers: string[]
  indexes: string[]
  declaredBy: string
  declaredAt: string
}

export interface CollectionDescription {
  name: string
  count: number
  /** Who may write it, as last declared by any process; null if no process ever declared it. */
  writers: string[] | null
  indexes: string[]
  declaredBy: string | null
}

export interface ConsumerDescription {
  name: string
  position: number
  /** The process running it now, or null. */
  holder: { pid: number; host: string; heartbeatAt: string } | null
  /** Changes committed after its position. */
  behind: number
  /** True when retention dropped changes it has not acknowledged: it must resync. */
  trimmed: boolean
}

/** Everything `tandem status` and `tandem doctor` show about a store. */
export interface StoreDescription {
  kind: string
  storage: StorageInfo | undefined
  schemaVersion: number
  collections: CollectionDescription[]
  changes: { head: number; trimmedThrough: number }
  consumers: ConsumerDescription[]
  processes: ProcessEntry[]
  /** Registrations of processes that died without closing (pruned by the next opener or doctor --fix). */
  staleProcesses: ProcessEntry[]
}

const byId = { field: { kind: 'meta' as const, name: 'id' as const }, direction: 'asc' as const }

/** Records what this process declares for each collection, when it differs from what is recorded. */
export async function declareCollections(tx: WriteTx, collections: Iterable<CollectionSettings>, role: string): Promise<void> {
  const now = Date.now()
  for (const c of collections) {
    const declared = { writers: [...c.writerList], indexes: c.indexes.map((p) => p.join('.')) }
    const row = await tx.get(DECLARATIONS_COLLECTION, c.name)
    const previous = row?.data as unknown as Declaration | undefined
    if (previous !== undefined && JSON.stringify([previous.writers, previous.indexes]) === JSON.stringify([declared.writers, declared.indexes])) continue
    const data = { ...declared, declaredBy: role, declaredAt: new Date(now).toISOString() } as unknown as JsonObject
    if (row === undefined) await tx.insert(DECLARATIONS_COLLECTION, { id: c.name, version: 1, createdAt: now, updatedAt: now, role, data })
    else await tx.update(DECLARATIONS_COLLECTION, { ...row, version: row.version + 1, updatedAt: now, role, data })
  }
}

/** Reads the description; `head`/`trimmedThrough` come from the change log, sizes from the backend. */
export async function describeStore(tx: ReadTx, changes: { head: number; trimmedThrough: number }, schemaVersion: number): Promise<Omit<StoreDescription, 'kind' | 'storage'>> {
  const now = Date.now()
  const names = (await tx.listCollections()).filter((n) => !n.startsWith('_'))
  const collections: CollectionDescription[] = []
  for (const name of names) {
    const declaration = (await tx.get(DECLARATIONS_COLLECTION, name))?.data as unknown as Declaration | undefined
    collections.push({ name, count: await tx.count(name, []), writers: declaration?.writers ?? null, indexes: declaration?.indexes ?? [], declaredBy: declaration?.declaredBy ?? null })
  }
  const consumers = (await tx.find(CONSUMERS_COLLECTION, { where: [], orderBy: byId })).map((row): ConsumerDescription => {
    const state = row.data as unknown as { position: number; holder: ConsumerDescription['holder'] }
    return {
      name: row.id,
      position: state.position,
      holder: state.holder === null ? null : { pid: state.holder.pid, host: state.holder.host, heartbeatAt: new Date(state.holder.heartbeatAt).toISOString() },
      behind: Math.max(0, changes.head - state.position),
      trimmed: state.position < changes.trimmedThrough,
    }
  })
  const all = (await tx.find(PROCESSES_COLLECTION, { where: [], orderBy: byId })).map((r) => r.data as unknown as ProcessEntry)
  return {
    schemaVersion,
    collections,
    changes,
    consumers,
    processes: all.filter((p) => !isStale(p, now)),
    staleProcesses: all.filter((p) => isStale(p, now)),
  }
}

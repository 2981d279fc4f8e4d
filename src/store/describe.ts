import type { Backend, ReadTx, StorageInfo, StorageSizes } from '../backends/backend.js'
import { CONSUMERS_COLLECTION } from '../changes/consumer.js'
import { isStale, PROCESSES_COLLECTION, type ProcessEntry } from '../registry/process-registry.js'
import { readSchemaVersion } from '../migrations/runner.js'
import { DECLARATIONS_COLLECTION, type RecordedDeclaration } from './declarations.js'

export interface CollectionDescription {
  name: string
  count: number
  /** Who may write it, as last declared by any process; null if no process ever declared it. */
  writers: string[] | null
  indexes: string[]
  declaredBy: string | null
  /** What the change log keeps of its writes, as last declared ('changes', 'full', 'diff;maxCount=…;maxAgeMs=…'); null if undeclared or declared before it was recorded. */
  history: string | null
  /** The bytes of the copies and deltas its change-log entries hold (undefined: the engine cannot tell). */
  historyBytes?: number
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
  /** Where the bytes go: records, indexes, change log (and history copies), free pages, amplification (undefined: the engine cannot tell). */
  sizes: StorageSizes | undefined
  schemaVersion: number
  collections: CollectionDescription[]
  changes: { head: number; trimmedThrough: number }
  consumers: ConsumerDescription[]
  processes: ProcessEntry[]
  /** Registrations of processes that died without closing (pruned by the next opener or doctor --fix). */
  staleProcesses: ProcessEntry[]
}

const byId = { field: { kind: 'meta' as const, name: 'id' as const }, direction: 'asc' as const }

/** Every registration in the process registry, live or stale, by id. */
export async function registeredProcesses(tx: ReadTx): Promise<ProcessEntry[]> {
  return (await tx.find(PROCESSES_COLLECTION, { where: [], orderBy: byId })).map((r) => r.data as unknown as ProcessEntry)
}

/** The whole description: the change log's bounds, the schema version, the store's contents, the backend's sizes. */
export async function describeBackend(
  backend: Backend,
  read: <T>(work: (tx: ReadTx) => Promise<T>) => Promise<T>,
): Promise<StoreDescription> {
  const head = await backend.changeHead()
  const { trimmedThrough } = await backend.readChanges(head, 1)
  const schemaVersion = await read(readSchemaVersion)
  const body = await read((tx) => describeStore(tx, { head, trimmedThrough }, schemaVersion))
  const sizes = await backend.storageSizes?.()
  const byCollection = sizes?.historyBytesByCollection
  if (byCollection !== undefined) for (const c of body.collections) c.historyBytes = byCollection[c.name] ?? 0
  return { kind: backend.kind, storage: await backend.storageInfo?.(), sizes, ...body }
}

/** Reads the description; `head`/`trimmedThrough` come from the change log, sizes from the backend. */
export async function describeStore(
  tx: ReadTx,
  changes: { head: number; trimmedThrough: number },
  schemaVersion: number,
): Promise<Omit<StoreDescription, 'kind' | 'storage' | 'sizes'>> {
  const now = Date.now()
  const names = (await tx.listCollections()).filter((n) => !n.startsWith('_'))
  const collections: CollectionDescription[] = []
  for (const name of names) {
    const declaration = (await tx.get(DECLARATIONS_COLLECTION, name))?.data as unknown as RecordedDeclaration | undefined
    collections.push({
      name,
      count: await tx.count(name, []),
      writers: declaration?.writers ?? null,
      indexes: declaration?.indexes ?? [],
      declaredBy: declaration?.declaredBy ?? null,
      history: declaration?.history ?? null,
    })
  }
  const consumers = (await tx.find(CONSUMERS_COLLECTION, { where: [], orderBy: byId })).map((row): ConsumerDescription => {
    const state = row.data as unknown as { position: number; holder: ConsumerDescription['holder'] }
    return {
      name: row.id,
      position: state.position,
      holder:
        state.holder === null
          ? null
          : { pid: state.holder.pid, host: state.holder.host, heartbeatAt: new Date(state.holder.heartbeatAt).toISOString() },
      behind: Math.max(0, changes.head - state.position),
      trimmed: state.position < changes.trimmedThrough,
    }
  })
  const all = await registeredProcesses(tx)
  return {
    schemaVersion,
    collections,
    changes,
    consumers,
    processes: all.filter((p) => !isStale(p, now)),
    staleProcesses: all.filter((p) => isStale(p, now)),
  }
}

import { isStale, type Backend, type ConsumerDescription, type ProcessEntry, type Query } from '../index.js'

/*
 * Library gap (see the CLI report): every openStore() registers the process, and registering
 * prunes the stale entries of dead processes. A doctor that opened the store that way would erase
 * the very entries it must report, and change the store without --fix. Until the library has a
 * way to open without registering (or describe without a Store), doctor reads the registry and
 * the consumer positions here, through the public Backend interface, on a bare backend.
 * The names and shapes below mirror src/registry/process-registry.ts and src/store/describe.ts;
 * the staleness rule is the library's own (isStale).
 */
const PROCESSES = '_processes'
const CONSUMERS = '_consumers'
const BY_ID: Query = { where: [], orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' } }


export interface Peek {
  processes: ProcessEntry[]
  staleProcesses: ProcessEntry[]
  consumers: ConsumerDescription[]
  changes: { head: number; trimmedThrough: number }
}

/** Reads the registry, the change-log bounds and the consumers, changing nothing. */
export async function peekStore(backend: Backend, now = Date.now()): Promise<Peek> {
  const head = await backend.changeHead()
  const { trimmedThrough } = await backend.readChanges(head, 1)
  return backend.read(async (tx) => {
    const entries = (await tx.find(PROCESSES, BY_ID)).map((r) => r.data as unknown as ProcessEntry)
    const consumers = (await tx.find(CONSUMERS, BY_ID)).map((row): ConsumerDescription => {
      const state = row.data as unknown as { position: number; holder: { pid: number; host: string; heartbeatAt: number } | null }
      return {
        name: row.id,
        position: state.position,
        holder: state.holder === null ? null : { pid: state.holder.pid, host: state.holder.host, heartbeatAt: new Date(state.holder.heartbeatAt).toISOString() },
        behind: Math.max(0, head - state.position),
        trimmed: state.position < trimmedThrough,
      }
    })
    return {
      processes: entries.filter((e) => !isStale(e, now)),
      staleProcesses: entries.filter((e) => isStale(e, now)),
      consumers,
      changes: { head, trimmedThrough },
    }
  })
}

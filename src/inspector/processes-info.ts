import { statSync } from 'node:fs'
import { hostname } from 'node:os'
import type { ConsumerDescription } from '../store/describe.js'
import { readConsumers } from '../cli/peek.js'
import { posixWriteLockHolders } from '../registry/busy-holders.js'
import { isPidStopped, isSameMachine, type ProcessEntry } from '../registry/process-registry.js'
import type { Store } from '../store/store.js'

/** A waiter announces itself on `<db>-turns` at most every millisecond while it waits: a touch this recent means one waits now. */
const WAITING_WITHIN_MS = 250

/** The Processes screen's data. */
export interface ProcessesView {
  processes: (ProcessEntry & { self: boolean; stopped: boolean })[]
  consumers: ConsumerDescription[]
  changes: { head: number; trimmedThrough: number }
  /**
   * SQLite's write lock: the pids holding it now (from /proc/locks, matched to the registry) and
   * whether a process announced a wait for it in the last moments. null where the engine has no
   * store-wide write lock (PostgreSQL locks rows) or the system cannot tell (not Linux).
   */
  writeLock: { holders: { pid: number; role: string | null }[]; waiting: { announcedMsAgo: number } | null } | null
}

function lockView(store: Store, live: readonly ProcessEntry[]): ProcessesView['writeLock'] {
  const record = store.backend.writeLockRecord?.()
  if (record === undefined) return null
  const pids = posixWriteLockHolders(record)
  if (pids === undefined) return null
  const holders = pids.map((pid) => ({ pid, role: live.find((p) => p.pid === pid && isSameMachine(p))?.role ?? null }))
  const file = store.backend.databaseFile?.()
  const turns = file === undefined ? undefined : statSync(`${file}-turns`, { throwIfNoEntry: false })
  const ago = turns === undefined ? undefined : Date.now() - turns.mtimeMs
  return { holders, waiting: ago !== undefined && ago <= WAITING_WITHIN_MS ? { announcedMsAgo: Math.max(0, Math.round(ago)) } : null }
}

/** Live processes, durable consumers with how far behind each is (counting only what its filter lets through), and the write lock. */
export async function processesOverview(store: Store): Promise<ProcessesView> {
  const backend = store.backend
  const head = await backend.changeHead()
  const { trimmedThrough } = await backend.readChanges(head, 1)
  const changes = { head, trimmedThrough }
  const live = await store.processes()
  const host = hostname()
  return {
    processes: live.map((p) => ({
      ...p,
      self: p.pid === process.pid && p.host === host,
      stopped: isSameMachine(p) && isPidStopped(p.pid),
    })),
    consumers: await readConsumers(backend, changes),
    changes,
    writeLock: lockView(store, live),
  }
}

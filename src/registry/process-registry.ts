import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { JsonObject, RecordRow, WriteTx } from '../backends/backend.js'
import { TandemError } from '../errors.js'

/** The internal collection listing the processes that have the store open. */
export const PROCESSES_COLLECTION = '_processes'
export const HEARTBEAT_EVERY_MS = 5_000
/** A registration whose heartbeat is older than this is presumed dead (its process froze or its host went away). */
export const STALE_AFTER_MS = 30_000

/** One process that has the store open, as `tandem status` shows it. */
export interface ProcessEntry {
  id: string
  role: string
  pid: number
  host: string
  startedAt: string
  heartbeatAt: string
  /** Lock contention this process has seen: SQLITE_BUSY retries and the longest wait. */
  busyRetries?: number
  longestWaitMs?: number
  /** The fingerprint of the store definition this process opened with (collections and migrations). */
  definition?: string
}

/** True if a process with this pid runs on this machine (EPERM: it does, as another user). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** True if the process is gone: dead on this host, or silent for longer than STALE_AFTER_MS. */
export function isStale(entry: ProcessEntry, now: number): boolean {
  if (now - Date.parse(entry.heartbeatAt) > STALE_AFTER_MS) return true
  return entry.host === hostname() && !isPidAlive(entry.pid)
}

async function entries(tx: WriteTx): Promise<RecordRow[]> {
  return tx.find(PROCESSES_COLLECTION, { where: [], orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' } })
}

/** Removes stale registrations inside `tx`; resolves with those removed. */
export async function pruneStale(tx: WriteTx, now: number): Promise<ProcessEntry[]> {
  const removed: ProcessEntry[] = []
  for (const row of await entries(tx)) {
    const entry = row.data as unknown as ProcessEntry
    if (isStale(entry, now)) {
      await tx.delete(PROCESSES_COLLECTION, row.id)
      removed.push(entry)
    }
  }
  return removed
}

/**
 * Registers this process in `tx`. For a singleton role, first makes sure no live process holds
 * the role (stale holders are pruned: a crashed daemon never blocks its successor), all inside
 * the one write transaction, so two newcomers racing can never both become holders.
 */
export async function register(tx: WriteTx, role: string, singleton: boolean, definition?: string): Promise<ProcessEntry> {
  const now = Date.now()
  await tx.lock('registry')
  await pruneStale(tx, now)
  if (singleton) {
    // The same process opening the store twice is not a second holder.
    const holder = (await entries(tx)).map((r) => r.data as unknown as ProcessEntry).find((e) => e.role === role && !(e.pid === process.pid && e.host === hostname()))
    if (holder !== undefined) {
      throw new TandemError(
        'ROLE_TAKEN',
        `Role "${role}" is a singleton and pid ${holder.pid} on ${holder.host} holds it (since ${holder.startedAt}). Stop that process first; if it died, its claim lapses within ${STALE_AFTER_MS / 1000} s.`,
        { hint: `Check it with "tandem status", stop pid ${holder.pid}, then start this one again.` },
      )
    }
  }
  const iso = new Date(now).toISOString()
  const entry: ProcessEntry = { id: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, role, pid: process.pid, host: hostname(), startedAt: iso, heartbeatAt: iso, ...(definition === undefined ? {} : { definition }) }
  await tx.insert(PROCESSES_COLLECTION, { id: entry.id, version: 1, createdAt: now, updatedAt: now, role, data: entry as unknown as JsonObject })
  return entry
}

/** Refreshes this process's heartbeat (re-registering it if someone pruned it meanwhile). */
export async function heartbeat(tx: WriteTx, entry: ProcessEntry, stats: { busyRetries: number; longestWaitMs: number }): Promise<void> {
  const now = Date.now()
  const row = await tx.get(PROCESSES_COLLECTION, entry.id)
  const data = { ...entry, heartbeatAt: new Date(now).toISOString(), busyRetries: stats.busyRetries, longestWaitMs: Math.round(stats.longestWaitMs) } as unknown as JsonObject
  if (row === undefined) await tx.insert(PROCESSES_COLLECTION, { id: entry.id, version: 1, createdAt: now, updatedAt: now, role: entry.role, data })
  else await tx.update(PROCESSES_COLLECTION, { ...row, version: row.version + 1, updatedAt: now, data })
}

export async function unregister(tx: WriteTx, entry: ProcessEntry): Promise<void> {
  await tx.delete(PROCESSES_COLLECTION, entry.id)
}

import { randomUUID } from 'node:crypto'
import { readFileSync, readlinkSync } from 'node:fs'
import { hostname } from 'node:os'
import type { JsonObject, ReadTx, RecordRow, WriteTx } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import { isPidRunning, processStartTicks } from '../fs/process-identity.js'

/** The internal collection listing the processes that have the store open. */
export const PROCESSES_COLLECTION = '_processes'
/** How often a process refreshes its registration, at most (a shorter stale window shortens it). */
export const HEARTBEAT_EVERY_MS = 5_000
/**
 * The default stale window: a process on another host whose registration has not moved for this
 * long is presumed gone. (On this host, a process is alive exactly while its pid runs.) The
 * environment variable TANDEM_STALE_AFTER_MS overrides it, for tests and for hosts that pause.
 */
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
  /**
   * Which machine and pid namespace the pid belongs to: the host name, the kernel's boot id and
   * the pid namespace. Two entries with the same value can check each other's pid.
   */
  machine?: string
  /** When the pid started (clock ticks since boot, /proc/<pid>/stat): tells a reused pid from the process itself. */
  pidStart?: number
  /** It holds a singleton role: its row is the role, and it is never re-created once removed. */
  singleton?: boolean
}

/** The stale window in force: TANDEM_STALE_AFTER_MS, or STALE_AFTER_MS. */
export function staleAfterMs(): number {
  const raw = process.env.TANDEM_STALE_AFTER_MS
  if (raw === undefined || raw === '') return STALE_AFTER_MS
  const ms = Number(raw)
  if (!Number.isInteger(ms) || ms < 100)
    throw new RangeError(`TANDEM_STALE_AFTER_MS must be a whole number of milliseconds, at least 100 (got ${JSON.stringify(raw)}).`)
  return ms
}

/** The heartbeat period for a stale window: several heartbeats fit in one window. */
export function heartbeatEveryMs(windowMs = staleAfterMs()): number {
  return Math.min(HEARTBEAT_EVERY_MS, Math.max(25, Math.floor(windowMs / 4)))
}

/** True if a process with this pid runs on this machine (EPERM: it does, as another user). */
export const isPidAlive = isPidRunning

/** Fields 3 and on of /proc/<pid>/stat (after the command name, which may hold spaces), or undefined off Linux. */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return text.slice(text.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** When the process started, in clock ticks since boot; undefined where unknown. */
export const pidStartTime = processStartTicks

/** True if the process is stopped (SIGSTOP, a debugger); false when it runs or it cannot be told. */
export function isPidStopped(pid: number): boolean {
  const state = procStat(pid)?.[0]
  return state === 'T' || state === 't'
}

function readQuietly(read: () => string): string {
  try {
    return read().trim()
  } catch {
    return ''
  }
}

/** The kernel's boot id and this process's pid namespace, or '' where /proc does not tell. */
const KERNEL_ID = `${readQuietly(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'))}/${readQuietly(() => readlinkSync('/proc/self/ns/pid'))}`

/** What makes a pid meaningful: this host, this boot, this pid namespace. */
export function thisMachine(): string {
  return `${hostname()}|${KERNEL_ID}`
}

/** True if `entry` was registered where this process can check its pid. */
export function isSameMachine(entry: ProcessEntry): boolean {
  return entry.machine !== undefined ? entry.machine === thisMachine() : entry.host === hostname()
}

/** On this machine: true while the entry's process runs (same pid, same start time: not a reused pid). */
export function isRunningHere(entry: ProcessEntry): boolean {
  if (!isPidAlive(entry.pid)) return false
  if (entry.pidStart === undefined) return true
  const started = pidStartTime(entry.pid)
  return started === undefined || started === entry.pidStart
}

function heartbeatAgeMs(entry: ProcessEntry, now: number): number {
  return now - Date.parse(entry.heartbeatAt)
}

/**
 * True if the process is gone. On this machine that is exactly "its pid no longer runs" (or runs
 * another program): a live process stays registered whatever its heartbeat says, paused or not.
 * A process on another host cannot be checked; it counts as gone when its heartbeat is older
 * than the stale window by this host's clock. That is a guess, used for display and for pruning
 * ordinary entries (which a live process re-creates at its next heartbeat); a singleton role
 * changes hands only after a newcomer has watched the holder stay silent (watchSilentHolder).
 */
export function isStale(entry: ProcessEntry, now: number): boolean {
  if (isSameMachine(entry)) return !isRunningHere(entry)
  return !(heartbeatAgeMs(entry, now) <= staleAfterMs())
}

function isThisProcess(entry: ProcessEntry): boolean {
  return entry.pid === process.pid && isSameMachine(entry)
}

async function entries(tx: ReadTx): Promise<RecordRow[]> {
  return tx.find(PROCESSES_COLLECTION, { where: [], orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' } })
}

/**
 * True if a tool may delete this registration: it is stale, and it is not a singleton holder on
 * another host (only a newcomer for its role, after watching it stay silent, may remove that one:
 * a clock that disagrees must not cost a live holder its role).
 */
export function isPrunable(entry: ProcessEntry, now: number): boolean {
  if (entry.singleton === true && !isSameMachine(entry)) return false
  return isStale(entry, now)
}

/** Removes stale registrations inside `tx` (see isPrunable); resolves with those removed. */
export async function pruneStale(tx: WriteTx, now: number): Promise<ProcessEntry[]> {
  const removed: ProcessEntry[] = []
  for (const row of await entries(tx)) {
    const entry = row.data as unknown as ProcessEntry
    if (isPrunable(entry, now)) {
      await tx.delete(PROCESSES_COLLECTION, row.id)
      removed.push(entry)
    }
  }
  return removed
}

/** A singleton holder on another host whose heartbeat looks old: a newcomer watches it before taking over. */
export interface SilentHolder {
  entry: ProcessEntry
  /** The version of its row when it was seen: any heartbeat moves it. */
  version: number
}

export type Registration = { entry: ProcessEntry } | { silent: SilentHolder }

function secondsAgo(iso: string, now: number): string {
  const s = Math.round((now - Date.parse(iso)) / 1000)
  return Number.isFinite(s) ? `${s} s ago` : 'at an unknown time'
}

function roleTaken(role: string, holder: ProcessEntry, now: number): TandemError {
  const window = staleAfterMs() / 1000
  const state = isSameMachine(holder)
    ? isPidStopped(holder.pid)
      ? ` It is stopped (SIGSTOP or a debugger; last heartbeat ${secondsAgo(holder.heartbeatAt, now)}) but alive, so it keeps the role: resume it (kill -CONT ${holder.pid}) or end it.`
      : ' It is running on this host and keeps the role until it exits: stop it first.'
    : ` It runs on another host and keeps the role while its heartbeat moves (last ${secondsAgo(holder.heartbeatAt, now)}); stop it first, or after ${window} s of silence the next opener takes over.`
  return new TandemError(
    'ROLE_TAKEN',
    `Role "${role}" is a singleton and pid ${holder.pid} on ${holder.host} holds it (since ${holder.startedAt}).${state}`,
    {
      hint: `Check it with "tandem status", stop pid ${holder.pid}, then start this one again.`,
    },
  )
}

/**
 * Registers this process in `tx`. For a singleton role, first makes sure no live process holds
 * the role, all inside the one write transaction, so two newcomers racing can never both become
 * holders. A holder on this host holds the role exactly while its pid runs (a crashed one never
 * blocks its successor; a paused one is not replaced). A holder on another host whose heartbeat
 * looks older than the stale window is not replaced at once: the result is `{ silent }`, the
 * caller watches its row for a stale window of its own monotonic time (watchSilentHolder) and
 * calls again with `takeOver` set to it, which replaces the holder only if its row has not moved.
 */
export async function register(
  tx: WriteTx,
  role: string,
  singleton: boolean,
  definition?: string,
  takeOver?: SilentHolder,
): Promise<Registration> {
  const now = Date.now()
  await tx.lock('registry')
  await pruneStale(tx, now)
  if (singleton) {
    for (const row of await entries(tx)) {
      const holder = row.data as unknown as ProcessEntry
      // The same process opening the store twice is not a second holder.
      if (holder.role !== role || isThisProcess(holder)) continue
      // On this host pruneStale removed it if its process had gone: it runs.
      if (isSameMachine(holder)) throw roleTaken(role, holder, now)
      if (takeOver !== undefined && takeOver.entry.id === row.id && takeOver.version === row.version) {
        await tx.delete(PROCESSES_COLLECTION, row.id)
        continue
      }
      if (Math.abs(heartbeatAgeMs(holder, now)) <= staleAfterMs()) throw roleTaken(role, holder, now)
      return { silent: { entry: holder, version: row.version } }
    }
  }
  const iso = new Date(now).toISOString()
  const entry: ProcessEntry = {
    id: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    role,
    pid: process.pid,
    host: hostname(),
    startedAt: iso,
    heartbeatAt: iso,
    machine: thisMachine(),
    ...(pidStartTime(process.pid) === undefined ? {} : { pidStart: pidStartTime(process.pid) }),
    ...(singleton ? { singleton: true } : {}),
    ...(definition === undefined ? {} : { definition }),
  }
  await tx.insert(PROCESSES_COLLECTION, {
    id: entry.id,
    version: 1,
    createdAt: now,
    updatedAt: now,
    role,
    data: entry as unknown as JsonObject,
  })
  return { entry }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Watches a silent singleton holder's row for `windowMs` of this process's monotonic clock (a
 * wall-clock step on either host changes nothing): 'moved' if a heartbeat moved it (the holder
 * lives), 'gone' if it was removed (the holder closed), 'silent' if it stayed as it was.
 */
export async function watchSilentHolder(
  read: <T>(work: (tx: ReadTx) => Promise<T>) => Promise<T>,
  holder: SilentHolder,
  windowMs = staleAfterMs(),
): Promise<'moved' | 'gone' | 'silent'> {
  const started = performance.now()
  const every = Math.max(20, Math.min(1000, Math.floor(windowMs / 10)))
  for (;;) {
    const row = await read((tx) => tx.get(PROCESSES_COLLECTION, holder.entry.id))
    if (row === undefined) return 'gone'
    if (row.version !== holder.version) return 'moved'
    if (performance.now() - started >= windowMs) return 'silent'
    await sleep(every)
  }
}

/** The ROLE_TAKEN error for a silent holder whose heartbeat moved while a newcomer watched it. */
export function roleStillHeld(holder: SilentHolder): TandemError {
  return roleTaken(holder.entry.role, holder.entry, Date.now())
}

/** The error of a singleton holder whose role another process took over (or whose registration was removed). */
export function roleLost(entry: ProcessEntry, successor?: ProcessEntry): TandemError {
  const now =
    successor === undefined
      ? 'its registration was removed'
      : `pid ${successor.pid} on ${successor.host} holds it since ${successor.startedAt}`
  return new TandemError(
    'ROLE_LOST',
    `This process (pid ${entry.pid}) no longer holds the singleton role "${entry.role}": ${now}. It was silent for longer than the stale window (paused, suspended or cut off), so the role was taken over. Nothing was written, and this store refuses every later write.`,
    { hint: `Stop this process: another one acts as "${entry.role}" now. Start it again to wait for the role.` },
  )
}

/**
 * The fence of a singleton holder, run inside each of its write transactions before it writes:
 * resolves if its registration is still there, else rejects with ROLE_LOST. A newcomer takes a
 * role over by deleting the holder's row in its own write transaction, so a write that passed
 * this check committed before the takeover, never after.
 */
export async function checkStillHolder(tx: ReadTx, entry: ProcessEntry): Promise<void> {
  if ((await tx.get(PROCESSES_COLLECTION, entry.id)) !== undefined) return
  const successor = (await entries(tx))
    .map((r) => r.data as unknown as ProcessEntry)
    .find((e) => e.role === entry.role && e.id !== entry.id)
  throw roleLost(entry, successor)
}

/**
 * Refreshes this process's heartbeat. An ordinary entry someone pruned meanwhile is re-created;
 * a singleton holder's is not — its row is the role, and a missing row means the role went to
 * another process — so then this resolves 'lost' and writes nothing.
 */
export async function heartbeat(
  tx: WriteTx,
  entry: ProcessEntry,
  stats: { busyRetries: number; longestWaitMs: number },
): Promise<'ok' | 'lost'> {
  const now = Date.now()
  const row = await tx.get(PROCESSES_COLLECTION, entry.id)
  if (row === undefined && entry.singleton === true) return 'lost'
  const data = {
    ...entry,
    heartbeatAt: new Date(now).toISOString(),
    busyRetries: stats.busyRetries,
    longestWaitMs: Math.round(stats.longestWaitMs),
  } as unknown as JsonObject
  if (row === undefined)
    await tx.insert(PROCESSES_COLLECTION, { id: entry.id, version: 1, createdAt: now, updatedAt: now, role: entry.role, data })
  else await tx.update(PROCESSES_COLLECTION, { ...row, version: row.version + 1, updatedAt: now, data })
  return 'ok'
}

export async function unregister(tx: WriteTx, entry: ProcessEntry): Promise<void> {
  await tx.delete(PROCESSES_COLLECTION, entry.id)
}

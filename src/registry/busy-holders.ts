import { isLockOn, readPosixLocks } from '../fs/proc-locks.js'
import type { Backend } from '../backends/backend.js'
import { TandemError, type LockHolder } from '../errors.js'
import { PROCESSES_COLLECTION, isPidStopped, isSameMachine, isStale, type ProcessEntry } from './process-registry.js'

export type { LockHolder }

/** How long the registry read that explains a BUSY_TIMEOUT may take before the error goes out as it is. */
const EXPLAIN_WITHIN_MS = 1000
const MAX_LISTED = 5
const explained = new WeakSet<object>()

function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * The pids holding a POSIX record lock that covers byte `start` of the file (dev, ino) for
 * writing, from /proc/locks; undefined off Linux. (Reading /proc opens no store file.)
 */
export function posixWriteLockHolders(record: { dev: number; ino: number; start: number }): number[] | undefined {
  const locks = readPosixLocks()
  if (locks === undefined) return undefined
  return [
    ...new Set(locks.filter((l) => l.write && isLockOn(l, record) && l.start <= record.start && record.start <= l.end).map((l) => l.pid)),
  ]
}

function describeHolder(h: LockHolder, now: number): string {
  if (h.role === undefined)
    return `pid ${h.pid} (not a registered Tandem process: another program, such as the sqlite3 shell, or a Tandem process opened read-only)`
  const beat =
    h.heartbeatAt === undefined ? '' : `, last heartbeat ${Math.max(0, Math.round((now - Date.parse(h.heartbeatAt)) / 1000))} s ago`
  const stopped = h.stopped === true ? `; it is stopped (SIGSTOP or a debugger): resume it with kill -CONT ${h.pid}, or end it` : ''
  return `pid ${h.pid} (role "${h.role}" on ${h.host ?? '?'}, open since ${h.since ?? '?'}${beat}${stopped})`
}

/**
 * Adds to a BUSY_TIMEOUT error who holds the lock it waited for, where that can be known: the
 * holders of the engine's write lock (`backend.writeLockRecord`, on Linux) matched against the process
 * registry (role, host, since when, last heartbeat, whether it is stopped), else the processes
 * that have the store open. The facts go in the message and in `error.holders`. Other errors,
 * and an error already explained, are returned as they are; this never throws.
 */
export async function explainBusy(error: unknown, backend: Backend): Promise<unknown> {
  if (!(error instanceof TandemError) || error.code !== 'BUSY_TIMEOUT' || explained.has(error)) return error
  explained.add(error)
  try {
    const record = backend.writeLockRecord?.()
    const pids = record === undefined ? undefined : posixWriteLockHolders(record)
    const rows = await within(
      backend.read((tx) =>
        tx.find(PROCESSES_COLLECTION, { where: [], orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' } }),
      ),
      EXPLAIN_WITHIN_MS,
    ).catch(() => undefined)
    const now = Date.now()
    const live = (rows ?? []).map((r) => r.data as unknown as ProcessEntry).filter((e) => !isStale(e, now))
    const registered = (pid: number) => live.find((e) => e.pid === pid && isSameMachine(e))
    const holderOf = (e: ProcessEntry | undefined, pid: number, holdsLock: boolean): LockHolder => ({
      pid,
      ...(e === undefined ? {} : { role: e.role, host: e.host, since: e.startedAt, heartbeatAt: e.heartbeatAt }),
      ...(isPidStopped(pid) ? { stopped: true } : {}),
      holdsLock,
    })
    let holders: LockHolder[]
    let text: string
    if (pids !== undefined && pids.length > 0) {
      holders = pids.map((pid) => holderOf(registered(pid), pid, true))
      text = `The write lock is held by ${holders.map((h) => describeHolder(h, now)).join(' and ')}.`
    } else if (live.length > 0) {
      holders = live.slice(0, MAX_LISTED).map((e) => holderOf(e, e.pid, false))
      const more = live.length > MAX_LISTED ? ` and ${live.length - MAX_LISTED} more` : ''
      text = `Processes with the store open: ${holders.map((h) => describeHolder(h, now)).join(', ')}${more}.`
    } else {
      return error
    }
    error.message = `${error.message} ${text}`
    Object.defineProperty(error, 'holders', { value: holders, enumerable: true, configurable: true })
  } catch {
    // The error goes out as it was: explaining it is a courtesy.
  }
  return error
}

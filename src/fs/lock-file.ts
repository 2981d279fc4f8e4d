import { watch, type FSWatcher } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { TandemError } from '../errors.js'
import { fileFailure, tempNameFor } from './atomic-write.js'
import { errnoCode, REAL_FS_OPS, type FsOps } from './fs-ops.js'
import { describeHolder, isStale, lockLine, newToken, parseLock, type LockRecord, type ReadLock } from './lock-protocol.js'

/** Options of withFileLock. */
export interface FileLockOptions {
  /** Give up waiting after this long: LOCK_TIMEOUT naming the holder (default 10,000). */
  timeoutMs?: number
  /**
   * A lock whose holder cannot be checked (another host) is taken over once untouched this long
   * (default 30,000). The holder touches its lock every staleMs / 3 while it holds it.
   */
  staleMs?: number
  /** The file-system calls to make (tests inject faults through it). */
  ops?: FsOps
}

export const DEFAULT_LOCK_TIMEOUT_MS = 10_000
export const DEFAULT_LOCK_STALE_MS = 30_000
/** The longest nap between two looks at a busy lock. */
const MAX_BACKOFF_MS = 20
/** Takeover claims on one stale lock a newcomer walks past (each one's holder died mid-takeover) before waiting. */
const MAX_CLAIMS = 64
/** How long a lock line written ahead (while waiting) may wait before it is written again. */
const PREPARED_FRESH_MS = 100

/** The lock file that guards `path`. */
export function lockPathFor(path: string): string {
  return `${resolve(path)}.lock`
}

function checkMs(name: string, value: unknown, min: number): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw Object.assign(new RangeError(`${name} must be an integer of at least ${min} (got ${String(value)}).`), {
      code: 'INVALID_ARGUMENT',
    })
  }
  return value
}

/** Reads a lock or claim file; undefined when it is gone. */
async function readLock(ops: FsOps, path: string): Promise<ReadLock | undefined> {
  try {
    const stat = await ops.stat(path)
    if (stat === undefined) return undefined
    return parseLock(await ops.readFile(path), stat)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined
    throw fileFailure('read the lock', path, error)
  }
}

/** A complete lock line written to a temp file beside the lock, ready to be linked into place. */
interface PreparedLock {
  temp: string
  token: string
  preparedAt: number
}

/** Writes a fresh lock line (new token) to a temp file beside `path`: the first half of createComplete. */
async function prepareLock(ops: FsOps, path: string): Promise<PreparedLock> {
  const temp = tempNameFor(path)
  const token = newToken()
  try {
    const fd = await ops.open(temp, 'wx', 0o644)
    try {
      await ops.write(fd, Buffer.from(lockLine(token)))
    } finally {
      await ops.close(fd)
    }
  } catch (error) {
    await ops.unlink(temp).catch(() => undefined)
    throw fileFailure('create the lock', path, error)
  }
  return { temp, token, preparedAt: Date.now() }
}

/** Links a prepared lock to `path`: true when this created it, false when it exists (EEXIST). */
async function linkPrepared(ops: FsOps, prepared: PreparedLock, path: string): Promise<boolean> {
  try {
    await ops.link(prepared.temp, path)
    return true
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false
    throw fileFailure('create the lock', path, error)
  }
}

/** Creates `path` holding a lock line with a new token, complete, only if it does not exist: temp file + hard link. False when it exists. */
async function createComplete(ops: FsOps, path: string): Promise<boolean> {
  const prepared = await prepareLock(ops, path)
  try {
    return await linkPrepared(ops, prepared, path)
  } finally {
    await ops.unlink(prepared.temp).catch(() => undefined)
  }
}

/**
 * Removes the stale lock `seen` if this process wins the takeover: it creates the claim file
 * `<lock>.takeover.<key>.<n>` (n = 1, then the next whenever a claim's holder is dead too),
 * re-reads the lock and removes it only if it still has the same key — a lock is never recreated
 * with a key once used, so nobody can have replaced it meanwhile. Every claim of that key is then
 * removed. False when a live process is taking it over: wait and look again.
 */
async function takeOver(ops: FsOps, lockPath: string, seen: ReadLock, staleMs: number): Promise<boolean> {
  const prefix = `${lockPath}.takeover.${seen.key}.`
  for (let n = 1; n <= MAX_CLAIMS; n++) {
    const claim = `${prefix}${n}`
    if (!(await createComplete(ops, claim))) {
      const other = await readLock(ops, claim)
      if (other === undefined || isStale(other, staleMs)) continue
      return false
    }
    const now = await readLock(ops, lockPath)
    if (now?.key === seen.key) await ops.unlink(lockPath).catch(() => undefined)
    const dir = dirname(lockPath)
    for (const name of await readdir(dir).catch(() => [])) {
      if (name.startsWith(basename(prefix))) await ops.unlink(join(dir, name)).catch(() => undefined)
    }
    return true
  }
  return false
}

/** A held lock: release it exactly once. */
export interface HeldFileLock {
  readonly path: string
  readonly token: string
  release(): Promise<void>
}

/** Waits for, then takes, the lock file of `path`. Prefer withFileLock, which always releases. */
export async function acquireFileLock(path: string, options: FileLockOptions = {}): Promise<HeldFileLock> {
  const timeoutMs = checkMs('timeoutMs', options.timeoutMs, 0) ?? DEFAULT_LOCK_TIMEOUT_MS
  const staleMs = checkMs('staleMs', options.staleMs, 1) ?? DEFAULT_LOCK_STALE_MS
  const ops = options.ops ?? REAL_FS_OPS
  const lockPath = lockPathFor(path)
  const started = performance.now()
  // A prepared lock older than this is written again: the line's acquiredAt and the file's
  // modification time (the lease other hosts judge) stay close to the moment it is taken.
  const freshMs = Math.min(PREPARED_FRESH_MS, Math.floor(staleMs / 3))
  let backoffMs = 1
  let wake: ReleaseWatch | undefined
  let prepared: PreparedLock | undefined
  try {
    for (;;) {
      // The lock line waits in a temp file, written before the lock is free: taking a lock that
      // was just released is then one link(2), and a busy lock costs a failed link and a read.
      if (prepared !== undefined && Date.now() - prepared.preparedAt > freshMs) {
        await ops.unlink(prepared.temp).catch(() => undefined)
        prepared = undefined
      }
      prepared ??= await prepareLock(ops, lockPath)
      if (await linkPrepared(ops, prepared, lockPath)) {
        const token = prepared.token
        await ops.unlink(prepared.temp).catch(() => undefined)
        prepared = undefined
        return holdLock(ops, lockPath, token, staleMs)
      }
      const holder = await readLock(ops, lockPath)
      if (holder === undefined) continue // released between the link and the look: try again
      if (isStale(holder, staleMs) && (await takeOver(ops, lockPath, holder, staleMs))) continue
      const waited = performance.now() - started
      if (waited >= timeoutMs) throw lockTimeout(path, holder, Math.round(waited))
      if (wake === undefined) {
        // A release between the look above and the start of the watch sends no event: look once more first.
        wake = watchRelease(lockPath)
        continue
      }
      // Jittered, growing naps, cut short when the lock file goes: two waiters do not wake in
      // step, a long hold costs few looks, and a release is seen at once where watching works.
      await wake.nap(Math.min(backoffMs * (0.5 + Math.random()), timeoutMs - waited + 1))
      backoffMs = Math.min(backoffMs * 1.5, MAX_BACKOFF_MS)
    }
  } finally {
    wake?.close()
    if (prepared !== undefined) await ops.unlink(prepared.temp).catch(() => undefined)
  }
}

interface ReleaseWatch {
  nap(ms: number): Promise<void>
  close(): void
}

/**
 * Naps that end early when the lock file is removed (fs.watch on its directory). Watching is only
 * a shortcut: where it is not available (or drops an event) the nap simply runs out.
 */
function watchRelease(lockPath: string): ReleaseWatch {
  let wakeUp: (() => void) | undefined
  let watcher: FSWatcher | undefined
  const name = basename(lockPath)
  try {
    watcher = watch(dirname(lockPath), { persistent: false }, (_event, file) => {
      if (file === null || file === name) wakeUp?.()
    })
    watcher.on('error', () => undefined)
  } catch {
    watcher = undefined
  }
  return {
    nap: (ms) =>
      new Promise<void>((done) => {
        const timer = setTimeout(finish, ms)
        function finish() {
          clearTimeout(timer)
          wakeUp = undefined
          done()
        }
        wakeUp = finish
      }),
    close: () => watcher?.close(),
  }
}

function lockTimeout(path: string, holder: ReadLock, waitedMs: number): TandemError {
  const error = new TandemError(
    'LOCK_TIMEOUT',
    `The lock on ${path} stayed held by ${describeHolder(holder)} for ${waitedMs} ms (timeoutMs); nothing was done. The holder is alive (or on another host and touched the lock within staleMs).`,
    { hint: `Wait for that process to finish, or stop it; a dead holder's lock is taken over by itself. Lock file: ${lockPathFor(path)}.` },
  )
  return Object.assign(error, { holder: holder.record ?? {}, waitedMs })
}

function holdLock(ops: FsOps, lockPath: string, token: string, staleMs: number): HeldFileLock {
  // Touch the lock while held, so that a process on another host (which cannot check our pid) sees a live lease.
  const lease = setInterval(
    () => {
      const now = Date.now() / 1000
      void ops.utimes(lockPath, now, now).catch(() => undefined)
    },
    Math.max(1, Math.floor(staleMs / 3)),
  )
  lease.unref()
  let released = false
  return {
    path: lockPath,
    token,
    async release() {
      if (released) return
      released = true
      clearInterval(lease)
      const now = await readLock(ops, lockPath)
      if ((now?.record as LockRecord | undefined)?.token !== token) {
        throw new TandemError(
          'LOCK_LOST',
          `The lock ${lockPath} was taken over while this process held it (now held by ${describeHolder(now)}): its lease expired, so another process may have written meanwhile.`,
          { hint: 'Keep each locked section shorter than staleMs, or raise staleMs; check the file for a lost update.' },
        )
      }
      await ops.unlink(lockPath).catch((error: unknown) => {
        if (errnoCode(error) !== 'ENOENT') throw fileFailure('remove the lock', lockPath, error)
      })
    },
  }
}

/** Per lock file, the tail of this process's queue: callers in one process wait in line, not by polling the file. */
const queues = new Map<string, Promise<unknown>>()

/**
 * Runs `fn` while holding an exclusive lock on `path` that every process following the lock
 * protocol of docs/files.md respects (Tandem in any process, or a Python or Rust program). The
 * lock is the file `<path>.lock`, recording the holder's pid, host, boot and process start time.
 * Waiting is asynchronous. A lock whose holder is dead (same host: its pid is gone or reused, or
 * the machine rebooted) is taken over at once; one held from another host when untouched for
 * `staleMs`. Two processes racing to take over one stale lock never both get it. Rejects with
 * LOCK_TIMEOUT (naming the holder) after `timeoutMs`; releases the lock when `fn` settles. Not
 * re-entrant: calling it for the same path inside `fn` waits for itself until timeoutMs.
 *
 * @example
 * await withFileLock('ROADMAP.md', async () => {
 *   // no other process following the protocol is inside a lock on ROADMAP.md now
 * })
 */
export async function withFileLock<T>(path: string, fn: () => T | Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const key = lockPathFor(path)
  const before = queues.get(key) ?? Promise.resolve()
  let leave!: () => void
  const mine = new Promise<void>((done) => (leave = done))
  const tail = before.then(() => mine)
  queues.set(key, tail)
  try {
    await before
    const lock = await acquireFileLock(path, options)
    let result: T
    try {
      result = await fn()
    } catch (error) {
      await lock.release().catch(() => undefined)
      throw error
    }
    await lock.release()
    return result
  } finally {
    leave()
    if (queues.get(key) === tail) queues.delete(key)
  }
}

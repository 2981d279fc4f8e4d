import { statSync } from 'node:fs'
import { BusyError } from '../../errors.js'
import { isBusy } from './sqlite-errors.js'
import { SideFile } from './sqlite-side-file.js'

/**
 * Waiting for SQLite's locks (the twin of postgres-locks.ts): the asynchronous busy retry every
 * statement that may meet another process's lock goes through, and the turn-taking between
 * processes that write one file (TurnSignal), without which SQLite's queue-less write lock starves
 * all but one of them.
 */

const sleeper = new Int32Array(new SharedArrayBuffer(4))

/**
 * Sleeps the thread for a fraction of a millisecond. Timers cannot wait less than 1 ms, and a
 * lock handoff between processes takes tens of microseconds; a short blocking nap lets a waiter
 * poll at sub-millisecond pace without spinning a core. Callers keep naps short and yield to the
 * event loop between them, so the process stays responsive while it waits.
 */
export function nap(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms)
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * The wait before the next retry, by how long this caller has waited: sub-millisecond naps for the
 * first 10 ms (locks here are held for tens of microseconds, and a writer that sees someone
 * waiting leaves the lock free for 0.1 ms after its turn, see TurnSignal), then 1 ms timer
 * sleeps, and past a second 1-8 ms, always jittered so waiters do not retry in lockstep.
 */
async function backoff(waitedMs: number): Promise<void> {
  if (waitedMs < 10) {
    nap(0.02 + Math.random() * 0.18)
    await yieldToLoop()
  } else if (waitedMs < 1000) {
    await sleep(1)
  } else {
    await sleep(1 + Math.floor(Math.random() * 8))
  }
}

export interface BusyRetryStats {
  /** Attempts that found the store locked. */
  retries: number
  /** Longest single wait, in milliseconds. */
  longestWaitMs: number
}

/**
 * Runs `attempt` (a synchronous SQLite call made with busy_timeout 0) until it stops failing with
 * SQLITE_BUSY, waiting asynchronously between tries so the event loop keeps running, up to
 * `timeoutMs`. Then rejects with BusyError. Other errors are rethrown at once. `onBusy` runs after
 * each busy attempt (a writer announces that it waits, see TurnSignal).
 */
export async function retryWhileBusy<T>(
  attempt: () => T,
  timeoutMs: number,
  stats?: BusyRetryStats,
  operation: 'write' | 'read' = 'write',
  onBusy?: () => void,
): Promise<T> {
  const started = performance.now()
  for (let n = 0; ; n++) {
    try {
      const result = attempt()
      if (n > 0 && stats !== undefined) stats.longestWaitMs = Math.max(stats.longestWaitMs, performance.now() - started)
      return result
    } catch (error) {
      if (!isBusy(error)) throw error
      if (stats !== undefined) stats.retries++
      const waited = performance.now() - started
      if (waited >= timeoutMs) throw new BusyError(Math.round(waited), error, operation)
      onBusy?.()
      await backoff(waited)
    }
  }
}

// Turn-taking.

/** A waiter re-announces itself at most this often while it keeps waiting. */
const SIGNAL_EVERY_MS = 1
/** A writer keeps the lock for at least this long before it lets a waiter in. */
const TURN_MS = 1
/** How long it then leaves the lock free: a waiter retries every 20-200 µs. */
export const COURTESY_MS = 0.1
/** The holder looks at the side file at most this often (a stat: 3% of a single insert at every 0.2 ms). */
const LOOK_EVERY_MS = 0.5

/**
 * Turn-taking between processes that write one SQLite file. SQLite's write lock has no queue: a
 * process that commits and begins again at once keeps it, and a waiter only gets in when its
 * retry happens to land in a gap. Left alone, one busy process holds the lock for long runs while
 * the others wait tens of milliseconds (raw SQLite with a busy timeout starves a process for a
 * whole second; see docs/benchmarks.md).
 *
 * So a process that finds the lock busy says so: it sets the modification time of a small side
 * file (`<db>-turns`) to a value of its own, and repeats that every millisecond while it waits.
 * Before each write transaction, a process looks at that time (one stat, about a microsecond, at
 * most every 0.5 ms); when someone other than itself set it and this process has had the lock
 * for a turn (TURN_MS), it leaves the lock free for a moment (COURTESY_MS) so a waiter gets in.
 * Nothing is kept in the file and nothing depends on it for correctness: a lost or stale signal
 * only changes who goes next, never what is written. The file is not a SQLite file, so opening it
 * with fs is safe.
 */
export class TurnSignal {
  readonly #file: SideFile
  /** The last time this process set on the file, in µs: how it tells its own signal from others'. */
  #ownMark = -1
  #lastSignal = 0
  /** The file's mtime at our last look, in µs. */
  #seen = -1
  #lastLook = 0
  /** Someone else announced a wait since this process last let a waiter in. */
  #othersWaiting = false
  /** When this process's current turn with the lock began. */
  #turnStarted = 0
  /** This process found the lock busy since it last got it. */
  #waited = false

  constructor(databasePath: string) {
    this.#file = new SideFile(`${databasePath}-turns`)
  }

  /** Waiter side: announce that this process is waiting for the write lock (rate-limited). */
  waiting(): void {
    this.#waited = true
    const now = performance.now()
    if (now - this.#lastSignal < SIGNAL_EVERY_MS) return
    this.#lastSignal = now
    // A value unlikely to be anyone else's: wall time with the microseconds this process chose.
    const mark = Date.now() / 1000 + Math.random() / 1e4
    // Without a signal this waiter only loses its priority, never its write.
    if (!this.#file.touch(mark)) return
    this.#ownMark = Math.round(mark * 1e6)
    this.#seen = this.#ownMark
  }

  /**
   * Holder side, before each write transaction: true when another process waits and this one has
   * had the lock for a turn (TURN_MS): then the caller leaves the lock free for COURTESY_MS.
   */
  shouldYield(): boolean {
    const now = performance.now()
    if (now - this.#lastLook >= LOOK_EVERY_MS) {
      this.#lastLook = now
      if (this.#look()) this.#othersWaiting = true
    }
    if (!this.#othersWaiting || now - this.#turnStarted < TURN_MS) return false
    this.#othersWaiting = false
    this.#turnStarted = now
    return true
  }

  /** Called when this process got the write lock: if it had to wait for it, a new turn begins. */
  acquired(): void {
    if (!this.#waited) return
    this.#waited = false
    this.#turnStarted = performance.now()
  }

  /** Has another process announced itself since the last look? */
  #look(): boolean {
    let mark: number
    try {
      const stat = statSync(this.#file.path, { bigint: true, throwIfNoEntry: false })
      if (stat === undefined) return false
      mark = Number(stat.mtimeNs / 1000n)
    } catch {
      return false
    }
    if (mark === this.#seen) return false
    this.#seen = mark
    // Our own announcement (set while we waited) is not someone else's; rounding may differ by a µs.
    return Math.abs(mark - this.#ownMark) > 1
  }

  close(): void {
    this.#file.close()
  }
}

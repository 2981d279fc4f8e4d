import { BusyError } from '../../errors.js'
import { isBusy } from './sqlite-errors.js'

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
 * waiting leaves the lock free for 0.1 ms after its turn, see sqlite-turns.ts), then 1 ms timer
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

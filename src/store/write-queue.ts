import { isRetryInNextBatch, isTransactionAborted, type Backend, type WriteTx } from '../backends/backend.js'
import { settle } from './settle.js'

export interface WriteJob<T> {
  /** May complete synchronously (a single insert on SQLite): the batch then runs without an await per write. */
  work: (tx: WriteTx) => T | Promise<T>
  /**
   * The work either fails before its first write, or fails in a way that aborts the whole
   * transaction: it needs no savepoint of its own (a single INSERT, say).
   */
  atomic: boolean
}

interface Pending {
  job: WriteJob<unknown>
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
  /** When the engine first asked to run this write again in a later batch (see isRetryInNextBatch). */
  retriedSince?: number
}

/** At most this many writes share one transaction. */
export const MAX_BATCH = 1000
/** Back-to-back writes yield to the event loop at least this often. */
const YIELD_EVERY_MS = 2

/**
 * Group commit. Writes issued while another is in progress wait here and then run together in
 * one transaction, each in its own savepoint: a failing write is undone alone and its caller gets
 * its own error, the others commit. Nobody's promise resolves before COMMIT returns, so a resolved
 * write is as durable as the store's durability setting promises. When COMMIT itself fails (or
 * the engine aborts the transaction), every write of the batch rejects: none of them happened.
 * On a backend with `concurrentAtomicWrites`, consecutive atomic jobs of a batch (single inserts)
 * are started together and awaited together, so the engine can send them as one statement.
 */
export class WriteQueue {
  readonly #backend: Backend
  readonly #busyTimeoutMs: number
  readonly #onCommit: (writes: number) => void
  #pending: Pending[] = []
  #draining: Promise<void> | undefined
  #lastYield = performance.now()

  /** `onCommit` runs after each committed batch, before its callers' promises resolve, with how many of its writes committed. */
  constructor(backend: Backend, busyTimeoutMs: number, onCommit: (writes: number) => void = () => {}) {
    this.#backend = backend
    this.#busyTimeoutMs = busyTimeoutMs
    this.#onCommit = onCommit
  }

  push<T>(job: WriteJob<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ job, resolve: resolve as (value: unknown) => void, reject })
      this.#draining ??= this.#schedule()
    })
  }

  /**
   * Starts the next drain. Usually on a microtask, so every write issued in this tick joins the
   * first batch. But SQLite calls are synchronous: a loop of `await insert()` that never waits
   * for a lock would otherwise run on microtasks alone and starve timers and I/O (IPC messages,
   * HTTP requests). So at least every YIELD_EVERY_MS of back-to-back writing, the drain waits for
   * the next turn of the event loop.
   */
  #schedule(): Promise<void> {
    if (performance.now() - this.#lastYield < YIELD_EVERY_MS) return Promise.resolve().then(() => this.#drain())
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#lastYield = performance.now()
      return this.#drain()
    })
  }

  /** Resolves once every write pushed so far has settled. */
  async idle(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) await this.#runBatch(this.#pending.splice(0, MAX_BATCH))
    } finally {
      this.#draining = undefined
    }
  }

  /** A write runs again in a later batch for at most busyTimeoutMs, the wait its caller allowed. */
  #mayRetry(pending: Pending): boolean {
    const now = performance.now()
    pending.retriedSince ??= now
    return now - pending.retriedSince < this.#busyTimeoutMs
  }

  async #runBatch(batch: Pending[]): Promise<void> {
    // Per write: its value, or (in `errors`, sparse) the error that undid it alone.
    const values: unknown[] = new Array(batch.length)
    let errors: Map<number, unknown> | undefined
    // Writes the engine undid to run again, first in the next batch (a lock out of order, a deadlock).
    let again: Set<number> | undefined
    const concurrent = this.#backend.capabilities.concurrentAtomicWrites
    try {
      await this.#backend.write(
        async (tx) => {
          // An engine may run this callback again (PostgreSQL retries a deadlocked transaction):
          // only the outcomes of the last run count.
          errors = undefined
          again = undefined
          // Alone in its transaction, a write needs no savepoint: if it throws, everything rolls back.
          if (batch.length === 1) return void (values[0] = await batch[0]!.job.work(tx))
          for (let i = 0; i < batch.length; i++) {
            // Once a write is deferred, every later one is too, in order: run now, they would
            // commit (and reach the change log) before the write their caller issued first.
            if (again !== undefined) {
              again.add(i)
              continue
            }
            const { job } = batch[i]!
            if (job.atomic && concurrent) {
              // Consecutive atomic jobs start together, so the engine may combine their statements.
              const from = i
              const started: Promise<unknown>[] = []
              for (; i < batch.length && batch[i]!.job.atomic; i++) {
                const { work } = batch[i]!.job
                // settle: a synchronous throw fails only this job, as a rejection would.
                started.push(settle(() => work(tx)))
              }
              i--
              const settled = await Promise.allSettled(started)
              for (const [k, outcome] of settled.entries()) {
                if (outcome.status === 'fulfilled') values[from + k] = outcome.value
                else if (isTransactionAborted(outcome.reason)) throw outcome.reason
                else (errors ??= new Map()).set(from + k, outcome.reason)
              }
              continue
            }
            try {
              if (job.atomic) {
                const value = job.work(tx)
                values[i] = value instanceof Promise ? await value : value
              } else {
                values[i] = await tx.savepoint(async () => job.work(tx), { batchJob: true })
              }
            } catch (error) {
              if (isTransactionAborted(error)) throw error
              if (isRetryInNextBatch(error) && this.#mayRetry(batch[i]!)) {
                ;(again ??= new Set()).add(i)
                continue
              }
              ;(errors ??= new Map()).set(i, error)
            }
          }
        },
        { busyTimeoutMs: this.#busyTimeoutMs },
      )
    } catch (error) {
      for (const pending of batch) pending.reject(error)
      return
    }
    // Only the writes that committed: not those deferred, nor those undone alone.
    this.#onCommit(batch.length - (again?.size ?? 0) - (errors?.size ?? 0))
    // The writes to run again go first in the next batch, in their order: there the first takes
    // its locks holding none, so it waits in turn instead of deadlocking.
    if (again !== undefined) this.#pending.unshift(...[...again].map((i) => batch[i]!))
    for (let i = 0; i < batch.length; i++) {
      const pending = batch[i]!
      if (again?.has(i) === true) continue
      if (errors?.has(i) === true) pending.reject(errors.get(i))
      else pending.resolve(values[i])
    }
  }
}

import { randomBytes } from 'node:crypto'
import { TandemError } from '../errors.js'
import type { CollectionSource } from './operations.js'

/** A transaction handle as the store gives one to a callback: collections, and nested transactions. */
export interface TxHandle extends CollectionSource {
  transaction<T>(fn: (tx: TxHandle) => Promise<T>): Promise<T>
}

interface Job {
  work: (tx: TxHandle) => Promise<unknown>
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

/** Thrown inside the callback to roll it back; never leaves this module. */
const ROLLBACK = Symbol('rollback')

function closed(id: string): TandemError {
  return new TandemError('TRANSACTION_CLOSED', `Transaction ${id} has ended (committed, rolled back, or idle too long).`, {
    hint: 'Open a new one with POST /v1/transactions, and send its requests without long pauses.',
  })
}

/**
 * One interactive transaction: the store's transaction callback stays open, and runs the requests
 * sent with its id one at a time, in the order received, until commit or rollback. While it is
 * open it holds the store's write lock (SQLite), so it rolls back by itself after `idleMs` without
 * a request.
 */
class TxSession {
  readonly id = `tx_${randomBytes(12).toString('base64url')}`
  readonly role: string
  readonly #jobs: Job[] = []
  #wake: (() => void) | undefined
  #end: 'commit' | 'rollback' | undefined
  #ended = false
  #timer: NodeJS.Timeout | undefined
  readonly #idleMs: number
  /** Settles when the callback has returned: committed (true) or rolled back (false). */
  done!: Promise<boolean>

  constructor(role: string, idleMs: number) {
    this.role = role
    this.#idleMs = idleMs
  }

  /** Starts the callback through `begin` (a store or parent transaction's transaction()); resolves once it runs. */
  start(begin: (fn: (tx: TxHandle) => Promise<void>) => Promise<void>): Promise<void> {
    return new Promise<void>((started, failed) => {
      this.done = begin(async (tx) => {
        started()
        await this.#loop(tx)
      }).then(
        () => true,
        (error: unknown) => {
          failed(error)
          if (error === ROLLBACK) return false
          throw error
        },
      )
      this.done.catch(() => undefined)
    })
  }

  /** Runs `work` inside the transaction, after the requests sent before it. */
  run<T>(work: (tx: TxHandle) => Promise<T>): Promise<T> {
    if (this.#ended || this.#end !== undefined) return Promise.reject(closed(this.id))
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push({ work, resolve: resolve as (value: unknown) => void, reject })
      this.#wake?.()
    })
  }

  /** Commits (or rolls back) once the requests sent before have run. */
  finish(how: 'commit' | 'rollback'): Promise<boolean> {
    if (this.#ended || this.#end !== undefined) return Promise.reject(closed(this.id))
    this.#end = how
    this.#wake?.()
    return this.done
  }

  async #loop(tx: TxHandle): Promise<void> {
    this.#arm()
    for (;;) {
      const job = this.#jobs.shift()
      if (job !== undefined) {
        clearTimeout(this.#timer)
        // A failed request fails alone (as a failed call inside a local callback): the transaction goes on.
        await job.work(tx).then(job.resolve, job.reject)
        this.#arm()
        continue
      }
      if (this.#end !== undefined) break
      await new Promise<void>((resolve) => (this.#wake = resolve))
      this.#wake = undefined
    }
    clearTimeout(this.#timer)
    this.#ended = true
    if (this.#end === 'rollback') throw ROLLBACK
  }

  #arm(): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      if (this.#end === undefined) {
        this.#end = 'rollback'
        this.#wake?.()
      }
    }, this.#idleMs)
  }

  /** Rolls back at once (the server is closing). */
  abort(): void {
    if (this.#end === undefined) this.#end = 'rollback'
    this.#wake?.()
  }
}

/** The open interactive transactions of one server, by id. */
export class TxSessions {
  readonly #sessions = new Map<string, TxSession>()
  readonly #idleMs: number

  constructor(idleMs: number) {
    this.#idleMs = idleMs
  }

  /** Opens a transaction through `begin` for `role`; resolves with its id once it runs, and `done` (see TxSession). */
  async open(role: string, begin: (fn: (tx: TxHandle) => Promise<void>) => Promise<void>): Promise<{ id: string; done: Promise<boolean> }> {
    const session = new TxSession(role, this.#idleMs)
    this.#sessions.set(session.id, session)
    try {
      await session.start(begin)
    } catch (error) {
      this.#sessions.delete(session.id)
      throw error
    }
    void session.done.finally(() => this.#sessions.delete(session.id)).catch(() => undefined)
    return { id: session.id, done: session.done }
  }

  /**
   * Opens a transaction nested in `parentId` (a savepoint): the parent runs nothing else until it
   * ends, as a nested callback holds its parent's callback in the library.
   */
  openNested(parentId: string, role: string): Promise<string> {
    const parent = this.get(parentId, role)
    return new Promise<string>((resolveId, rejectId) => {
      parent
        .run(async (tx) => {
          const { id, done } = await this.open(role, (fn) => tx.transaction(fn))
          resolveId(id)
          await done.catch(() => undefined)
        })
        .catch(rejectId)
    })
  }

  /** The open transaction with this id, if the role is the one that opened it. */
  get(id: string, role: string): TxSession {
    const session = this.#sessions.get(id)
    if (session === undefined || session.role !== role) throw closed(id)
    return session
  }

  /** Rolls every open transaction back and waits for them (server shutdown). */
  async abortAll(): Promise<void> {
    const all = [...this.#sessions.values()]
    for (const s of all) s.abort()
    await Promise.all(all.map((s) => s.done.catch(() => undefined)))
  }
}

import { markRetryInNextBatch, markTransactionAborted } from '../backend.js'
import type { PostgresPoolClient, PostgresQuery, PostgresResult } from './postgres-config.js'
import type { Session } from './postgres-connection.js'
import {
  isConnectFailure,
  isConnectionLoss,
  isSessionTimeout,
  isTransactionConflict,
  sqlState,
  translatePostgresError,
  type ErrorContext,
} from './postgres-errors.js'
import { markLostAtBegin, markRetryable } from './postgres-locks.js'
import { PendingStatements, type Prefix } from './postgres-pipeline.js'
import { checkPreparedStatements } from './postgres-prepared.js'
import type { SavepointStack } from './postgres-savepoints.js'

/**
 * One PostgreSQL write transaction's use of its pooled connection (engine-only: SQLite's write
 * transaction is synchronous calls on one handle, with no message to assemble and no state the
 * server can abort under it). It holds where the transaction is (WriteTxState), whether running
 * its work again is still safe, and the statements waiting to travel with the next message; every
 * statement of PostgresWriteTx (postgres-transaction.ts) goes out through it, so a failure is
 * translated, and moves the state machine, in one place (`failed`). PostgresWriteTx decides what
 * to send and when; this decides how it travels and what a failure does to the transaction.
 */

/** How long this process's writes waited for locks (statements that can wait, COMMIT with changes). */
export interface WaitStats {
  longestWaitMs: number
}

/**
 * Where a write transaction is. The transitions:
 *   unsent -> open        the first message goes out, BEGIN first in it (takePrefix)
 *   open -> aborted       a statement outside any savepoint failed, or the connection did, or a
 *                         ROLLBACK TO SAVEPOINT could not be sent (failed, abort)
 *   open -> committing    commit() handed out the statements to go with COMMIT; the backend sends it
 *   aborted -> aborted    a later failure keeps the first error
 * In `aborted`, every write, savepoint or commit rejects with the first error, marked
 * transaction-aborted: only the backend's ROLLBACK is left. In `committing` the work is done and
 * the backend sends the COMMIT message; nothing else is sent on the transaction.
 */
export type WriteTxState =
  /** Nothing sent yet: BEGIN and the transaction's settings wait to travel with the first statement. */
  | { name: 'unsent'; begin: string }
  | { name: 'open' }
  /** PostgreSQL aborted the transaction (or its connection failed): every later statement would fail. */
  | { name: 'aborted'; error: unknown }
  | { name: 'committing' }

export class WriteSession {
  readonly #session: Session
  readonly #context: ErrorContext
  readonly #waits: WaitStats
  /** What each savepoint level of the transaction holds: a failure's effect depends on the depth. */
  readonly #levels: SavepointStack
  #state: WriteTxState
  /** Statements waiting to travel with the next one (see PostgresWriteTx). */
  readonly pending: PendingStatements
  /**
   * Whether running the whole work again is safe. The store's write queue collects each job's
   * outcome in an array outside the work callback as the job finishes; once a job of a batch has
   * finished, a re-run would record it twice. Jobs of a batch run in savepoints, except single
   * inserts: so a savepoint opened, or an insert that returned (inserted, or found its id taken),
   * means a job may have finished, and so does reaching COMMIT. Only ever goes from true to false.
   */
  #rerunnable = true

  constructor(session: Session, context: ErrorContext, waits: WaitStats, levels: SavepointStack, begin: string) {
    this.#session = session
    this.#context = context
    this.#waits = waits
    this.#levels = levels
    this.#state = { name: 'unsent', begin }
    this.pending = new PendingStatements(session.client)
  }

  get state(): WriteTxState {
    return this.#state
  }

  /** The pooled connection, for messages sent as they are (a SAVEPOINT with what waits, a ROLLBACK TO). */
  get client(): PostgresPoolClient {
    return this.#session.client
  }

  /** Whether running the whole work again is still safe (see #rerunnable). */
  get rerunnable(): boolean {
    return this.#rerunnable
  }

  /** A job may have finished (see #rerunnable): running the work again is no longer safe. */
  noRerun(): void {
    this.#rerunnable = false
  }

  /** Rejects when the transaction takes no more statements (see WriteTxState). */
  refuseIfAborted(): void {
    if (this.#state.name === 'aborted') throw markTransactionAborted(this.#state.error)
  }

  /** Runs a statement that may wait for another transaction's lock, and records how long it took. */
  async waiting<R>(query: PostgresQuery, context?: ErrorContext): Promise<PostgresResult<R>> {
    const started = performance.now()
    try {
      return await this.run<R>(query, context)
    } finally {
      this.#waits.longestWaitMs = Math.max(this.#waits.longestWaitMs, performance.now() - started)
    }
  }

  async run<R>(query: PostgresQuery, context?: ErrorContext): Promise<PostgresResult<R>> {
    if (this.#state.name === 'unsent' || this.pending.waiting) {
      // Statements waiting to be sent go first, in the same message as this one when it can be an
      // EXECUTE: one round trip (BEGIN with the first read, say).
      const execute = this.pending.execute(query)
      const prefix = this.takePrefix()
      try {
        if (execute !== undefined) {
          const results = (await this.#session.client.query<R>([...prefix.statements, execute].join(';\n'))) as
            PostgresResult<R> | PostgresResult<R>[]
          return Array.isArray(results) ? results[results.length - 1]! : results
        }
        await this.#session.client.query(prefix.statements.join(';\n'))
      } catch (error) {
        throw this.failed(error, prefix.deferredWrites ? prefix.context : context, prefix.begins)
      }
    }
    try {
      return await this.#session.client.query<R>(query)
    } catch (error) {
      throw this.failed(error, context, false)
    }
  }

  /** The statements waiting to be sent, BEGIN first while the transaction is unsent (which it then no longer is). */
  takePrefix(): Prefix {
    const begin = this.#state.name === 'unsent' ? this.#state.begin : undefined
    if (begin !== undefined) this.#state = { name: 'open' }
    return this.pending.take(begin)
  }

  /**
   * Translates a failed statement's error; outside a savepoint PostgreSQL has aborted the
   * transaction. A connection lost in the message that carried BEGIN had died while idle in the
   * pool: the write runs again on another (see markLostAtBegin).
   */
  failed(error: unknown, context: ErrorContext | undefined, begins: boolean): unknown {
    checkPreparedStatements(this.#session, error)
    // The server ended the session for a reason it sent first (idle_in_transaction_session_timeout,
    // say): report that reason, not the dead socket the statement then met.
    const reason =
      isConnectionLoss(error) && sqlState(error) === undefined && isSessionTimeout(this.#session.lost) ? this.#session.lost : error
    const translated = translatePostgresError(reason, { ...this.#context, ...context })
    if (begins && isConnectionLoss(error) && !isConnectFailure(error)) markLostAtBegin(translated)
    // A deadlock or serialization failure inside one write of a batch: undone alone by its
    // savepoint, it runs again first in the next batch (after this one has released its locks).
    if (this.#levels.depth > 1 && isTransactionConflict(error) && this.#levels.inBatchJob) markRetryInNextBatch(translated)
    if (this.#levels.depth === 1 || isConnectionLoss(error)) {
      this.abort(translated)
      markTransactionAborted(translated)
      if (isTransactionConflict(error) && this.#rerunnable) markRetryable(translated)
    }
    return translated
  }

  /** -> aborted (a transaction aborted already keeps its first error). */
  abort(error: unknown): void {
    if (this.#state.name !== 'aborted') this.#state = { name: 'aborted', error }
  }

  /** open -> committing: the statements still waiting, to be sent in the COMMIT message before it. */
  commit(): Prefix {
    const prefix = this.takePrefix()
    this.#state = { name: 'committing' }
    return prefix
  }
}

import { markTransactionAborted, type RecordRow } from '../backend.js'
import { duplicateId } from './postgres-errors.js'
import { markRetryable, markStaleMiss } from './postgres-locks.js'
import { recordKey, type SavepointStack } from './postgres-savepoints.js'
import type { PostgresSql } from './postgres-sql.js'
import type { WriteSession } from './postgres-write-session.js'

/**
 * The inserts of a PostgreSQL write transaction, batched (engine-only: on SQLite an insert is a
 * synchronous call of microseconds, here every statement is a round trip). Inserts issued
 * together (the write queue starts a batch's consecutive single inserts without awaiting each, see
 * `concurrentAtomicWrites`) are sent as one multi-row INSERT per collection on the next microtask;
 * each caller learns whether its own row went in. The statement is insertRowsSql (ON CONFLICT DO
 * NOTHING), so a taken id leaves the transaction usable, as on SQLite.
 */

/** An insert waiting for the next multi-row INSERT of its transaction. */
interface PendingInsert {
  collection: string
  row: RecordRow
  resolve: () => void
  reject: (error: unknown) => void
}

export class PendingInserts {
  readonly #sql: PostgresSql
  readonly #session: WriteSession
  readonly #levels: SavepointStack
  /** The key to take the collection's predicate lock shared with, or undefined when it is held already. */
  readonly #sharedLockNeeded: (collection: string) => string | undefined
  /** Inserts waiting for the next multi-row INSERT; a flush is scheduled whenever there are any. */
  #inserts: PendingInsert[] = []

  constructor(
    sql: PostgresSql,
    session: WriteSession,
    levels: SavepointStack,
    sharedLockNeeded: (collection: string) => string | undefined,
  ) {
    this.#sql = sql
    this.#session = session
    this.#levels = levels
    this.#sharedLockNeeded = sharedLockNeeded
  }

  /** Whether inserts wait for their statement (none may at COMMIT: each is awaited first). */
  get waiting(): boolean {
    return this.#inserts.length > 0
  }

  /** Resolves once the row is in; rejects with DUPLICATE_ID when its id is taken, or with the statement's error. */
  add(collection: string, row: RecordRow): Promise<void> {
    const state = this.#session.state
    if (state.name === 'aborted') return Promise.reject(markTransactionAborted(state.error))
    return new Promise<void>((resolve, reject) => {
      const first = this.#inserts.length === 0
      this.#inserts.push({ collection, row, resolve, reject })
      // Every insert started in this tick joins one statement.
      if (first) queueMicrotask(() => void this.#flush())
    })
  }

  async #flush(): Promise<void> {
    const pending = this.#inserts
    this.#inserts = []
    const byCollection = new Map<string, PendingInsert[]>()
    for (const item of pending) {
      const list = byCollection.get(item.collection)
      if (list === undefined) byCollection.set(item.collection, [item])
      else list.push(item)
    }
    for (const [collection, items] of byCollection) await this.#insertRows(collection, items)
  }

  /** One multi-row INSERT; each caller gets its own outcome (DUPLICATE_ID for a taken id). */
  async #insertRows(collection: string, items: PendingInsert[]): Promise<void> {
    // Each id goes into the statement once; a second insert of it in the same batch is a duplicate.
    const first = new Map<string, PendingInsert>()
    for (const item of items) if (!first.has(item.row.id)) first.set(item.row.id, item)
    const rows = `[${[...first.values()].map(({ row }) => `[${JSON.stringify(row.id)},${row.version},${row.createdAt},${row.updatedAt},${JSON.stringify(row.role)},${JSON.stringify(row.data)}]`).join(',')}]`
    const sharedLock = this.#sharedLockNeeded(collection)
    const only = first.size === 1 ? items[0]!.row.id : undefined
    let inserted: Set<string>
    try {
      const result = await this.#session.run<{ id: string }>(this.#sql.insertRowsSql(collection, rows, sharedLock), {
        collection,
        ...(only === undefined ? {} : { id: only }),
        operation: 'write',
      })
      inserted = new Set(result.rows.map((r) => r.id))
    } catch (error) {
      for (const item of items) item.reject(error)
      return
    }
    if (sharedLock !== undefined) this.#levels.noteLock(collection, 'shared')
    // An insert returned: its job may have finished (see WriteSession's rerunnable).
    const retrySafe = this.#session.rerunnable
    this.#session.noRerun()
    for (const item of items) {
      const key = recordKey(collection, item.row.id)
      if (first.get(item.row.id) === item && inserted.has(item.row.id)) {
        this.#levels.forgetMissed(key)
        item.resolve()
        continue
      }
      const error = duplicateId(collection, item.row.id)
      // This transaction looked for the id and found nothing, yet it is taken now: another
      // transaction committed it in between (a plain insert does not wait for our record lock).
      if (this.#levels.missed(key)) {
        markStaleMiss(error)
        if (retrySafe) markRetryable(error)
      }
      item.reject(error)
    }
  }
}

import {
  isTransactionAborted,
  markRetryInNextBatch,
  markTransactionAborted,
  type SavepointOptions,
  type ChangeRetention,
  type ChangeRow,
  type CollectionLayout,
  type Condition,
  type FoundRow,
  type Query,
  type RecordRow,
  type WriteTx,
} from '../backend.js'
import { TandemError } from '../../errors.js'
import type { PostgresQuery, PostgresResult } from './postgres-config.js'
import type { Session } from './postgres-connection.js'
import {
  duplicateId,
  isConnectFailure,
  isConnectionLoss,
  isNoWaitRefusal,
  isSessionTimeout,
  isTransactionConflict,
  lockRefused,
  sqlState,
  translatePostgresError,
  type ErrorContext,
} from './postgres-errors.js'
import {
  MAX_TRANSACTION_ATTEMPTS,
  changeLogLockKey,
  collectionLockKey,
  ddlLockKey,
  isStaleMiss,
  lockSharedSql,
  lockSql,
  markLostAtBegin,
  markRetryable,
  markStaleMiss,
  namedLockKey,
  recordLockKey,
  tryLockSql,
} from './postgres-locks.js'
import { ensureCollection, prepareStore, type DdlRunner } from './postgres-ddl.js'
import { PendingStatements, type Prefix } from './postgres-pipeline.js'
import { checkPreparedStatements } from './postgres-prepared.js'
import { PostgresReadOps, decode, type RawRow } from './postgres-reader.js'
import { SavepointStack, recordKey } from './postgres-savepoints.js'
import { MAX_PAYLOAD_ATTEMPT_BYTES, type PostgresSql } from './postgres-sql.js'
import { steadyNow } from '../steady-clock.js'

/**
 * The write transaction of the PostgreSQL backend, on one pooled connection (the twin of
 * sqlite-transaction.ts). Over 300 lines on purpose: its locking reads, its batched writes and its
 * savepoints share one state machine (WriteTxState), one retry-safety flag and one way of sending
 * statements (#run, #failed), and splitting them would spread those across files. What each
 * savepoint level holds is in postgres-savepoints.ts, the statements waiting to be sent in
 * postgres-pipeline.ts, the DDL in postgres-ddl.ts.
 */

/** How long this process's writes waited for locks (statements that can wait, COMMIT with changes). */
export interface WaitStats {
  longestWaitMs: number
}

/**
 * Where a write transaction is. The transitions:
 *   unsent -> open        the first message goes out, BEGIN first in it (#takePrefix)
 *   open -> aborted       a statement outside any savepoint failed, or the connection did, or a
 *                         ROLLBACK TO SAVEPOINT could not be sent (#failed, #rollbackTo)
 *   open -> committing    commitSql() handed out the COMMIT message; the backend sends it
 *   aborted -> aborted    a later failure keeps the first error
 * In `aborted`, every write, savepoint or commit rejects with the first error, marked
 * transaction-aborted: only the backend's ROLLBACK is left. In `committing` the work is done and
 * the backend sends the COMMIT message; nothing else is sent on the transaction.
 */
type WriteTxState =
  /** Nothing sent yet: BEGIN and the transaction's settings wait to travel with the first statement. */
  | { name: 'unsent'; begin: string }
  | { name: 'open' }
  /** PostgreSQL aborted the transaction (or its connection failed): every later statement would fail. */
  | { name: 'aborted'; error: unknown }
  | { name: 'committing' }

/** An insert waiting for the next multi-row INSERT of its transaction. */
interface PendingInsert {
  collection: string
  row: RecordRow
  resolve: () => void
  reject: (error: unknown) => void
}

/**
 * The open write transaction: one pooled connection between BEGIN and COMMIT, in READ COMMITTED.
 * `get` locks the row (FOR UPDATE). Changes are buffered and written just before COMMIT, under the
 * change-log lock (see appendChangesSql). PostgreSQL aborts the whole transaction on any failed
 * statement outside a savepoint, so such errors are marked transaction-aborted; a taken id is found
 * with ON CONFLICT DO NOTHING instead, and leaves the transaction usable, as on SQLite.
 *
 * Round trips are the cost here, so statements travel together where the outcome allows it, as
 * one simple-protocol message of EXECUTEs of statements PREPAREd once per connection:
 * - BEGIN (and the transaction's settings) goes with the first statement.
 * - `update` and `delete` outside a savepoint are not sent at once but with the next statement,
 *   usually the change-log append and COMMIT. Their result is not needed, and a failure there
 *   aborts the whole transaction either way, so the caller sees the same error, only later.
 * - `insert`s issued together (the write queue starts a batch's consecutive single inserts without
 *   awaiting each, see `concurrentAtomicWrites`) are sent as one multi-row INSERT on the next
 *   microtask; each caller learns whether its own row went in.
 * - The predicate lock of a collection (see collectionLockKey) rides on the first statement that
 *   writes or locks there.
 */
export class PostgresWriteTx extends PostgresReadOps implements WriteTx {
  readonly #session: Session
  readonly #context: ErrorContext
  readonly #waits: WaitStats
  #state: WriteTxState
  /** What each savepoint level holds: changes, missed ids, locks. */
  readonly #levels = new SavepointStack()
  /** Statements waiting to travel with the next one (see the class comment). */
  readonly #pending: PendingStatements
  /**
   * Whether running the whole work again is safe. The store's write queue collects each job's
   * outcome in an array outside the work callback as the job finishes; once a job of a batch has
   * finished, a re-run would record it twice. Jobs of a batch run in savepoints, except single
   * inserts: so a savepoint opened, or an insert that returned (inserted, or found its id taken),
   * means a job may have finished, and so does reaching COMMIT. Only ever goes from true to false.
   */
  #rerunnable = true
  /** Inserts waiting for the next multi-row INSERT; a flush is scheduled whenever there are any. */
  #inserts: PendingInsert[] = []
  /** The context of the writes that travel with COMMIT, for its errors. */
  #commitContext: ErrorContext = {}
  /** This transaction as DDL runs in it (made on first use: most transactions run none). */
  #ddlRunner: DdlRunner | undefined

  constructor(sql: PostgresSql, session: Session, context: ErrorContext, waits: WaitStats, begin: string) {
    super(sql)
    this.#session = session
    this.#context = context
    this.#waits = waits
    this.#state = { name: 'unsent', begin }
    this.#pending = new PendingStatements(session.client)
  }

  #ddl(): DdlRunner {
    return (this.#ddlRunner ??= {
      run: (query) => this.run(query),
      rows: (query) => this.rows(query),
      listCollections: () => this.listCollections(),
    })
  }

  /** Rejects when the transaction takes no more statements (see WriteTxState). */
  #refuseIfAborted(): void {
    if (this.#state.name === 'aborted') throw markTransactionAborted(this.#state.error)
  }

  /** Runs a statement that may wait for another transaction's lock, and records how long it took. */
  async #waiting<R>(query: PostgresQuery, context?: ErrorContext): Promise<PostgresResult<R>> {
    const started = performance.now()
    try {
      return await this.run<R>(query, context)
    } finally {
      this.#waits.longestWaitMs = Math.max(this.#waits.longestWaitMs, performance.now() - started)
    }
  }

  protected async run<R>(query: PostgresQuery, context?: ErrorContext): Promise<PostgresResult<R>> {
    if (this.#state.name === 'unsent' || this.#pending.waiting) {
      // Statements waiting to be sent go first, in the same message as this one when it can be an
      // EXECUTE: one round trip (BEGIN with the first read, say).
      const execute = this.#pending.execute(query)
      const prefix = this.#takePrefix()
      try {
        if (execute !== undefined) {
          const results = (await this.#session.client.query<R>([...prefix.statements, execute].join(';\n'))) as
            PostgresResult<R> | PostgresResult<R>[]
          return Array.isArray(results) ? results[results.length - 1]! : results
        }
        await this.#session.client.query(prefix.statements.join(';\n'))
      } catch (error) {
        throw this.#failed(error, prefix.deferredWrites ? prefix.context : context, prefix.begins)
      }
    }
    try {
      return await this.#session.client.query<R>(query)
    } catch (error) {
      throw this.#failed(error, context, false)
    }
  }

  /** The statements waiting to be sent, BEGIN first while the transaction is unsent (which it then no longer is). */
  #takePrefix(): Prefix {
    const begin = this.#state.name === 'unsent' ? this.#state.begin : undefined
    if (begin !== undefined) this.#state = { name: 'open' }
    return this.#pending.take(begin)
  }

  /**
   * Translates a failed statement's error; outside a savepoint PostgreSQL has aborted the
   * transaction. A connection lost in the message that carried BEGIN had died while idle in the
   * pool: the write runs again on another (see markLostAtBegin).
   */
  #failed(error: unknown, context: ErrorContext | undefined, begins: boolean): unknown {
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
      this.#abort(translated)
      markTransactionAborted(translated)
      if (isTransactionConflict(error) && this.#rerunnable) markRetryable(translated)
    }
    return translated
  }

  /** -> aborted (a transaction aborted already keeps its first error). */
  #abort(error: unknown): void {
    if (this.#state.name !== 'aborted') this.#state = { name: 'aborted', error }
  }

  /** The key to take the collection's predicate lock shared with, or undefined when it is held already. */
  #sharedLockNeeded(collection: string): string | undefined {
    return this.#levels.heldLock(collection) === undefined ? collectionLockKey(this.sql.schemaName, collection) : undefined
  }

  /**
   * Takes the collection's predicate lock exclusively (once per transaction), before a range read
   * takes its snapshot: writers of the collection that started before have committed (and are
   * seen), later ones wait until this transaction ends. A separate statement on purpose: a
   * statement's snapshot is taken before it waits for a lock inside it.
   */
  async #lockExclusive(collection: string): Promise<void> {
    if (this.#levels.heldLock(collection) === 'exclusive') return
    await this.#waiting(lockSql(collectionLockKey(this.sql.schemaName, collection)), { collection })
    this.#levels.noteLock(collection, 'exclusive')
  }

  override async get(collection: string, id: string): Promise<RecordRow | undefined> {
    const context = { collection, id }
    const key = recordKey(collection, id)
    const noWait = this.#levels.outOfOrder(key)
    const sharedLock = this.#sharedLockNeeded(collection)
    let raw: RawRow | undefined
    const started = performance.now()
    try {
      ;[raw] = (await this.#waiting<RawRow>(this.sql.getSql(collection, id, true, sharedLock, noWait), context)).rows
    } catch (error) {
      // NOWAIT found the row locked ("could not obtain lock on row", 55P03 as lock_timeout is):
      // say so, rather than claim busyTimeoutMs of waiting.
      if (noWait && error instanceof TandemError && error.code === 'BUSY_TIMEOUT' && isNoWaitRefusal(error.cause)) {
        throw markRetryInNextBatch(lockRefused({ ...this.#context, ...context }, performance.now() - started, error.cause))
      }
      if (noWait && error instanceof TandemError && error.code === 'BUSY_TIMEOUT') throw markRetryInNextBatch(error)
      throw error
    }
    if (sharedLock !== undefined) this.#levels.noteLock(collection, 'shared')
    if (raw === undefined) {
      // FOR UPDATE cannot lock a row that is not there: lock the id instead, then look again (a
      // transaction that inserted it meanwhile has committed by the time the lock is ours).
      const lockKey = recordLockKey(this.sql.schemaName, collection, id)
      if (noWait) {
        const tried = performance.now()
        const [lock] = await this.rows<{ ok: boolean }>(tryLockSql(lockKey), context)
        if (lock?.ok !== true) throw markRetryInNextBatch(lockRefused({ ...this.#context, ...context }, performance.now() - tried))
      } else {
        await this.#waiting(lockSql(lockKey))
      }
      ;[raw] = await this.rows<RawRow>(this.sql.getSql(collection, id, true), context)
      if (raw === undefined) this.#levels.noteMissed(key)
    }
    this.#levels.noteRecordLock(key)
    return raw === undefined ? undefined : decode(raw)
  }

  /**
   * Inside a write, `find` first takes the collection's predicate lock exclusively (see
   * #lockExclusive): READ COMMITTED would otherwise let two transactions each decide on rows the
   * other is changing or inserting (write skew, phantoms), which SQLite's single writer never
   * allows. Until this transaction ends, nobody else writes to the collection.
   */
  override async find(collection: string, query: Query): Promise<FoundRow[]> {
    await this.#lockExclusive(collection)
    return super.find(collection, query)
  }

  /** Counts inside a write take the predicate lock too, for the same reason as `find`. */
  override async count(collection: string, where: readonly Condition[]): Promise<number> {
    await this.#lockExclusive(collection)
    return Number(await super.count(collection, where))
  }

  insert(collection: string, row: RecordRow): Promise<void> {
    if (this.#state.name === 'aborted') return Promise.reject(markTransactionAborted(this.#state.error))
    return new Promise<void>((resolve, reject) => {
      const first = this.#inserts.length === 0
      this.#inserts.push({ collection, row, resolve, reject })
      // Every insert started in this tick joins one statement.
      if (first) queueMicrotask(() => void this.#flushInserts())
    })
  }

  async #flushInserts(): Promise<void> {
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
      const result = await this.run<{ id: string }>(this.sql.insertRowsSql(collection, rows, sharedLock), {
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
    const retrySafe = this.#rerunnable
    this.#rerunnable = false
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

  async update(collection: string, row: RecordRow): Promise<void> {
    const context = { collection, id: row.id, operation: 'write' as const }
    const query = this.sql.updateSql(collection, [row.version, row.updatedAt, row.role, JSON.stringify(row.data), row.id])
    if (this.#levels.depth === 1 && this.#defer(collection, query, context)) return
    await this.#lockShared(collection)
    await this.run(query, context)
  }

  async delete(collection: string, id: string): Promise<void> {
    const context = { collection, id, operation: 'write' as const }
    const query = this.sql.deleteSql(collection, id)
    if (this.#levels.depth === 1 && this.#defer(collection, query, context)) return
    await this.#lockShared(collection)
    await this.run(query, context)
  }

  /** A write outside any savepoint: sent with the next statement (see the class comment). False if it cannot be. */
  #defer(collection: string, query: PostgresQuery, context: ErrorContext): boolean {
    this.#refuseIfAborted()
    const sharedLock = this.#sharedLockNeeded(collection)
    const lock = sharedLock === undefined ? undefined : this.#pending.execute(lockSharedSql(sharedLock))
    const write = this.#pending.execute(query)
    if (write === undefined) return false
    if (lock !== undefined) {
      this.#pending.defer(lock)
      this.#levels.noteLock(collection, 'shared')
    }
    this.#pending.defer(write, context)
    return true
  }

  async #lockShared(collection: string): Promise<void> {
    const sharedLock = this.#sharedLockNeeded(collection)
    if (sharedLock === undefined) return
    await this.#waiting(lockSharedSql(sharedLock), { collection })
    this.#levels.noteLock(collection, 'shared')
  }

  async ensureCollection(layout: CollectionLayout): Promise<void> {
    await ensureCollection(this.#ddl(), this.sql, layout)
  }

  async dropIndex(collection: string, path: readonly string[]): Promise<void> {
    await this.run(lockSql(ddlLockKey(this.sql.schemaName)))
    await this.run({ text: this.sql.dropIndexSql(collection, path) })
  }

  async dropCollection(collection: string): Promise<void> {
    await this.run(lockSql(ddlLockKey(this.sql.schemaName)))
    await this.run({ text: this.sql.dropTableSql(collection) })
  }

  async lock(key: string): Promise<void> {
    await this.#waiting(lockSql(namedLockKey(this.sql.schemaName, key)))
  }

  async appendChange(change: Omit<ChangeRow, 'seq'>): Promise<void> {
    // Buffered, not inserted: seqs are given out at commit, under the change-log lock.
    this.#levels.appendChange({
      text: JSON.stringify(change),
      collection: change.collection,
      id: change.id,
      op: change.op,
      data: change.data,
    })
  }

  async trimChanges(retention: ChangeRetention, now: number): Promise<number> {
    // The log is trimmed from its oldest end only (coalescing leaves gaps inside it). Only
    // committed changes (seq <= the committed head) can be trimmed; in-flight ones are above it.
    const [{ head }] = (await this.rows<{ head: number }>(this.sql.changeHeadSql())) as [{ head: number }]
    // Ages by a clock that cannot have jumped ahead while this process ran (see steadyNow).
    const [{ seq: expired }] = (await this.rows<{ seq: number | null }>(this.sql.agedThroughSql(steadyNow(now) - retention.maxAgeMs))) as [
      { seq: number | null },
    ]
    const through = Math.max(head - retention.maxCount, expired ?? 0)
    const [{ seq: previous }] = (await this.rows<{ seq: number }>(this.sql.trimmedThroughSql())) as [{ seq: number }]
    if (through <= previous) return 0
    const { rowCount } = await this.run(this.sql.deleteChangesSql(through))
    await this.run(this.sql.setTrimmedThroughSql(through))
    // Listeners learn the new trim mark on commit (see ChangeCache). Outside a savepoint it goes
    // with the COMMIT; inside one, now, so that rolling the savepoint back drops it too.
    const notify = this.sql.notifyTrimSql(through)
    const deferred = this.#levels.depth === 1 ? this.#pending.execute(notify) : undefined
    if (deferred === undefined) await this.run(notify)
    else this.#pending.defer(deferred)
    return rowCount ?? 0
  }

  async savepoint<T>(work: () => Promise<T>, options: SavepointOptions = {}): Promise<T> {
    this.#refuseIfAborted()
    const name = `sp${this.#levels.depth}`
    this.#rerunnable = false
    await this.#openSavepoint(name)
    this.#levels.push(options.batchJob === true)
    for (let attempt = 1; ; attempt++) {
      let result: T
      try {
        result = await work()
      } catch (error) {
        // A savepoint never sent held no statement, so nothing to undo (nor a read gone stale).
        if (!this.#pending.dropSavepoint(name)) {
          await this.#rollbackTo(name, error)
          // A stale read (see markStaleMiss): the record is committed now, so the work, run again
          // in the same savepoint, reads it. Safe: the store's work for one savepoint touches only the tx.
          if (isStaleMiss(error) && attempt < MAX_TRANSACTION_ATTEMPTS) continue
          this.#pending.release(name)
        }
        this.#levels.pop()
        throw error
      }
      this.#levels.release()
      if (!this.#pending.dropSavepoint(name)) this.#pending.release(name)
      return result
    }
  }

  /**
   * Opens a savepoint: usually by queueing its SAVEPOINT for the next message. When writes of the
   * outer level wait to be sent, it goes now, with them: an error in that message must be theirs,
   * the whole transaction's (see #failed), not the savepoint's.
   */
  async #openSavepoint(name: string): Promise<void> {
    if (!this.#pending.hasDeferred) {
      this.#pending.queueSavepoint(name)
      return
    }
    // A pending release (of the savepoint finished just before at this same depth) and deferred
    // writes travel with the SAVEPOINT.
    const prefix = this.#takePrefix()
    try {
      await this.#session.client.query([...prefix.statements, `SAVEPOINT ${name}`].join(';\n'))
    } catch (error) {
      throw this.#failed(error, prefix.context, prefix.begins)
    }
  }

  async #rollbackTo(name: string, error: unknown): Promise<void> {
    // A savepoint finished (or opened and never sent) inside this one is undone with it: nothing
    // left to release or open.
    this.#pending.forgetSavepoints()
    if (isTransactionAborted(error) || this.#state.name === 'aborted') {
      this.#levels.pop()
      throw markTransactionAborted(error)
    }
    try {
      await this.#session.client.query(`ROLLBACK TO SAVEPOINT ${name}`)
    } catch {
      // The connection failed: the savepoint, and the transaction, are gone.
      this.#levels.pop()
      this.#abort(error)
      throw markTransactionAborted(error)
    }
    // What the undone work appended or looked up is undone too (its record locks are released).
    this.#levels.reset()
  }

  /**
   * The last step (open -> committing): refuses to commit a transaction PostgreSQL has aborted, and
   * returns the COMMIT to send, preceded by the append of the buffered changes (see appendChangesSql).
   */
  commitSql(): string {
    this.#rerunnable = false
    this.#refuseIfAborted()
    if (this.#inserts.length > 0) throw new Error('An insert of this transaction was not awaited before COMMIT.')
    const changes = this.#levels.committedChanges
    const statements: string[] = []
    if (changes.length > 0) {
      const entries = `[${changes.join(',')}]`
      // Two statements: the append's snapshot must be taken after the lock is granted.
      const lock = this.#pending.execute(lockSql(changeLogLockKey(this.sql.schemaName)))
      const append = this.#pending.execute({
        ...this.sql.appendChangesSql(),
        values: [entries, Buffer.byteLength(entries) < MAX_PAYLOAD_ATTEMPT_BYTES],
      })
      if (lock === undefined || append === undefined) throw new Error('The change-log entries cannot be sent as a literal.')
      statements.push(lock, append)
    }
    const prefix = this.#takePrefix()
    this.#state = { name: 'committing' }
    this.#commitContext = prefix.context
    return [...prefix.statements, ...statements, 'COMMIT'].join(';\n')
  }

  /** Whether anything was sent yet (BEGIN goes with the first statement): if not, there is nothing to roll back. */
  get started(): boolean {
    return this.#state.name !== 'unsent'
  }

  /** What the writes sent with COMMIT were about (collection, id), for the errors of that message. */
  get commitContext(): ErrorContext {
    return this.#commitContext
  }

  /** Creates the store's schema and tables, then the collections (see postgres-ddl.ts). */
  async prepareStore(collections: readonly CollectionLayout[]): Promise<void> {
    await prepareStore(this.#ddl(), this.sql, collections)
  }
}

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
import { MAX_PAYLOAD_ATTEMPT_BYTES } from './postgres-changes-sql.js'
import type { PostgresQuery, PostgresResult } from './postgres-config.js'
import type { Session } from './postgres-connection.js'
import { isNoWaitRefusal, lockRefused, type ErrorContext } from './postgres-errors.js'
import {
  MAX_TRANSACTION_ATTEMPTS,
  changeLogLockKey,
  collectionLockKey,
  ddlLockKey,
  isStaleMiss,
  lockSharedSql,
  lockSql,
  namedLockKey,
  recordLockKey,
  tryLockSql,
} from './postgres-locks.js'
import { ensureCollection, prepareStore, type DdlRunner } from './postgres-ddl.js'
import { pruneHistory } from './postgres-history.js'
import { PendingInserts } from './postgres-inserts.js'
import type { PendingStatements } from './postgres-pipeline.js'
import { PostgresReadOps, decode, type RawRow } from './postgres-reader.js'
import { SavepointStack, recordKey } from './postgres-savepoints.js'
import type { PostgresSql } from './postgres-sql.js'
import { WriteSession, type WaitStats } from './postgres-write-session.js'
import { steadyNow } from '../steady-clock.js'

/**
 * The write transaction of the PostgreSQL backend, on one pooled connection (the twin of
 * sqlite-transaction.ts): its locking reads, its writes, its savepoints and the COMMIT message.
 * How its statements travel, the state machine (WriteTxState), the retry-safety flag and what a
 * failure does to the transaction are in postgres-write-session.ts; the batched inserts in
 * postgres-inserts.ts; what each savepoint level holds in postgres-savepoints.ts; the statements
 * waiting to be sent in postgres-pipeline.ts; the DDL in postgres-ddl.ts.
 */

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
 *   microtask; each caller learns whether its own row went in (PendingInserts).
 * - The predicate lock of a collection (see collectionLockKey) rides on the first statement that
 *   writes or locks there.
 */
export class PostgresWriteTx extends PostgresReadOps implements WriteTx {
  /** The connection as this transaction uses it: its state, and how its statements travel. */
  readonly #session: WriteSession
  readonly #context: ErrorContext
  /** What each savepoint level holds: changes, missed ids, locks. */
  readonly #levels = new SavepointStack()
  /** Statements waiting to travel with the next one (see the class comment). */
  readonly #pending: PendingStatements
  /** Inserts waiting for the next multi-row INSERT. */
  readonly #inserts: PendingInserts
  /** The context of the writes that travel with COMMIT, for its errors. */
  #commitContext: ErrorContext = {}
  /** This transaction as DDL runs in it (made on first use: most transactions run none). */
  #ddlRunner: DdlRunner | undefined

  constructor(sql: PostgresSql, session: Session, context: ErrorContext, waits: WaitStats, begin: string) {
    super(sql)
    this.#session = new WriteSession(session, context, waits, this.#levels, begin)
    this.#context = context
    this.#pending = this.#session.pending
    this.#inserts = new PendingInserts(sql, this.#session, this.#levels, (collection) => this.#sharedLockNeeded(collection))
  }

  #ddl(): DdlRunner {
    return (this.#ddlRunner ??= {
      run: (query) => this.run(query),
      rows: (query) => this.rows(query),
      listCollections: () => this.listCollections(),
    })
  }

  protected run<R>(query: PostgresQuery, context?: ErrorContext): Promise<PostgresResult<R>> {
    return this.#session.run<R>(query, context)
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
    await this.#session.waiting(lockSql(collectionLockKey(this.sql.schemaName, collection)), { collection })
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
      ;[raw] = (await this.#session.waiting<RawRow>(this.sql.getSql(collection, id, true, sharedLock, noWait), context)).rows
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
        await this.#session.waiting(lockSql(lockKey))
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
    return this.#inserts.add(collection, row)
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
    this.#session.refuseIfAborted()
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
    await this.#session.waiting(lockSharedSql(sharedLock), { collection })
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
    await this.#session.waiting(lockSql(namedLockKey(this.sql.schemaName, key)))
  }

  async appendChange(change: Omit<ChangeRow, 'seq'>): Promise<void> {
    // Buffered, not inserted: seqs are given out at commit, under the change-log lock.
    this.#levels.appendChange({
      text: JSON.stringify(change),
      collection: change.collection,
      id: change.id,
      op: change.op,
      data: change.data,
      delta: change.delta,
    })
  }

  async trimChanges(retention: ChangeRetention, now: number): Promise<number> {
    const tx = { rows: <R>(query: PostgresQuery) => this.rows<R>(query), run: (query: PostgresQuery) => this.run(query) }
    return (await pruneHistory(tx, this.sql.changeLog, retention.history, steadyNow(now))) + (await this.#trimLog(retention, now))
  }

  async #trimLog(retention: ChangeRetention, now: number): Promise<number> {
    // The log is trimmed from its oldest end only (coalescing leaves gaps inside it). Only
    // committed changes (seq <= the committed head) can be trimmed; in-flight ones are above it.
    const [{ head }] = (await this.rows<{ head: number }>(this.sql.changeLog.changeHeadSql())) as [{ head: number }]
    // Ages by a clock that cannot have jumped ahead while this process ran (see steadyNow).
    const [{ seq: expired }] = (await this.rows<{ seq: number | null }>(
      this.sql.changeLog.agedThroughSql(steadyNow(now) - retention.maxAgeMs),
    )) as [{ seq: number | null }]
    const through = Math.max(head - retention.maxCount, expired ?? 0)
    const [{ seq: previous }] = (await this.rows<{ seq: number }>(this.sql.changeLog.trimmedThroughSql())) as [{ seq: number }]
    if (through <= previous) return 0
    const { rowCount } = await this.run(this.sql.changeLog.deleteChangesSql(through))
    await this.run(this.sql.changeLog.setTrimmedThroughSql(through))
    // Listeners learn the new trim mark on commit (see ChangeCache). Outside a savepoint it goes
    // with the COMMIT; inside one, now, so that rolling the savepoint back drops it too.
    const notify = this.sql.changeLog.notifyTrimSql(through)
    const deferred = this.#levels.depth === 1 ? this.#pending.execute(notify) : undefined
    if (deferred === undefined) await this.run(notify)
    else this.#pending.defer(deferred)
    return rowCount ?? 0
  }

  async savepoint<T>(work: () => Promise<T>, options: SavepointOptions = {}): Promise<T> {
    this.#session.refuseIfAborted()
    const name = `sp${this.#levels.depth}`
    this.#session.noRerun()
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
   * the whole transaction's (see WriteSession.failed), not the savepoint's.
   */
  async #openSavepoint(name: string): Promise<void> {
    if (!this.#pending.hasDeferred) {
      this.#pending.queueSavepoint(name)
      return
    }
    // A pending release (of the savepoint finished just before at this same depth) and deferred
    // writes travel with the SAVEPOINT.
    const prefix = this.#session.takePrefix()
    try {
      await this.#session.client.query([...prefix.statements, `SAVEPOINT ${name}`].join(';\n'))
    } catch (error) {
      throw this.#session.failed(error, prefix.context, prefix.begins)
    }
  }

  async #rollbackTo(name: string, error: unknown): Promise<void> {
    // A savepoint finished (or opened and never sent) inside this one is undone with it: nothing
    // left to release or open.
    this.#pending.forgetSavepoints()
    if (isTransactionAborted(error) || this.#session.state.name === 'aborted') {
      this.#levels.pop()
      throw markTransactionAborted(error)
    }
    try {
      await this.#session.client.query(`ROLLBACK TO SAVEPOINT ${name}`)
    } catch {
      // The connection failed: the savepoint, and the transaction, are gone.
      this.#levels.pop()
      this.#session.abort(error)
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
    this.#session.noRerun()
    this.#session.refuseIfAborted()
    if (this.#inserts.waiting) throw new Error('An insert of this transaction was not awaited before COMMIT.')
    const changes = this.#levels.committedChanges
    const statements: string[] = []
    if (changes.length > 0) {
      const entries = `[${changes.join(',')}]`
      // Two statements: the append's snapshot must be taken after the lock is granted.
      const lock = this.#pending.execute(lockSql(changeLogLockKey(this.sql.schemaName)))
      const append = this.#pending.execute({
        ...this.sql.changeLog.appendChangesSql(),
        values: [entries, Buffer.byteLength(entries) < MAX_PAYLOAD_ATTEMPT_BYTES],
      })
      if (lock === undefined || append === undefined) throw new Error('The change-log entries cannot be sent as a literal.')
      statements.push(lock, append)
    }
    const prefix = this.#session.commit()
    this.#commitContext = prefix.context
    return [...prefix.statements, ...statements, 'COMMIT'].join(';\n')
  }

  /** Whether anything was sent yet (BEGIN goes with the first statement): if not, there is nothing to roll back. */
  get started(): boolean {
    return this.#session.state.name !== 'unsent'
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

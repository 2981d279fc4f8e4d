import {
  isTransactionAborted,
  markTransactionAborted,
  type ChangeRetention,
  type ChangeRow,
  type CollectionLayout,
  type Condition,
  type FoundRow,
  type JsonObject,
  type Query,
  type ReadTx,
  type RecordRow,
  type Scalar,
  type WriteTx,
} from '../backend.js'
import { TandemError } from '../../errors.js'
import type { PostgresPoolClient, PostgresQuery, PostgresResult } from './postgres-config.js'
import { duplicateId, isConnectionLoss, isTransactionConflict, translatePostgresError, type ErrorContext } from './postgres-errors.js'
import { MAX_TRANSACTION_ATTEMPTS, changeLogLockKey, ddlLockKey, isStaleMiss, markRetryable, markStaleMiss, namedLockKey, recordLockKey } from './postgres-locks.js'
import { FORMAT_VERSION, type PostgresSql } from './postgres-sql.js'

/**
 * The transactions of the PostgreSQL backend: reads on the pool, and the write transaction on one
 * pooled connection, with its savepoints, its buffered change-log entries and its record locks.
 */

interface RawRow {
  id: string
  version: number
  created_at: number
  updated_at: number
  role: string
  data: JsonObject
  /** find ordered by a metadata column */
  sort_value?: string | number
  /** find ordered by a data field: its sort key (see dataKey) */
  sort_class?: number
  sort_number?: string
  sort_text?: string
}

function decode(raw: RawRow): RecordRow {
  return { id: raw.id, version: raw.version, createdAt: raw.created_at, updatedAt: raw.updated_at, role: raw.role, data: raw.data }
}

/** The value a page cursor remembers: the same scalar SQLite's json_extract would give (booleans as 1/0). */
function sortValueOf(raw: RawRow): Scalar {
  if (raw.sort_value !== undefined) return raw.sort_value
  if (raw.sort_class === 1) return Number(raw.sort_number)
  if (raw.sort_class === 2) return raw.sort_text ?? ''
  return null
}

function lockSql(key: string): PostgresQuery {
  return { name: 'tandem_advisory_xact_lock', text: 'SELECT pg_advisory_xact_lock($1::bigint)', values: [key] }
}

/** The reads every transaction offers; `run` says where the statements go. */
abstract class PostgresReadOps implements ReadTx {
  constructor(protected readonly sql: PostgresSql) {}

  protected abstract run<R>(query: PostgresQuery, context?: ErrorContext): Promise<PostgresResult<R>>

  protected async rows<R>(query: PostgresQuery, context?: ErrorContext): Promise<R[]> {
    return (await this.run<R>(query, context)).rows
  }

  async listCollections(): Promise<string[]> {
    return (await this.rows<{ name: string }>(this.sql.listCollectionsSql())).map((r) => r.name)
  }

  async get(collection: string, id: string): Promise<RecordRow | undefined> {
    const [raw] = await this.rows<RawRow>(this.sql.getSql(collection, id, false), { collection, id })
    return raw === undefined ? undefined : decode(raw)
  }

  async find(collection: string, query: Query): Promise<FoundRow[]> {
    const raws = await this.rows<RawRow>(this.sql.findSql(collection, query), { collection })
    return raws.map((raw) => ({ ...decode(raw), sortValue: sortValueOf(raw) }))
  }

  async count(collection: string, where: readonly Condition[]): Promise<number> {
    const [row] = await this.rows<{ n: number }>(this.sql.countSql(collection, where), { collection })
    return row!.n
  }
}

/** Reads outside a write: each statement runs on a pooled connection and sees the latest commit. */
export class PostgresReader extends PostgresReadOps {
  constructor(
    sql: PostgresSql,
    private readonly query: <R>(query: PostgresQuery, context?: ErrorContext) => Promise<PostgresResult<R>>,
  ) {
    super(sql)
  }

  protected run<R>(query: PostgresQuery, context?: ErrorContext): Promise<PostgresResult<R>> {
    return this.query<R>(query, context)
  }
}

/** What one savepoint level of a write holds until it is released or rolled back. */
interface Level {
  /** Changes appended at this level, serialized at once (later edits of the data objects do not leak in). */
  changes: string[]
  /** Records (collection/id) a get found missing at this level; their record locks are held. */
  missed: Set<string>
}

const newLevel = (): Level => ({ changes: [], missed: new Set() })

/** How long this process's writes waited for locks (statements that can wait, COMMIT with changes). */
export interface WaitStats {
  longestWaitMs: number
}

/** A checked-out pool connection and whether its socket has failed. */
export interface Session {
  client: PostgresPoolClient
  lost: unknown
  onError: (error: Error) => void
}

/**
 * The open write transaction: one pooled connection between BEGIN and COMMIT, in READ COMMITTED.
 * `get` locks the row (FOR UPDATE). Changes are buffered and written just before COMMIT, under the
 * change-log lock (see flushAndCommitSql). PostgreSQL aborts the whole transaction on any failed
 * statement outside a savepoint, so such errors are marked transaction-aborted; a taken id is found
 * with ON CONFLICT DO NOTHING instead, and leaves the transaction usable, as on SQLite.
 */
export class PostgresWriteTx extends PostgresReadOps implements WriteTx {
  readonly #session: Session
  readonly #context: ErrorContext
  readonly #levels: Level[] = [newLevel()]
  /** Set once PostgreSQL has aborted the transaction: every later statement would fail. */
  #aborted: unknown
  #savepointsOpened = 0
  /** INSERT statements that returned, inserting or finding the id taken: either may end a write of a batch. */
  #insertsRun = 0
  #workDone = false
  /**
   * A savepoint that is finished but not yet released. RELEASE rides along with the next SAVEPOINT
   * (one round trip, not two: batched writes each open one), and COMMIT releases everything anyway.
   */
  #pendingRelease: string | undefined

  readonly #waits: WaitStats

  constructor(sql: PostgresSql, session: Session, context: ErrorContext, waits: WaitStats) {
    super(sql)
    this.#session = session
    this.#context = context
    this.#waits = waits
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
    try {
      if (this.#pendingRelease !== undefined) {
        const name = this.#pendingRelease
        this.#pendingRelease = undefined
        await this.#session.client.query(`RELEASE SAVEPOINT ${name}`)
      }
      return await this.#session.client.query<R>(query)
    } catch (error) {
      const translated = translatePostgresError(error, { ...this.#context, ...context })
      if (this.#levels.length === 1 || isConnectionLoss(error)) {
        this.#aborted ??= translated
        markTransactionAborted(translated)
        if (isTransactionConflict(error) && this.#isRetrySafe()) markRetryable(translated)
      }
      throw translated
    }
  }

  /**
   * Whether running the whole work again is safe. The store's write queue collects each job's
   * outcome in an array outside the work callback as the job finishes; once a job of a batch has
   * finished, a re-run would record it twice. Jobs of a batch run in savepoints, except single
   * inserts: so a savepoint, or an insert that returned (inserted, or found its id taken), means
   * a job may have finished. A lone write or a transaction without nested ones stays retryable.
   */
  #isRetrySafe(): boolean {
    return !this.#workDone && this.#savepointsOpened === 0 && this.#insertsRun === 0
  }

  override async get(collection: string, id: string): Promise<RecordRow | undefined> {
    const query = this.sql.getSql(collection, id, true)
    const context = { collection, id }
    let [raw] = (await this.#waiting<RawRow>(query, context)).rows
    if (raw === undefined) {
      // FOR UPDATE cannot lock a row that is not there: lock the id instead, then look again (a
      // transaction that inserted it meanwhile has committed by the time the lock is ours).
      await this.#waiting(lockSql(recordLockKey(this.sql.schemaName, collection, id)))
      ;[raw] = await this.rows<RawRow>(query, context)
      if (raw === undefined) this.#levels.at(-1)!.missed.add(recordKey(collection, id))
    }
    return raw === undefined ? undefined : decode(raw)
  }

  /**
   * Inside a write, `find` locks the rows it returns (FOR UPDATE), like `get`: READ COMMITTED would
   * otherwise let two transactions each decide on rows the other is changing (write skew), which
   * SQLite's single writer never allows. A row changed by a transaction we waited for is re-read,
   * and dropped if it no longer matches. Rows inserted meanwhile (phantoms) are not blocked.
   */
  override async find(collection: string, query: Query): Promise<FoundRow[]> {
    const compiled = this.sql.findSql(collection, query)
    const raws = (await this.#waiting<RawRow>({ ...compiled, text: `${compiled.text} FOR UPDATE` }, { collection })).rows
    return raws.map((raw) => ({ ...decode(raw), sortValue: sortValueOf(raw) }))
  }

  /** Counts inside a write lock the counted rows, for the same reason as `find`. */
  override async count(collection: string, where: readonly Condition[]): Promise<number> {
    const compiled = this.sql.countSql(collection, where)
    const locked = compiled.text.replace(/^SELECT count\(\*\) AS n FROM ([\s\S]*)$/, 'SELECT count(*) AS n FROM (SELECT 1 FROM $1 FOR UPDATE) AS locked')
    if (locked === compiled.text) throw new Error(`Unexpected count SQL shape: ${compiled.text.slice(0, 60)}`)
    const [row] = (await this.#waiting<{ n: number }>({ ...compiled, text: locked }, { collection })).rows
    return Number(row!.n)
  }

  async insert(collection: string, row: RecordRow): Promise<void> {
    const query = this.sql.insertSql(collection, [row.id, row.version, row.createdAt, row.updatedAt, row.role, JSON.stringify(row.data)])
    const result = await this.run(query, { collection, id: row.id, operation: 'write' })
    const retrySafe = this.#isRetrySafe()
    this.#insertsRun++
    const key = recordKey(collection, row.id)
    if (result.rowCount === 0) {
      const error = duplicateId(collection, row.id)
      // This transaction looked for the id and found nothing, yet it is taken now: another
      // transaction committed it in between (a plain insert does not wait for our record lock).
      if (this.#levels.some((level) => level.missed.has(key))) {
        markStaleMiss(error)
        if (retrySafe) markRetryable(error)
      }
      throw error
    }
    for (const level of this.#levels) level.missed.delete(key)
  }

  async update(collection: string, row: RecordRow): Promise<void> {
    await this.run(this.sql.updateSql(collection, [row.version, row.updatedAt, row.role, JSON.stringify(row.data), row.id]), { collection, id: row.id, operation: 'write' })
  }

  async delete(collection: string, id: string): Promise<void> {
    await this.run(this.sql.deleteSql(collection, id), { collection, id, operation: 'write' })
  }

  async ensureCollection(layout: CollectionLayout): Promise<void> {
    await this.run(lockSql(ddlLockKey(this.sql.schemaName)))
    await this.run({ text: this.sql.createTableSql(layout.name) })
    if (layout.indexes.length === 0) return
    // Create only what is missing: CREATE INDEX IF NOT EXISTS would still lock the table against
    // writers (SHARE) before finding the index there, on every open of every process.
    const existing = new Set((await this.rows<{ name: string }>(this.sql.existingIndexesSql(layout.name))).map((r) => r.name))
    for (const path of layout.indexes) {
      if (!existing.has(this.sql.indexName(layout.name, path))) await this.run({ text: this.sql.createIndexSql(layout, path) })
    }
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
    this.#levels.at(-1)!.changes.push(JSON.stringify(change))
  }

  async trimChanges(retention: ChangeRetention, now: number): Promise<number> {
    // The log is trimmed from its oldest end only, so what is left is always contiguous. Only
    // committed changes (seq <= the committed head) can be trimmed; in-flight ones are above it.
    const [{ head }] = (await this.rows<{ head: number }>(this.sql.changeHeadSql())) as [{ head: number }]
    const [{ seq: expired }] = (await this.rows<{ seq: number | null }>(this.sql.oldestExpiredSql(now - retention.maxAgeMs))) as [{ seq: number | null }]
    const through = Math.max(head - retention.maxCount, expired ?? 0)
    const [{ seq: previous }] = (await this.rows<{ seq: number }>(this.sql.trimmedThroughSql())) as [{ seq: number }]
    if (through <= previous) return 0
    const { rowCount } = await this.run(this.sql.deleteChangesSql(through))
    await this.run(this.sql.setTrimmedThroughSql(through))
    return rowCount ?? 0
  }

  async savepoint<T>(work: () => Promise<T>): Promise<T> {
    if (this.#aborted !== undefined) throw markTransactionAborted(this.#aborted)
    const name = `sp${this.#levels.length}`
    this.#savepointsOpened++
    // A pending release is of the savepoint finished just before at this same depth.
    const release = this.#pendingRelease === undefined ? '' : `RELEASE SAVEPOINT ${this.#pendingRelease}; `
    this.#pendingRelease = undefined
    await this.run({ text: `${release}SAVEPOINT ${name}` })
    this.#levels.push(newLevel())
    for (let attempt = 1; ; attempt++) {
      let result: T
      try {
        result = await work()
      } catch (error) {
        await this.#rollbackTo(name, error)
        // A stale read (see markStaleMiss): the record is committed now, so the work, run again in
        // the same savepoint, reads it. Safe: the store's work for one savepoint touches only the tx.
        if (isStaleMiss(error) && attempt < MAX_TRANSACTION_ATTEMPTS) continue
        this.#levels.pop()
        this.#pendingRelease = name
        throw error
      }
      const level = this.#levels.pop()!
      const parent = this.#levels.at(-1)!
      parent.changes.push(...level.changes)
      for (const key of level.missed) parent.missed.add(key)
      this.#pendingRelease = name
      return result
    }
  }

  async #rollbackTo(name: string, error: unknown): Promise<void> {
    // A savepoint finished inside this one is undone with it: nothing left to release.
    this.#pendingRelease = undefined
    if (isTransactionAborted(error) || this.#aborted !== undefined) {
      this.#levels.pop()
      throw markTransactionAborted(error)
    }
    try {
      await this.#session.client.query(`ROLLBACK TO SAVEPOINT ${name}`)
    } catch {
      // The connection failed: the savepoint, and the transaction, are gone.
      this.#levels.pop()
      this.#aborted ??= error
      throw markTransactionAborted(error)
    }
    // What the undone work appended or looked up is undone too (its record locks are released).
    this.#levels[this.#levels.length - 1] = newLevel()
  }

  /**
   * The last step: refuses to commit a transaction PostgreSQL has aborted, and returns the COMMIT
   * to send, preceded by the append of the buffered changes (see flushAndCommitSql).
   */
  commitSql(): string {
    this.#workDone = true
    if (this.#aborted !== undefined) throw markTransactionAborted(this.#aborted)
    return this.sql.flushAndCommitSql(changeLogLockKey(this.sql.schemaName), this.#levels[0]!.changes)
  }

  /** Creates the store's schema and tables, then the collections. DDL is serialized across processes. */
  async prepareStore(collections: readonly CollectionLayout[]): Promise<void> {
    await this.run(lockSql(ddlLockKey(this.sql.schemaName)))
    for (const text of this.sql.createStoreSql()) await this.run({ text })
    await this.run(this.sql.initMetaSql())
    const [format] = await this.rows<{ value: string }>(this.sql.formatSql())
    if (format?.value !== FORMAT_VERSION) {
      throw new TandemError(
        'STORAGE_FAILURE',
        `Schema ${this.sql.schema} holds a Tandem store of format ${format?.value ?? '(none)'}, which this version of tandemdb cannot read (it reads format ${FORMAT_VERSION}). Upgrade tandemdb, or give postgres.schema another name.`,
        { hint: 'Use the tandemdb version that wrote this store, or another schema.' },
      )
    }
    for (const layout of collections) await this.ensureCollection(layout)
  }
}

function recordKey(collection: string, id: string): string {
  return `${collection}\u0000${id}`
}

import { statSync } from 'node:fs'
import Database from 'better-sqlite3'
import {
  DEFAULT_CAPABILITIES,
  markTransactionAborted,
  type Backend,
  type BackendCapabilities,
  type ChangeBatch,
  type ChangeFilter,
  type ChangeRetention,
  type ChangeRow,
  type CollectionLayout,
  type Condition,
  type FoundRow,
  type JsonObject,
  type Query,
  type ReadTx,
  type RecordRow,
  type StorageInfo,
  type Scalar,
  type WriteOptions,
  type WriteTx,
} from '../backend.js'
import type { SqliteConfig, SqliteHandle, SqliteStatement } from './sqlite-config.js'
import { StorageError } from '../../errors.js'
import { translateSqliteError } from './sqlite-errors.js'
import { nap, retryWhileBusy, type BusyRetryStats } from './sqlite-locks.js'
import { CommitSignal, commitSignalPath, watchWal } from './sqlite-wake.js'
import { COURTESY_MS, TurnSignal } from './sqlite-turns.js'
import {
  CHANGE_HEAD_SQL,
  CHANGES_TABLE,
  CREATE_CHANGES_SQL,
  FORMAT_VERSION,
  META_TABLE,
  TRIMMED_THROUGH_KEY,
  TRIMMED_THROUGH_SQL,
  readChangesSql,
  ROW_COLUMNS,
  countSql,
  createIndexSql,
  createTableSql,
  indexName,
  findSql,
  tableName,
} from './sqlite-sql.js'

/** A record row as SQLite returns it (also read by the export snapshot). */
export interface RawRow {
  id: string
  version: number
  created_at: number
  updated_at: number
  role: string
  data: string
  sort_value?: Scalar
}

interface RawChange extends Omit<ChangeRow, 'data'> {
  data: string | null
}

function decodeChange(raw: RawChange): ChangeRow {
  const change: ChangeRow = { seq: raw.seq, collection: raw.collection, id: raw.id, op: raw.op, version: raw.version, role: raw.role, at: raw.at }
  if (raw.data !== null) change.data = JSON.parse(raw.data) as JsonObject
  return change
}

export function decode(raw: RawRow): RecordRow {
  return {
    id: raw.id,
    version: raw.version,
    createdAt: raw.created_at,
    updatedAt: raw.updated_at,
    role: raw.role,
    data: JSON.parse(raw.data) as JsonObject,
  }
}

/** How many commits between two looks at the WAL size (a stat: a couple of microseconds). */
const CHECKPOINT_CHECK_EVERY = 16

/**
 * One better-sqlite3 connection with a prepared-statement cache. Statements are keyed by SQL text;
 * the text is built only from validated identifiers, so the cache stays small.
 */
type RowStatement = 'get' | 'insert' | 'update' | 'delete'
const ROW_SQL: Record<RowStatement, (table: string) => string> = {
  get: (table) => `SELECT ${ROW_COLUMNS} FROM ${table} WHERE id = ?`,
  insert: (table) => `INSERT INTO ${table} (id, version, created_at, updated_at, role, data) VALUES (?, ?, ?, ?, ?, ?)`,
  update: (table) => `UPDATE ${table} SET version = ?, updated_at = ?, role = ?, data = ? WHERE id = ?`,
  delete: (table) => `DELETE FROM ${table} WHERE id = ?`,
}
const APPEND_CHANGE_SQL = `INSERT INTO ${CHANGES_TABLE} (collection, id, op, version, role, at, data) VALUES (?, ?, ?, ?, ?, ?, ?)`

class Connection {
  readonly #statements = new Map<string, SqliteStatement>()
  /** Per collection, the four row statements: looked up on every write without building SQL text. */
  readonly #rowStatements = new Map<string, Partial<Record<RowStatement, SqliteStatement>>>()
  readonly #changeReads = new Map<string, SqliteStatement>()
  constructor(readonly handle: SqliteHandle) {}

  rowStatement(kind: RowStatement, collection: string): SqliteStatement {
    let forCollection = this.#rowStatements.get(collection)
    if (forCollection === undefined) this.#rowStatements.set(collection, (forCollection = {}))
    return (forCollection[kind] ??= this.statement(ROW_SQL[kind](tableName(collection))))
  }

  /**
   * The read of the change log for a filter's shape (how many collections and ids it names),
   * prepared once: a follower reads on every commit, and building the SQL text each time made it
   * the largest allocation of a delivery.
   */
  changeRead(filter: ChangeFilter | undefined): SqliteStatement {
    const key = `${filter?.collections?.length ?? '-'} ${filter?.ids?.length ?? '-'}`
    let statement = this.#changeReads.get(key)
    if (statement === undefined) this.#changeReads.set(key, (statement = this.statement(readChangesSql(filter))))
    return statement
  }

  statement(sql: string): SqliteStatement {
    let statement = this.#statements.get(sql)
    if (statement === undefined) {
      statement = this.handle.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }
}

/** Reads on one connection, each call its own snapshot of the latest commit. */
class SqliteReader implements ReadTx {
  constructor(
    protected readonly connection: Connection,
    protected readonly run: <T>(attempt: () => T) => Promise<T> | T,
  ) {}

  async listCollections(): Promise<string[]> {
    const statement = this.connection.statement(`SELECT substr(name, 3) AS name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'c\\_%' ESCAPE '\\' ORDER BY name`)
    return ((await this.run(() => statement.all())) as { name: string }[]).map((r) => r.name)
  }

  async get(collection: string, id: string): Promise<RecordRow | undefined> {
    const statement = this.connection.rowStatement('get', collection)
    const raw = (await this.run(() => statement.get(id))) as RawRow | undefined
    return raw === undefined ? undefined : decode(raw)
  }

  async find(collection: string, query: Query): Promise<FoundRow[]> {
    const { sql, params } = findSql(collection, query)
    const statement = this.connection.statement(sql)
    const raws = (await this.run(() => statement.all(...params))) as RawRow[]
    return raws.map((raw) => ({ ...decode(raw), sortValue: raw.sort_value ?? null }))
  }

  async count(collection: string, where: readonly Condition[]): Promise<number> {
    const { sql, params } = countSql(collection, where)
    const statement = this.connection.statement(sql)
    return ((await this.run(() => statement.get(...params))) as { n: number }).n
  }
}

/** The open write transaction: the writer connection between BEGIN IMMEDIATE and COMMIT. */
class SqliteWriteTx extends SqliteReader implements WriteTx {
  #depth = 0
  /** The last data serialized, so its change-log entry reuses the JSON text instead of building it twice. */
  #lastData: unknown
  #lastJson = ''

  #json(data: JsonObject): string {
    if (data !== this.#lastData) {
      this.#lastJson = JSON.stringify(data)
      this.#lastData = data
    }
    return this.#lastJson
  }

  insert(collection: string, row: RecordRow): void {
    const statement = this.connection.rowStatement('insert', collection)
    try {
      statement.run(row.id, row.version, row.createdAt, row.updatedAt, row.role, this.#json(row.data))
    } catch (error) {
      throw this.#failed(error, collection, row.id)
    }
  }

  update(collection: string, row: RecordRow): void {
    const statement = this.connection.rowStatement('update', collection)
    try {
      statement.run(row.version, row.updatedAt, row.role, this.#json(row.data), row.id)
    } catch (error) {
      throw this.#failed(error, collection, row.id)
    }
  }

  delete(collection: string, id: string): void {
    const statement = this.connection.rowStatement('delete', collection)
    try {
      statement.run(id)
    } catch (error) {
      throw this.#failed(error, collection, id)
    }
  }

  async ensureCollection(layout: CollectionLayout): Promise<void> {
    this.connection.handle.exec(createTableSql(layout.name))
    for (const path of layout.indexes) this.connection.handle.exec(createIndexSql(layout, path))
  }

  async dropIndex(collection: string, path: readonly string[]): Promise<void> {
    this.connection.handle.exec(`DROP INDEX IF EXISTS ${indexName(collection, path)}`)
  }

  async dropCollection(collection: string): Promise<void> {
    this.connection.handle.exec(`DROP TABLE IF EXISTS ${tableName(collection)}`)
  }

  async lock(_key: string): Promise<void> {
    // BEGIN IMMEDIATE already holds the one write lock of the database file.
  }

  appendChange(change: Omit<ChangeRow, 'seq'>): void {
    const statement = this.connection.statement(APPEND_CHANGE_SQL)
    try {
      statement.run(change.collection, change.id, change.op, change.version, change.role, change.at, change.data === undefined ? null : this.#json(change.data))
    } catch (error) {
      throw this.#failed(error, change.collection, change.id)
    }
  }

  async trimChanges(retention: ChangeRetention, now: number): Promise<number> {
    const head = (this.connection.statement(CHANGE_HEAD_SQL).get() as { head: number }).head
    const oldest = this.connection.statement(`SELECT seq, at FROM ${CHANGES_TABLE} ORDER BY seq LIMIT 1`).get() as { seq: number; at: number } | undefined
    const cutoff = now - retention.maxAgeMs
    // The log is contiguous, so this cheap look says whether there is anything to trim at all.
    if (oldest === undefined || (head - oldest.seq + 1 <= retention.maxCount && oldest.at >= cutoff)) return 0
    // Trimmed from the oldest end only, so what is left stays contiguous. Age is looked at in the
    // oldest 10,000 entries per pass: seq order is time order, near enough.
    const byAge = this.connection
      .statement(`SELECT max(seq) AS seq FROM (SELECT seq, at FROM ${CHANGES_TABLE} ORDER BY seq LIMIT 10000) WHERE at < ?`)
      .get(cutoff) as { seq: number | null }
    // Never the newest entry: it holds the head, and seqs are rowids (max + 1).
    const through = Math.min(Math.max(head - retention.maxCount, byAge.seq ?? 0), head - 1)
    const previous = Number((this.connection.statement(`SELECT value FROM ${META_TABLE} WHERE key = ?`).get(TRIMMED_THROUGH_KEY) as { value: string } | undefined)?.value ?? 0)
    if (through <= previous) return 0
    const { changes } = this.connection.statement(`DELETE FROM ${CHANGES_TABLE} WHERE seq <= ?`).run(through)
    this.connection.statement(`INSERT OR REPLACE INTO ${META_TABLE} (key, value) VALUES (?, ?)`).run(TRIMMED_THROUGH_KEY, String(through))
    return changes
  }

  async savepoint<T>(work: () => Promise<T>): Promise<T> {
    const name = `sp${++this.#depth}`
    this.connection.statement(`SAVEPOINT ${name}`).run()
    try {
      const result = await work()
      this.connection.statement(`RELEASE ${name}`).run()
      return result
    } catch (error) {
      // SQLite rolls the whole transaction back by itself on some errors (disk full, I/O error);
      // then there is no savepoint left to return to and the enclosing work is lost too.
      if (!this.connection.handle.inTransaction) throw markTransactionAborted(error)
      this.connection.statement(`ROLLBACK TO ${name}`).run()
      this.connection.statement(`RELEASE ${name}`).run()
      throw error
    } finally {
      this.#depth--
    }
  }

  #failed(error: unknown, collection: string, id: string): unknown {
    const translated = translateSqliteError(error, collection, id)
    // After a storage failure SQLite may have undone only the statement, or the whole transaction:
    // either way the batch must not commit (a record without its change-log entry, say).
    const aborted = !this.connection.handle.inTransaction || translated instanceof StorageError
    return aborted ? markTransactionAborted(translated) : translated
  }
}

/**
 * The embedded SQLite backend. One writer connection (all writes of this process, in
 * BEGIN IMMEDIATE transactions) and one reader connection, so reads never see a transaction this
 * process has open. Locks between processes are SQLite's own; waiting for them is done
 * asynchronously (busy_timeout 0 plus jittered retries), never by sleeping the event loop.
 */
export class SqliteBackend implements Backend {
  readonly kind = 'sqlite' as const
  readonly capabilities: BackendCapabilities = Object.freeze({ ...DEFAULT_CAPABILITIES, transactionalDdl: true })
  /** Lock-contention counters for this process, for status and benchmarks. */
  readonly busyStats: BusyRetryStats = { retries: 0, longestWaitMs: 0 }

  readonly #config: SqliteConfig
  readonly #writer: Connection
  readonly #reader: Connection
  readonly #readTx: SqliteReader
  /** Resolves when the write transaction in progress ends; writes on one connection take turns. */
  #writeInProgress: Promise<void> | undefined
  #commitsSinceCheckpointCheck = 0
  /** Turn-taking with other processes (undefined for ':memory:', which has no others). */
  readonly #turns: TurnSignal | undefined
  /** Tells other processes' change readers that a commit is visible (see CommitSignal). */
  readonly #commitSignal: CommitSignal | undefined

  private constructor(config: SqliteConfig, writer: SqliteHandle, reader: SqliteHandle) {
    this.#config = config
    this.#writer = new Connection(writer)
    this.#reader = reader === writer ? this.#writer : new Connection(reader)
    this.#turns = config.path === ':memory:' ? undefined : new TurnSignal(config.path)
    this.#commitSignal = config.path === ':memory:' ? undefined : new CommitSignal(config.path)
    this.#readTx = new SqliteReader(this.#reader, (attempt) => retryWhileBusy(attempt, config.busyTimeoutMs, this.busyStats, 'read'))
  }

  /** Opens (creating if needed) the database file and sets every pragma on each connection. */
  static async open(config: SqliteConfig): Promise<SqliteBackend> {
    const memory = config.path === ':memory:'
    const writer = openHandle(config.path)
    try {
      await configure(writer, config, memory)
      const reader = memory ? writer : openHandle(config.path)
      try {
        if (!memory) await configure(reader, config, memory)
      } catch (error) {
        reader.close()
        throw error
      }
      return new SqliteBackend(config, writer, reader)
    } catch (error) {
      writer.close()
      throw translateSqliteError(error)
    }
  }

  async prepare(collections: readonly CollectionLayout[]): Promise<void> {
    await this.write(async (tx) => {
      const db = this.#writer.handle
      db.exec(`CREATE TABLE IF NOT EXISTS ${META_TABLE} (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT`)
      db.prepare(`INSERT OR IGNORE INTO ${META_TABLE} (key, value) VALUES ('format', ?)`).run(FORMAT_VERSION)
      db.exec(CREATE_CHANGES_SQL)
      for (const layout of collections) await tx.ensureCollection(layout)
    })
  }

  async write<T>(work: (tx: WriteTx) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    while (this.#writeInProgress !== undefined) await this.#writeInProgress
    let finish!: () => void
    this.#writeInProgress = new Promise<void>((resolve) => (finish = resolve))
    const begin = this.#writer.statement('BEGIN IMMEDIATE')
    // BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that reads first and
    // upgrades later fails with SQLITE_BUSY_SNAPSHOT whenever another process committed in
    // between, whatever the busy timeout: no retry can save it.
    try {
      // Another process waits and this one has had its turn: leave the lock free for a moment.
      if (this.#turns?.shouldYield() === true) nap(COURTESY_MS)
      await retryWhileBusy(() => begin.run(), options.busyTimeoutMs ?? this.#config.busyTimeoutMs, this.busyStats, 'write', this.#announceWaiting)
      this.#turns?.acquired()
      const result = await work(new SqliteWriteTx(this.#writer, (attempt) => attempt()))
      try {
        this.#writer.statement('COMMIT').run()
      } catch (error) {
        throw markTransactionAborted(translateSqliteError(error))
      }
      this.#commitSignal?.committed()
      this.#afterCommit()
      return result
    } catch (error) {
      if (this.#writer.handle.inTransaction) this.#writer.statement('ROLLBACK').run()
      throw error
    } finally {
      this.#writeInProgress = undefined
      finish()
    }
  }

  /** Waiting for the write lock: tell the holder (bound once, not a closure per transaction). */
  readonly #announceWaiting = (): void => this.#turns?.waiting()

  async read<T>(work: (tx: ReadTx) => Promise<T>): Promise<T> {
    // With ':memory:' reads share the writer's connection and must not see its open transaction.
    while (this.#reader === this.#writer && this.#writeInProgress !== undefined) await this.#writeInProgress
    try {
      return await work(this.#readTx)
    } catch (error) {
      throw translateSqliteError(error)
    }
  }

  async readChanges(cursor: number, limit: number, filter?: ChangeFilter): Promise<ChangeBatch> {
    while (this.#reader === this.#writer && this.#writeInProgress !== undefined) await this.#writeInProgress
    const params: unknown[] = [cursor, ...(filter?.collections ?? []), ...(filter?.ids ?? []), limit]
    const select = this.#reader.changeRead(filter)
    const head = this.#reader.statement(CHANGE_HEAD_SQL)
    const trimmed = this.#reader.statement(TRIMMED_THROUGH_SQL)
    const begin = this.#reader.statement('BEGIN')
    const commit = this.#reader.statement('COMMIT')
    // One read transaction, run synchronously, so the changes, the head and the trim mark come
    // from the same snapshot and no other call on this connection can interleave. (Three plain
    // statements in it read fewer pages than one statement joining them: measured, 90 against
    // 150 µs per wake-up after another process's commit.)
    return retryWhileBusy(
      () => {
        begin.run()
        try {
          const changes = (select.all(...params) as RawChange[]).map(decodeChange)
          const scannedThrough = changes.length === limit ? changes[changes.length - 1]!.seq : (head.get() as { head: number }).head
          const trimmedThrough = Number((trimmed.get() as { value: string } | undefined)?.value ?? 0)
          return { changes, scannedThrough, trimmedThrough }
        } finally {
          commit.run()
        }
      },
      this.#config.busyTimeoutMs,
      this.busyStats,
      'read',
    )
  }

  async changeHead(): Promise<number> {
    return this.read(async () => (this.#reader.statement(CHANGE_HEAD_SQL).get() as { head: number }).head)
  }

  watchCommits(onCommit: () => void): () => void {
    if (this.#config.path === ':memory:') return () => {} // One process: the store's own commit hook is enough.
    // A prepared statement: pragma() would prepare one on every look.
    const dataVersion = this.#reader.statement('PRAGMA data_version')
    return watchWal(`${this.#config.path}-wal`, () => (dataVersion.get() as { data_version: number }).data_version, onCommit, commitSignalPath(this.#config.path))
  }

  /** SQLite's plan for a find, one line per step (EXPLAIN QUERY PLAN): shows which index it uses. */
  explainFind(collection: string, query: Query): string[] {
    const { sql, params } = findSql(collection, query)
    const steps = this.#reader.handle.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]
    return steps.map((step) => step.detail)
  }

  /** PRAGMA integrity_check on the latest committed state: ['ok'] when the file is sound. */
  integrityCheck(): string[] {
    return (this.#reader.handle.pragma('integrity_check') as { integrity_check: string }[]).map((row) => row.integrity_check)
  }

  async checkIntegrity(): Promise<string[]> {
    return this.read(async () => this.integrityCheck())
  }

  async storageInfo(): Promise<StorageInfo> {
    const path = this.#config.path
    if (path === ':memory:') return { location: path }
    // stat only: opening these files with fs would drop SQLite's locks when closed.
    const size = (p: string) => statSync(p, { throwIfNoEntry: false })?.size ?? 0
    return { location: path, bytes: size(path), walBytes: size(`${path}-wal`), walLimitBytes: this.#config.walCheckpointBytes }
  }

  /** The pragmas in force on each connection (writer first), for doctor and tests. */
  pragmas(): Record<string, unknown>[] {
    const names = ['journal_mode', 'synchronous', 'foreign_keys', 'journal_size_limit', 'wal_autocheckpoint', 'busy_timeout', 'trusted_schema']
    const connections = this.#reader === this.#writer ? [this.#writer] : [this.#writer, this.#reader]
    return connections.map((c) => Object.fromEntries(names.map((name) => [name, c.handle.pragma(name, { simple: true })])))
  }

  async close(): Promise<void> {
    while (this.#writeInProgress !== undefined) await this.#writeInProgress
    if (this.#reader !== this.#writer) this.#reader.handle.close()
    this.#writer.handle.close()
    this.#turns?.close()
    this.#commitSignal?.close()
  }

  /**
   * Keeps the WAL bounded. SQLite's auto-checkpoint (PASSIVE, every 1000 pages) copies pages back
   * but cannot restart the WAL while readers hold old snapshots, so under steady reads the file
   * can grow. Every few hundred commits we look at its size (stat, never open: closing a
   * descriptor on a SQLite file drops its POSIX locks) and, past the limit, try a RESTART
   * checkpoint without waiting (the next commit writes the WAL from its start again, into blocks
   * the file already has; journal_size_limit keeps the file at that size); if readers block it,
   * the next look tries again.
   */
  #afterCommit(): void {
    if (++this.#commitsSinceCheckpointCheck < CHECKPOINT_CHECK_EVERY || this.#config.path === ':memory:') return
    this.#commitsSinceCheckpointCheck = 0
    try {
      const size = statSync(`${this.#config.path}-wal`, { throwIfNoEntry: false })?.size ?? 0
      if (size > this.#config.walCheckpointBytes) this.#writer.handle.pragma('wal_checkpoint(RESTART)')
    } catch {
      // A busy checkpoint is not an error: the data is safe in the WAL and the next look retries.
    }
  }
}

function openHandle(path: string): SqliteHandle {
  return new Database(path) as unknown as SqliteHandle
}

/** Sets every pragma explicitly, on every connection: nothing is left to build-time defaults. */
async function configure(db: SqliteHandle, config: SqliteConfig, memory: boolean): Promise<void> {
  const retry = <T>(attempt: () => T) => retryWhileBusy(attempt, config.busyTimeoutMs)
  // Waiting happens in retryWhileBusy, asynchronously; SQLite's own busy handler would sleep the event loop.
  db.pragma('busy_timeout = 0')
  const mode = await retry(() => db.pragma('journal_mode = WAL', { simple: true }))
  if (!memory && mode !== 'wal') throw new Error(`Could not switch the store to WAL mode (journal_mode is ${String(mode)}).`)
  // NORMAL in WAL mode: a commit survives any process crash; FULL adds an fsync per commit so it survives power loss too.
  db.pragma(`synchronous = ${config.durability === 'full' ? 'FULL' : 'NORMAL'}`)
  db.pragma('foreign_keys = ON')
  db.pragma(`journal_size_limit = ${config.journalSizeLimitBytes}`)
  db.pragma('wal_autocheckpoint = 1000')
  db.pragma('trusted_schema = OFF')
}

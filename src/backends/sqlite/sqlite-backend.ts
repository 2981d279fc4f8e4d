import { execFileSync } from 'node:child_process'
import { statSync } from 'node:fs'
import Database from 'better-sqlite3'
import {
  DEFAULT_CAPABILITIES,
  isTransactionAborted,
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
import { StorageError, TandemError } from '../../errors.js'
import { isBusy, translateSqliteError } from './sqlite-errors.js'
import { nap, retryWhileBusy, type BusyRetryStats } from './sqlite-locks.js'
import { CommitSignal, commitSignalPath, watchWal } from './sqlite-wake.js'
import { decodeWtf8, exactSortValue } from './sqlite-text.js'
import { steadyNow } from '../steady-clock.js'
import { refuseCaseAliases } from '../collection-names.js'
import { COURTESY_MS, TurnSignal } from './sqlite-turns.js'
import {
  StoreFiles,
  keepSideFilesWritable,
  locksStillShared,
  storeFilesChanged,
  walIsEmpty,
  walReplaced,
  whyNotWritable,
  type StoreFileChange,
} from './sqlite-files.js'
import {
  CHANGE_HEAD_SQL,
  CHANGES_TABLE,
  CREATE_CHANGES_SQL,
  FORMAT_VERSION,
  META_TABLE,
  TRIMMED_THROUGH_KEY,
  TRIMMED_THROUGH_SQL,
  AGED_THROUGH_SQL,
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
  /** The id's bytes when it is not ASCII (find only; see ID_BYTES). */
  id_bytes?: Uint8Array | null
}

interface RawChange extends Omit<ChangeRow, 'data'> {
  data: string | null
}

function decodeChange(raw: RawChange): ChangeRow {
  const change: ChangeRow = {
    seq: raw.seq,
    collection: raw.collection,
    id: raw.id,
    op: raw.op,
    version: raw.version,
    role: raw.role,
    at: raw.at,
  }
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
 * How often, at most, a commit first checks that the store's files are still the ones this
 * process opened (three stats, see sqlite-files.ts); an idle process checks every FILES_IDLE_CHECK_MS.
 * Three stats cost about 17 µs on the 2-core test VM, an awaited insert about 100 µs: at most one
 * check per 2 ms keeps the cost under 1% of a write-bound process. A commit that slips into a
 * deleted -wal within those 2 ms is still saved: the check that finds it copies the -wal over.
 */
const FILES_CHECK_EVERY_MS = 2
const FILES_IDLE_CHECK_MS = 1000
/** How long a process that found its -wal deleted keeps trying to copy it into the store file. */
const RESCUE_WITHIN_MS = 2000
/**
 * The largest store a read-only open copies into memory when SQLite cannot open it in place (a
 * read-only directory or a full disk without the -wal and -shm files SQLite must create).
 */
const SNAPSHOT_MAX_BYTES = 512 * 1024 * 1024

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
    const statement = this.connection.statement(
      `SELECT substr(name, 3) AS name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'c\\_%' ESCAPE '\\' ORDER BY name`,
    )
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
    return raws.map((raw) => {
      const row = decode(raw)
      // Exact id and sort value, for the page cursor: see sqlite-text.ts.
      if (raw.id_bytes != null) row.id = decodeWtf8(raw.id_bytes)
      return { ...row, sortValue: exactSortValue(raw.sort_value, query.orderBy.field, row) }
    })
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
      statement.run(
        change.collection,
        change.id,
        change.op,
        change.version,
        change.role,
        change.at,
        change.data === undefined ? null : this.#json(change.data),
      )
    } catch (error) {
      throw this.#failed(error, change.collection, change.id)
    }
  }

  async trimChanges(retention: ChangeRetention, now: number): Promise<number> {
    const head = (this.connection.statement(CHANGE_HEAD_SQL).get() as { head: number }).head
    const oldest = this.connection.statement(`SELECT seq, at FROM ${CHANGES_TABLE} ORDER BY seq LIMIT 1`).get() as
      { seq: number; at: number } | undefined
    const cutoff = steadyNow(now) - retention.maxAgeMs
    // The log is contiguous, so this cheap look says whether there is anything to trim at all.
    if (oldest === undefined || (head - oldest.seq + 1 <= retention.maxCount && oldest.at >= cutoff)) return 0
    // Trimmed from the oldest end only, so what is left stays contiguous; by age only up to the
    // first young entry, so an entry stamped by a clock that was behind cannot take younger ones
    // before it along. Age is looked at in the oldest 10,000 entries per pass.
    const byAge = this.connection.statement(AGED_THROUGH_SQL).get(cutoff) as { seq: number | null }
    // Never the newest entry: it holds the head, and seqs are rowids (max + 1).
    const through = Math.min(Math.max(head - retention.maxCount, byAge.seq ?? 0), head - 1)
    const previous = Number(
      (this.connection.statement(`SELECT value FROM ${META_TABLE} WHERE key = ?`).get(TRIMMED_THROUGH_KEY) as { value: string } | undefined)
        ?.value ?? 0,
    )
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
  /** The files this process opened, to notice them deleted or replaced (undefined: ':memory:' or a snapshot). */
  readonly #files: StoreFiles | undefined
  #filesCheckedAt = 0
  readonly #filesTimer: NodeJS.Timeout | undefined
  /** Set once the store's files changed under this process: every later call rejects with it. */
  #fault: TandemError | undefined
  readonly #faultListeners: ((error: unknown) => void)[] = []
  /** A read-only copy in memory of a store SQLite could not open in place (see openReadOnly). */
  readonly #snapshot: boolean

  private constructor(config: SqliteConfig, writer: SqliteHandle, reader: SqliteHandle, snapshot = false) {
    this.#config = config
    this.#writer = new Connection(writer)
    this.#reader = reader === writer ? this.#writer : new Connection(reader)
    const shared = config.path !== ':memory:' && !snapshot
    this.#snapshot = snapshot
    this.#turns = shared ? new TurnSignal(config.path) : undefined
    this.#commitSignal = shared ? new CommitSignal(config.path) : undefined
    this.#readTx = new SqliteReader(this.#reader, (attempt) => retryWhileBusy(attempt, config.busyTimeoutMs, this.busyStats, 'read'))
    if (shared) {
      this.#files = new StoreFiles(config.path)
      this.#filesTimer = setInterval(() => this.#checkFilesWhileIdle(), FILES_IDLE_CHECK_MS)
      this.#filesTimer.unref()
    }
  }

  /** Opens (creating if needed) the database file and sets every pragma on each connection. */
  static async open(config: SqliteConfig): Promise<SqliteBackend> {
    const memory = config.path === ':memory:'
    if (config.readOnly === true && !memory) return SqliteBackend.#openReadOnly(config)
    // Refused before SQLite opens it read-only by itself and leaves read-only -wal/-shm files behind.
    const unwritable = memory ? undefined : whyNotWritable(config.path)
    if (unwritable !== undefined) throw unwritable
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

  /**
   * Opens an existing store to read only: one read-only connection, no pragma that writes, no
   * file created beyond the -wal and -shm SQLite itself needs (made writable again for the
   * writers to come). Where SQLite cannot open it in place — a read-only directory or a full disk
   * without those files — and the -wal is missing or empty (the database file then holds every
   * commit, and no writer can be at work), it reads a copy of the file in memory: a snapshot of
   * that moment, up to SNAPSHOT_MAX_BYTES.
   */
  static async #openReadOnly(config: SqliteConfig): Promise<SqliteBackend> {
    let handle: SqliteHandle | undefined
    try {
      handle = openHandle(config.path, true)
      handle.pragma('busy_timeout = 0')
      handle.pragma('trusted_schema = OFF')
      // The first read opens the -wal and -shm (and creates them if they are missing).
      const db = handle
      await retryWhileBusy(() => db.prepare('SELECT count(*) FROM sqlite_schema').get(), config.busyTimeoutMs)
      keepSideFilesWritable(config.path)
      return new SqliteBackend(config, handle, handle)
    } catch (error) {
      handle?.close()
      keepSideFilesWritable(config.path)
      const code = (error as { code?: unknown }).code
      const cannotOpenInPlace = typeof code === 'string' && /^SQLITE_(CANTOPEN|IOERR|READONLY|FULL|PERM)/.test(code)
      if (!cannotOpenInPlace || !walIsEmpty(config.path)) throw translateSqliteError(error)
      const snapshot = SqliteBackend.#readSnapshot(config.path, error)
      return new SqliteBackend(config, snapshot, snapshot, true)
    }
  }

  /** The store file as an in-memory read-only database (see #openReadOnly). */
  static #readSnapshot(path: string, cause: unknown): SqliteHandle {
    const size = statSync(path).size
    if (size > SNAPSHOT_MAX_BYTES) {
      throw new TandemError(
        'READ_ONLY',
        `SQLite cannot open ${path} in place (${(cause as Error).message}): it needs to create its -wal and -shm files beside it, and the directory is read-only or the disk is full. The store is too large (${size} bytes) to read from a copy in memory. Copy it to a writable directory and open the copy, or free some disk space.`,
        { cause, hint: 'Copy the store file to a writable directory and open the copy with readOnly: true.' },
      )
    }
    // Read by a child process: if this process opened the file itself and closed it, every SQLite
    // lock it holds on the file would go (another store of this process may have it open). The
    // header's WAL marks (bytes 18-19) become rollback ones in the copy: an in-memory database
    // has no -wal to look for.
    let bytes: Buffer
    try {
      bytes = execFileSync('cat', ['--', path], { maxBuffer: SNAPSHOT_MAX_BYTES + 1, stdio: ['ignore', 'pipe', 'ignore'] })
    } catch (error) {
      throw new TandemError(
        'READ_ONLY',
        `SQLite cannot open ${path} in place (${(cause as Error).message}), and reading a copy of it failed too (${(error as Error).message}). Copy it to a writable directory and open the copy.`,
        {
          cause,
          hint: 'Copy the store file to a writable directory and open the copy with readOnly: true.',
        },
      )
    }
    if (bytes[18] === 2 && bytes[19] === 2) bytes[18] = bytes[19] = 1
    const snapshot = new Database(bytes, { readonly: true }) as unknown as SqliteHandle
    snapshot.pragma('trusted_schema = OFF')
    return snapshot
  }

  async prepare(collections: readonly CollectionLayout[]): Promise<void> {
    await this.write(async (tx) => {
      const db = this.#writer.handle
      db.exec(`CREATE TABLE IF NOT EXISTS ${META_TABLE} (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT`)
      db.prepare(`INSERT OR IGNORE INTO ${META_TABLE} (key, value) VALUES ('format', ?)`).run(FORMAT_VERSION)
      db.exec(CREATE_CHANGES_SQL)
      refuseCaseAliases(await tx.listCollections(), collections)
      for (const layout of collections) await tx.ensureCollection(layout)
    })
  }

  async write<T>(work: (tx: WriteTx) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    while (this.#writeInProgress !== undefined) await this.#writeInProgress
    if (this.#fault !== undefined) throw this.#fault
    let finish!: () => void
    this.#writeInProgress = new Promise<void>((resolve) => (finish = resolve))
    const begin = this.#writer.statement('BEGIN IMMEDIATE')
    let changed: StoreFileChange[] | undefined
    // BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that reads first and
    // upgrades later fails with SQLITE_BUSY_SNAPSHOT whenever another process committed in
    // between, whatever the busy timeout: no retry can save it.
    try {
      // Another process waits and this one has had its turn: leave the lock free for a moment.
      if (this.#turns?.shouldYield() === true) nap(COURTESY_MS)
      await retryWhileBusy(
        () => begin.run(),
        options.busyTimeoutMs ?? this.#config.busyTimeoutMs,
        this.busyStats,
        'write',
        this.#announceWaiting,
      )
      this.#turns?.acquired()
      const result = await work(new SqliteWriteTx(this.#writer, (attempt) => attempt()))
      // Still the files this process opened? A commit into a deleted -wal would be acknowledged
      // and then lost; one under a replaced -shm could collide with a newcomer's.
      changed = this.#filesChanged()
      if (changed !== undefined) throw changed
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
      if (changed !== undefined) throw markTransactionAborted(await this.#failOnFiles(changed))
      // Errors thrown by `work` itself (DDL, a statement outside the row helpers) leave here translated too.
      const translated = translateSqliteError(error)
      if (translated !== error && isTransactionAborted(error)) markTransactionAborted(translated)
      throw translated
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
    if (this.#fault !== undefined) throw this.#fault
    try {
      return await work(this.#readTx)
    } catch (error) {
      throw translateSqliteError(error)
    }
  }

  async readChanges(cursor: number, limit: number, filter?: ChangeFilter): Promise<ChangeBatch> {
    while (this.#reader === this.#writer && this.#writeInProgress !== undefined) await this.#writeInProgress
    if (this.#fault !== undefined) throw this.#fault
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
    // ':memory:' has one process, whose own commit hook is enough; a snapshot never changes.
    if (this.#config.path === ':memory:' || this.#snapshot) return () => {}
    // A prepared statement: pragma() would prepare one on every look.
    const dataVersion = this.#reader.statement('PRAGMA data_version')
    return watchWal(
      `${this.#config.path}-wal`,
      () => (dataVersion.get() as { data_version: number }).data_version,
      onCommit,
      commitSignalPath(this.#config.path),
    )
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
    if (this.#snapshot)
      return { location: `${path} (read-only copy in memory, as of opening)`, bytes: statSync(path, { throwIfNoEntry: false })?.size ?? 0 }
    // stat only: opening these files with fs would drop SQLite's locks when closed.
    const size = (p: string) => statSync(p, { throwIfNoEntry: false })?.size ?? 0
    return { location: path, bytes: size(path), walBytes: size(`${path}-wal`), walLimitBytes: this.#config.walCheckpointBytes }
  }

  /** The pragmas in force on each connection (writer first), for doctor and tests. */
  pragmas(): Record<string, unknown>[] {
    const names = [
      'journal_mode',
      'synchronous',
      'foreign_keys',
      'journal_size_limit',
      'wal_autocheckpoint',
      'busy_timeout',
      'trusted_schema',
    ]
    const connections = this.#reader === this.#writer ? [this.#writer] : [this.#writer, this.#reader]
    return connections.map((c) => Object.fromEntries(names.map((name) => [name, c.handle.pragma(name, { simple: true })])))
  }

  writeLockRecord(): { dev: number; ino: number; start: number } | undefined {
    return this.#files?.writeLockRecord()
  }

  onFault(listener: (error: unknown) => void): void {
    this.#faultListeners.push(listener)
  }

  async close(): Promise<void> {
    clearInterval(this.#filesTimer)
    while (this.#writeInProgress !== undefined) await this.#writeInProgress
    if (this.#reader !== this.#writer) this.#reader.handle.close()
    this.#writer.handle.close()
    this.#turns?.close()
    this.#commitSignal?.close()
  }

  /** Before a commit: the store's files deleted or replaced since open, looked at most every FILES_CHECK_EVERY_MS. */
  #filesChanged(): StoreFileChange[] | undefined {
    if (this.#files === undefined) return undefined
    const now = performance.now()
    if (now - this.#filesCheckedAt < FILES_CHECK_EVERY_MS) return undefined
    this.#filesCheckedAt = now
    return this.#files.changes()
  }

  /** The idle check (a timer): a process that does not write must notice too, and save its -wal. */
  #checkFilesWhileIdle(): void {
    if (this.#fault !== undefined || this.#writeInProgress !== undefined || this.#files === undefined) return
    if (performance.now() - this.#filesCheckedAt < FILES_IDLE_CHECK_MS / 2) return
    this.#filesCheckedAt = performance.now()
    const changed = this.#files.changes()
    if (changed === undefined) return
    // Writes wait while the -wal is rescued, then find the fault.
    let finish!: () => void
    this.#writeInProgress = new Promise<void>((resolve) => (finish = resolve))
    void this.#failOnFiles(changed).finally(() => {
      this.#writeInProgress = undefined
      finish()
    })
  }

  /**
   * The store's files changed under this process (no write transaction open): if only the -wal
   * went (the -shm, which carries the locks every process shares, is intact), copy what it held
   * into the database file — this process still has the deleted file open, and a checkpoint
   * through it is the one way to keep the commits only it holds. Then refuse everything from now
   * on, and tell the listeners.
   */
  async #failOnFiles(changed: StoreFileChange[]): Promise<TandemError> {
    if (this.#fault !== undefined) return this.#fault
    let rescue: string
    if (locksStillShared(changed)) {
      rescue = await this.#rescueWal(walReplaced(changed))
    } else if (changed.some((c) => c.file === 'database')) {
      rescue = 'This process was still using the old file, so what it wrote since is not in the new one.'
    } else {
      rescue =
        "The -shm holds the locks every process shares: processes that open the store from now on get a new one, and their writes could collide with this process's."
    }
    this.#fault = storeFilesChanged(this.#config.path, changed, rescue)
    for (const listener of this.#faultListeners) queueMicrotask(() => listener(this.#fault))
    return this.#fault
  }

  /**
   * Only the -wal changed: copies what the old one held into the database file if it was deleted
   * and this process may write (not if it was replaced, see walReplaced; a read-only connection
   * cannot checkpoint). Says what became of the commits.
   */
  async #rescueWal(replaced: boolean): Promise<string> {
    const survive = 'they survive only while a process that had the store open before closes it normally — do not kill them.'
    if (replaced) return `Its commits were not copied into the store file (copying them now could mix them with the new -wal): ${survive}`
    if (this.#config.readOnly === true)
      return 'This process opened the store read-only: it wrote none of the commits the -wal held and cannot copy them into the store file; the processes that wrote them do so when they notice.'
    const outcome = await this.#checkpointWal()
    if (outcome === 'copied') return 'The commits it held were copied into the store file first, so none is lost.'
    const why = outcome === 'busy' ? 'other processes kept it busy' : outcome.message
    return `Its commits could not be copied into the store file (${why}): ${survive}`
  }

  /** A TRUNCATE checkpoint, retried while other processes hold the locks it needs: 'copied' when the whole WAL went into the database file, else 'busy' or the error. */
  async #checkpointWal(): Promise<'copied' | 'busy' | Error> {
    const until = performance.now() + RESCUE_WITHIN_MS
    for (;;) {
      try {
        const [row] = this.#writer.handle.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[]
        if (row?.busy === 0) return 'copied'
      } catch (error) {
        if (!isBusy(error)) return error instanceof Error ? error : new Error(String(error))
      }
      if (performance.now() >= until) return 'busy'
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
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

function openHandle(path: string, readOnly = false): SqliteHandle {
  return new Database(path, readOnly ? { readonly: true, fileMustExist: true } : {}) as unknown as SqliteHandle
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

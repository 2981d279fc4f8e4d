import { statSync } from 'node:fs'
import {
  DEFAULT_CAPABILITIES,
  READ_LATER,
  isTransactionAborted,
  markTransactionAborted,
  type Backend,
  type BackendCapabilities,
  type ChangeBatch,
  type ChangeFilter,
  type CollectionLayout,
  type Query,
  type ReadNowTx,
  type ReadSnapshot,
  type ReadTx,
  type StorageInfo,
  type StorageSizes,
  type ReclaimReport,
  type WriteOptions,
  type WriteTx,
} from '../backend.js'
import { refuseCaseAliases } from '../collection-names.js'
import { auditWrites, type WriteAudit } from './sqlite-audit.js'
import { readChangeBatch, readChangeHead } from './sqlite-changes.js'
import { readSqliteSizes } from './sqlite-sizes.js'
import { autoVacuumMode, databaseBytes, reclaimStep } from './sqlite-reclaim.js'
import type { SqliteConfig, SqliteHandle } from './sqlite-config.js'
import { configure, configureReader, openHandle, openReadOnlyHandle } from './sqlite-connection.js'
import { isBusy, translateSqliteError } from './sqlite-errors.js'
import { SqliteFileGuard, FILES_IDLE_CHECK_MS } from './sqlite-file-guard.js'
import { whyNotWritable, type StoreFileChange } from './sqlite-files.js'
import { COURTESY_MS, TurnSignal, nap, retryWhileBusy, type BusyRetryStats } from './sqlite-locks.js'
import { SqliteConnection } from './sqlite-prepared.js'
import { SqliteReadCache } from './sqlite-read-cache.js'
import { SqliteReader } from './sqlite-reader.js'
import { openSqliteSnapshot } from './sqlite-snapshot.js'
import { ADD_DELTA_COLUMN_SQL, CREATE_CHANGES_SQL, FORMAT_VERSION, META_TABLE, findSql } from './sqlite-sql.js'
import { SqliteWriteTx } from './sqlite-transaction.js'
import { CommitSignal, commitSignalPath, watchWal } from './sqlite-wake.js'

/** How many commits between two looks at the WAL size (a stat: a couple of microseconds). */
const CHECKPOINT_CHECK_EVERY = 16
/**
 * The embedded SQLite backend. One writer connection (all writes of this process, in
 * BEGIN IMMEDIATE transactions) and one reader connection, so reads never see a transaction this
 * process has open. Locks between processes are SQLite's own; waiting for them is done
 * asynchronously (busy_timeout 0 plus jittered retries), never by sleeping the event loop.
 *
 * Its state is two independent things, not one machine: whether a write holds the writer
 * connection (#writeInProgress: the transactions of this process take turns on it, and the rescue
 * of a deleted -wal holds it too), and, once the store's files changed under it, the fault every
 * later call rejects with (SqliteFileGuard: unset, then set for good).
 */
export class SqliteBackend implements Backend {
  readonly kind = 'sqlite' as const
  readonly capabilities: BackendCapabilities = Object.freeze({ ...DEFAULT_CAPABILITIES, transactionalDdl: true, fileBackup: true })
  /** Lock-contention counters for this process, for status and benchmarks. */
  readonly busyStats: BusyRetryStats = { retries: 0, longestWaitMs: 0 }

  readonly #config: SqliteConfig
  readonly #writer: SqliteConnection
  readonly #reader: SqliteConnection
  readonly #readTx: SqliteReader
  /** Resolves when the write transaction in progress ends; writes on one connection take turns. */
  #writeInProgress: Promise<void> | undefined
  #commitsSinceCheckpointCheck = 0
  /** Turn-taking with other processes (undefined for ':memory:', which has no others). */
  readonly #turns: TurnSignal | undefined
  /** Tells other processes' change readers that a commit is visible (see CommitSignal). */
  readonly #commitSignal: CommitSignal | undefined
  /** Notices the files this process opened deleted or replaced, and holds the fault (undefined: ':memory:' or a snapshot). */
  readonly #guard: SqliteFileGuard | undefined
  readonly #filesTimer: NodeJS.Timeout | undefined
  /** A read-only copy in memory of a store SQLite could not open in place (see openReadOnlyHandle). */
  readonly #snapshot: boolean

  private constructor(config: SqliteConfig, writer: SqliteHandle, reader: SqliteHandle, snapshot = false) {
    this.#config = config
    this.#writer = new SqliteConnection(writer)
    this.#reader = reader === writer ? this.#writer : new SqliteConnection(reader)
    const shared = config.path !== ':memory:' && !snapshot
    this.#snapshot = snapshot
    this.#turns = shared ? new TurnSignal(config.path) : undefined
    this.#commitSignal = shared ? new CommitSignal(config.path) : undefined
    const cache = SqliteReadCache.forReader(reader, writer, shared, config.readOnly === true)
    this.#readTx = new SqliteReader(this.#reader, (attempt) => retryWhileBusy(attempt, config.busyTimeoutMs, this.busyStats, 'read'), cache)
    if (shared) {
      this.#guard = new SqliteFileGuard(config.path, config.readOnly === true, this.#writer.handle)
      this.#filesTimer = setInterval(() => this.#checkFilesWhileIdle(), FILES_IDLE_CHECK_MS)
      this.#filesTimer.unref()
    }
  }

  /** Opens (creating if needed) the database file and sets every pragma on each connection. */
  static async open(config: SqliteConfig): Promise<SqliteBackend> {
    const memory = config.path === ':memory:'
    if (config.readOnly === true && !memory) {
      // One read-only connection (see openReadOnlyHandle), or a copy in memory.
      const { handle, snapshot } = await openReadOnlyHandle(config)
      return new SqliteBackend(config, handle, handle, snapshot)
    }
    // Refused before SQLite opens it read-only by itself and leaves read-only -wal/-shm files behind.
    const unwritable = memory ? undefined : whyNotWritable(config.path)
    if (unwritable !== undefined) throw unwritable
    const writer = openHandle(config.path)
    try {
      await configure(writer, config, memory)
      const reader = memory ? writer : openHandle(config.path)
      try {
        if (!memory) {
          await configure(reader, config, memory)
          configureReader(reader)
        }
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
      if (!this.#writer.hasDeltaColumn()) db.exec(ADD_DELTA_COLUMN_SQL)
      refuseCaseAliases(await tx.listCollections(), collections)
      for (const layout of collections) await tx.ensureCollection(layout)
    })
  }

  async write<T>(work: (tx: WriteTx) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    while (this.#writeInProgress !== undefined) await this.#writeInProgress
    if (this.#guard?.fault !== undefined) throw this.#guard.fault
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
      changed = this.#guard?.changedBeforeCommit()
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
      if (changed !== undefined) throw markTransactionAborted(await this.#guard!.fail(changed))
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
    if (this.#guard?.fault !== undefined) throw this.#guard.fault
    try {
      return await work(this.#readTx)
    } catch (error) {
      throw translateSqliteError(error)
    }
  }

  /**
   * A read without a promise (see Backend.readNow): on the reader connection, as read() does, but
   * with no busy retry. SQLITE_BUSY (the rare read that meets a WAL being recovered or reset)
   * returns READ_LATER, and read() then waits for it asynchronously.
   */
  readNow<T>(work: (tx: ReadNowTx) => T): T | typeof READ_LATER {
    if (this.#reader === this.#writer && this.#writeInProgress !== undefined) return READ_LATER
    if (this.#guard?.fault !== undefined) throw this.#guard.fault
    try {
      return work(this.#readTx.now)
    } catch (error) {
      if (isBusy(error)) return READ_LATER
      throw translateSqliteError(error)
    }
  }

  async readChanges(cursor: number, limit: number, filter?: ChangeFilter): Promise<ChangeBatch> {
    while (this.#reader === this.#writer && this.#writeInProgress !== undefined) await this.#writeInProgress
    if (this.#guard?.fault !== undefined) throw this.#guard.fault
    return readChangeBatch(this.#reader, cursor, limit, filter, this.#config.busyTimeoutMs, this.busyStats)
  }

  async changeHead(): Promise<number> {
    return this.read(async () => readChangeHead(this.#reader))
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

  /** Records changed without their change-log entry (writes that bypassed docs/protocol.md), for tandem doctor. */
  async auditWrites(limit?: number): Promise<WriteAudit> {
    return this.read(async () => auditWrites(this.#reader, this.#config.busyTimeoutMs, limit))
  }

  /** The database file as opened (undefined for ':memory:'). */
  databaseFile(): string | undefined {
    return this.#config.path === ':memory:' ? undefined : this.#config.path
  }

  /**
   * A read transaction on a connection of its own (see sqlite-snapshot.ts): the store as of this
   * instant for as long as it is open. Undefined for ':memory:', which no other connection can open.
   */
  async openSnapshot(): Promise<ReadSnapshot | undefined> {
    const file = this.databaseFile()
    return file === undefined ? undefined : openSqliteSnapshot(file, this.#config.busyTimeoutMs)
  }

  /**
   * Gives free pages back to the file system: a file in auto_vacuum NONE is first rewritten by one
   * VACUUM (writers wait for it: measured in the report), then incremental_vacuum runs in steps of
   * RECLAIM_STEP_PAGES, each its own write transaction so other writers get turns between them,
   * and a checkpoint lets the file itself shrink.
   */
  async reclaimSpace(): Promise<ReclaimReport> {
    const bytesBefore = await this.read(async () => databaseBytes(this.#reader))
    let longestBlockMs = 0
    let rewritten = false
    let steps = 0
    if ((await this.read(async () => autoVacuumMode(this.#reader))) !== 2) {
      longestBlockMs = await this.#outsideTransaction(() => {
        this.#writer.handle.exec('PRAGMA auto_vacuum = INCREMENTAL')
        const started = performance.now()
        this.#writer.handle.exec('VACUUM')
        return performance.now() - started
      })
      rewritten = true
    }
    for (;;) {
      const started = performance.now()
      const left = await this.write(async () => reclaimStep(this.#writer))
      longestBlockMs = Math.max(longestBlockMs, performance.now() - started)
      steps++
      if (left === 0 || autoVacuumMode(this.#writer) !== 2) break
    }
    await this.#outsideTransaction(() => this.#writer.handle.pragma('wal_checkpoint(TRUNCATE)'))
    const bytesAfter = await this.read(async () => databaseBytes(this.#reader))
    return { bytesBefore, bytesAfter, rewritten, longestBlockMs: Math.round(longestBlockMs * 10) / 10, steps }
  }

  /** Runs `work` on the writer connection outside any transaction (VACUUM, a checkpoint), in this process's write turn. */
  async #outsideTransaction<T>(work: () => T): Promise<T> {
    while (this.#writeInProgress !== undefined) await this.#writeInProgress
    if (this.#guard?.fault !== undefined) throw this.#guard.fault
    let finish!: () => void
    this.#writeInProgress = new Promise<void>((resolve) => (finish = resolve))
    try {
      return await retryWhileBusy(work, this.#config.busyTimeoutMs, this.busyStats, 'write', this.#announceWaiting)
    } catch (error) {
      throw translateSqliteError(error)
    } finally {
      this.#writeInProgress = undefined
      finish()
    }
  }

  async storageSizes(): Promise<StorageSizes> {
    return this.read(async () => readSqliteSizes(this.#reader))
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
    return this.#guard?.writeLockRecord()
  }

  onFault(listener: (error: unknown) => void): void {
    this.#guard?.onFault(listener)
  }

  async close(): Promise<void> {
    clearInterval(this.#filesTimer)
    while (this.#writeInProgress !== undefined) await this.#writeInProgress
    if (this.#reader !== this.#writer) this.#reader.handle.close()
    this.#writer.handle.close()
    this.#turns?.close()
    this.#commitSignal?.close()
  }

  /** The idle check (a timer): a process that does not write must notice too, and save its -wal. */
  #checkFilesWhileIdle(): void {
    if (this.#guard === undefined || this.#guard.fault !== undefined || this.#writeInProgress !== undefined) return
    const changed = this.#guard.changedWhileIdle()
    if (changed === undefined) return
    // Writes wait while the -wal is rescued, then find the fault.
    let finish!: () => void
    this.#writeInProgress = new Promise<void>((resolve) => (finish = resolve))
    void this.#guard.fail(changed).finally(() => {
      this.#writeInProgress = undefined
      finish()
    })
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

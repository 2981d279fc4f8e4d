import type { JsonPatch } from './json-delta.js'
import type { StorageInfo, StorageSizes, ReclaimReport } from './storage-report.js'

/**
 * The one interface every storage engine implements. The store layer (ids, versions, ownership,
 * validation, group commit) sits above it and never branches on `kind`; an engine difference the
 * store must know about becomes a capability flag. See docs/architecture.md.
 */

/** A JSON object as stored: plain objects, arrays, strings, finite numbers, booleans and null. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

/** One record as the backend stores it. Times are milliseconds since the epoch. */
export interface RecordRow {
  id: string
  version: number
  createdAt: number
  updatedAt: number
  role: string
  data: JsonObject
}

/** A scalar a condition compares with. Booleans compare as JSON booleans. */
export type Scalar = string | number | boolean | null

/**
 * Metadata columns. A query may name the first five with a `$` prefix; `createdSeq` is the order
 * the records were inserted in (a number the engine gives out, larger for each insert, whatever
 * the clocks say), which retention uses.
 */
export type MetaField = 'id' | 'version' | 'createdAt' | 'updatedAt' | 'role' | 'createdSeq'

/** A field of a record: a metadata column, or a (possibly nested) path into its data. */
export type FieldRef = { kind: 'meta'; name: MetaField } | { kind: 'data'; path: readonly string[] }

export type Condition =
  | { field: FieldRef; op: 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte'; value: Scalar }
  | { field: FieldRef; op: 'in'; value: readonly Scalar[] }
  | { field: FieldRef; op: 'exists'; value: boolean }

export interface OrderBy {
  field: FieldRef
  direction: 'asc' | 'desc'
}

/**
 * A validated, engine-neutral query. Field paths are checked against `FIELD_SEGMENT` before they
 * reach a backend, so a backend may splice them into SQL; values are always bound as parameters.
 * Ordering is total: ties are broken by id in the same direction. Nulls (and missing fields) sort
 * first in ascending order and last in descending order on every backend.
 */
export interface Query {
  where: readonly Condition[]
  orderBy: OrderBy
  /** Keyset position: rows strictly after (value, id) in the query's order. */
  after?: { value: Scalar; id: string }
  limit?: number
  /**
   * false: the caller needs no FoundRow.sortValue (no page cursor follows), and an engine may
   * leave it null rather than read the sort field for every row.
   */
  sortValues?: false
}

/** A declared collection as the backend needs it: its name and the data fields to index. */
export interface CollectionLayout {
  name: string
  indexes: readonly (readonly string[])[]
}

export type ChangeOp = 'insert' | 'update' | 'delete' | 'trim'

/**
 * One entry of the change log, appended in the same transaction as the write it describes: it is
 * visible if and only if that write committed. `seq` grows with commit order.
 */
export interface ChangeRow {
  seq: number
  collection: string
  id: string
  op: ChangeOp
  /** The record's version after the write; for a delete or trim, the last version it had. */
  version: number
  role: string
  /** Milliseconds since the epoch. */
  at: number
  /**
   * The data: the log's copy of the write (the last data for delete/trim) when the collection keeps
   * history: 'full'; else, as a read fills it in, the record's current data (see change-data.ts).
   * Absent for a delete or trim without a copy, and for a record gone since.
   */
  data?: JsonObject
  /**
   * history: { keep: 'diff' }: the JSON Patch that turns this write's data back into the data it
   * replaced (a reverse delta; an empty one for an insert). Written by the store, read by the
   * backend to rebuild each entry's data (change-history.ts), never handed to subscribers.
   */
  delta?: JsonPatch
  /** The version `data` is of, set by a read whenever `data` is. */
  dataVersion?: number
  /** Set by a read when the record was written again or deleted since this change: `data` is newer, or absent. */
  superseded?: true
}

export interface ChangeFilter {
  collections?: readonly string[]
  ids?: readonly string[]
}

/** What one read of the change log found. */
export interface ChangeBatch {
  /** Matching changes with seq > the cursor, in seq order. */
  changes: ChangeRow[]
  /**
   * Every change with seq <= this has been looked at (matching or not): a reader may move its
   * cursor here even when `changes` is empty, so filters never pin it behind retention.
   */
  scannedThrough: number
  /** Changes with seq <= this were trimmed by retention and cannot be read any more. */
  trimmedThrough: number
}

export interface ChangeRetention {
  /** Keep at most this many changes. */
  maxCount: number
  /** Drop changes older than this. */
  maxAgeMs: number
  /** Collections whose history is bounded: their older history entries go (see change-history.ts). */
  history?: readonly HistoryLimit[]
}

/**
 * A collection's bound on the history its change-log entries keep: past versions of a record beyond
 * the newest `maxCount`, and those written more than `maxAgeMs` ago, are removed when the log is
 * trimmed. A record's latest entry always stays.
 */
export interface HistoryLimit {
  collection: string
  maxCount?: number | undefined
  maxAgeMs?: number | undefined
}

/** A row `find` returned, with the value it was sorted by (what a page cursor remembers). */
export interface FoundRow extends RecordRow {
  sortValue: Scalar
}

/** Reads; outside a write transaction each call sees the latest committed state. */
export interface ReadTx {
  /** Names of the collections that have storage (tables) in this store, internal ones included. */
  listCollections(): Promise<string[]>
  get(collection: string, id: string): Promise<RecordRow | undefined>
  find(collection: string, query: Query): Promise<FoundRow[]>
  count(collection: string, where: readonly Condition[]): Promise<number>
}

/**
 * The reads an engine can answer synchronously, on the latest committed state (see
 * Backend.readNow): the same results and errors as ReadTx's, without a promise.
 */
export interface ReadNowTx {
  get(collection: string, id: string): RecordRow | undefined
  find(collection: string, query: Query): FoundRow[]
}

/** What Backend.readNow returns when it cannot read at once: the caller uses read() instead. */
export const READ_LATER: unique symbol = Symbol('tandemdb.readLater')

/**
 * A write transaction. `get` inside it reads the latest committed state and, on engines with row
 * locks, locks the row until commit, so a read-modify-write cannot lose a concurrent update.
 */
export interface WriteTx extends ReadTx {
  // The four row writes may complete synchronously (an embedded engine) or return a promise; the
  // store awaits them either way. Synchronous completion saves a promise per write on the hot path.
  /** Fails with DUPLICATE_ID when the id exists. */
  insert(collection: string, row: RecordRow): Promise<void> | void
  /** Overwrites the row with this id; the caller has checked the version. */
  update(collection: string, row: RecordRow): Promise<void> | void
  delete(collection: string, id: string): Promise<void> | void
  /**
   * Runs `work` inside a savepoint: if it throws, its writes are undone and the error rethrown,
   * while the enclosing transaction stays usable. If the engine aborted the whole transaction
   * (disk full, I/O error) the error is rethrown with `transactionAborted` set, see `isTransactionAborted`.
   */
  savepoint<T>(work: () => Promise<T>, options?: SavepointOptions): Promise<T>
  /** Creates the collection's storage and indexes if missing (transactional where the engine allows). */
  ensureCollection(layout: CollectionLayout): Promise<void>
  /** Drops the index on a data field, if it exists. */
  dropIndex(collection: string, path: readonly string[]): Promise<void>
  /** Drops the collection's storage and every record in it. */
  dropCollection(collection: string): Promise<void>
  /**
   * Takes an exclusive lock named `key`, across processes, held until this transaction ends.
   * (SQLite: a no-op, the write transaction already excludes every other writer. PostgreSQL:
   * pg_advisory_xact_lock.) Used so that migrations run exactly once.
   */
  lock(key: string): Promise<void>
  /** Appends to the change log, in this transaction (synchronously or not, as the row writes). */
  appendChange(change: Omit<ChangeRow, 'seq'>): Promise<void> | void
  /** Drops changes beyond the retention limits and records how far the log is trimmed. */
  trimChanges(retention: ChangeRetention, now: number): Promise<number>
}

export interface BackendCapabilities {
  /** DDL (CREATE TABLE/INDEX) commits or rolls back with the transaction it ran in. */
  transactionalDdl: boolean
  /** The engine pushes a wake-up to other processes on commit (e.g. LISTEN/NOTIFY). */
  pushNotify: boolean
  /** Row-level locks: writers of different records can commit in parallel. */
  rowLocks: boolean
  /**
   * The write transaction accepts several atomic jobs started together, without awaiting each,
   * and may combine their statements (PostgreSQL: one multi-row INSERT for a batch's inserts).
   */
  concurrentAtomicWrites: boolean
  /**
   * The store is one database file that the engine can copy online, consistently, into another
   * (SQLite: VACUUM INTO): backupStore writes such a file, checked page by page, where other
   * engines get an NDJSON export. Optional (absent: false), so a backend written before it still
   * type-checks.
   */
  fileBackup?: boolean
}

export const DEFAULT_CAPABILITIES: BackendCapabilities = Object.freeze({
  transactionalDdl: false,
  pushNotify: false,
  rowLocks: false,
  concurrentAtomicWrites: false,
  fileBackup: false,
})

export interface WriteOptions {
  /** Give up waiting for other processes' locks after this long (BUSY_TIMEOUT). */
  busyTimeoutMs?: number
}

export type { StorageInfo, StorageSizes, ReclaimReport } from './storage-report.js'
export { amplificationOf } from './storage-report.js'

/** The whole store as of one instant, read a page at a time (see Backend.openSnapshot). */
export interface ReadSnapshot {
  /** Names of the collections that have storage, internal ones included. */
  collections(): Promise<string[]>
  /** Up to `limit` records of `collection` with id > `after` ('' for the first page), in id order. */
  page(collection: string, after: string, limit: number): Promise<RecordRow[]>
  /** Ends the read transaction and releases its connection. Safe to call twice. */
  close(): void
}

export interface Backend {
  readonly kind: 'sqlite' | 'postgres' | 'files'
  readonly capabilities: BackendCapabilities
  /** Lock contention seen by this process: retries on busy locks, and the longest wait (ms). */
  readonly busyStats?: { retries: number; longestWaitMs: number }
  /** Creates tables and indexes for these collections if missing. Safe to race from many processes. */
  prepare(collections: readonly CollectionLayout[]): Promise<void>
  /**
   * Runs `work` in one write transaction that commits when it resolves and rolls back when it
   * throws. An engine may run `work` again after a transient conflict (a deadlock), so `work`
   * must only act through `tx`.
   */
  write<T>(work: (tx: WriteTx) => Promise<T>, options?: WriteOptions): Promise<T>
  /** Runs `work` against the latest committed state, never against another caller's open transaction. */
  read<T>(work: (tx: ReadTx) => Promise<T>): Promise<T>
  /**
   * Runs `work` synchronously against the latest committed state, as read() would, or returns
   * READ_LATER without running it when it cannot now (a lock to wait for, a write of this process
   * holding the only connection); errors are thrown translated, as read() rejects with them.
   * Optional: an engine that does I/O asynchronously (PostgreSQL, files) leaves it out. It saves
   * the promise hops of read() on the hottest reads (get, find) of an embedded engine.
   */
  readNow?<T>(work: (tx: ReadNowTx) => T): T | typeof READ_LATER
  /** Changes after `cursor` matching `filter`, at most `limit`, from one consistent snapshot. */
  readChanges(cursor: number, limit: number, filter?: ChangeFilter): Promise<ChangeBatch>
  /** The seq of the last committed change (0 when none). */
  changeHead(): Promise<number>
  /**
   * Calls `onCommit` soon after any process commits a change to the store, until the returned function is
   * called. May call it spuriously; must not miss a commit for longer than its fallback interval.
   */
  watchCommits(onCommit: () => void): () => void
  /** Location and sizes (optional: engines that cannot tell leave it out). */
  storageInfo?(): Promise<StorageInfo>
  /** Where the store's bytes go (optional; reads every record and log entry: for status, not hot paths). */
  storageSizes?(): Promise<StorageSizes>
  /**
   * Gives the space the store no longer uses back to the file system (SQLite: incremental vacuum in
   * small transactions, after a one-time VACUUM for a file in auto_vacuum NONE) or to reuse
   * (PostgreSQL: VACUUM of the store's tables, not FULL). Optional.
   */
  reclaimSpace?(): Promise<ReclaimReport>
  /** The engine's own consistency check: ['ok'] when sound, else one line per problem (optional). */
  checkIntegrity?(): Promise<string[]>
  /**
   * The file the engine keeps the store in, as it was opened (optional: undefined, or no such
   * method, when the store is not in one file: in memory, or on a server).
   */
  databaseFile?(): string | undefined
  /**
   * Opens a read of the whole store as of this instant, on a connection of its own, that other
   * processes' writes do not disturb however long it lasts (optional: undefined, or no such method,
   * when the engine cannot; then each read sees the latest commit).
   */
  openSnapshot?(): Promise<ReadSnapshot | undefined>
  /**
   * Where the engine's write lock lives when it is a POSIX record lock (SQLite in WAL mode: byte
   * 120 of the -shm file), so the store can tell who holds it (on Linux, from /proc/locks) when a
   * BUSY_TIMEOUT waited for it. Undefined when it is not one (optional).
   */
  writeLockRecord?(): { dev: number; ino: number; start: number } | undefined
  /**
   * Calls `listener` once if the backend stops working by itself because something outside it
   * broke its files (SQLite: its -wal, -shm or database file deleted or replaced), with the error
   * every later call now rejects with (optional: engines without such files never call it).
   */
  onFault?(listener: (error: unknown) => void): void
  close(): Promise<void>
}

/** Options of `WriteTx.savepoint`. */
export interface SavepointOptions {
  /**
   * The savepoint holds one write of a group-commit batch, not a nested transaction of the caller:
   * the engine may fail it with an error marked `isRetryInNextBatch` (it would have waited for a
   * lock out of the global lock order, or was cancelled by a deadlock), and the write queue then
   * runs it again, first in the next batch.
   */
  batchJob?: boolean
}

const NEXT_BATCH = Symbol.for('tandemdb.retryInNextBatch')

/** Marks an error as "undone alone; run this write again in the next batch" (see SavepointOptions). */
export function markRetryInNextBatch<E>(error: E): E {
  if (typeof error === 'object' && error !== null) Object.defineProperty(error, NEXT_BATCH, { value: true, configurable: true })
  return error
}

export function isRetryInNextBatch(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[NEXT_BATCH] === true
}

const ABORTED = Symbol.for('tandemdb.transactionAborted')

/** Marks an error as having destroyed the whole transaction, not just its savepoint. */
export function markTransactionAborted(error: unknown): unknown {
  if (typeof error === 'object' && error !== null) Object.defineProperty(error, ABORTED, { value: true })
  return error
}

export function isTransactionAborted(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[ABORTED] === true
}

/**
 * The few better-sqlite3 methods the backend calls, so its code does not depend on the driver's
 * types. The backend opens its connections itself (sqlite-connection.ts): no handle is handed in.
 */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint }
  get(...params: unknown[]): unknown
  all(...params: unknown[]): unknown[]
  /** Rows as arrays of column values instead of objects (cheaper to build, for the hot reads). */
  raw(toggle?: boolean): SqliteStatement
  /** Only the first column's value. */
  pluck(toggle?: boolean): SqliteStatement
}

export interface SqliteHandle {
  prepare(sql: string): SqliteStatement
  exec(sql: string): unknown
  pragma(source: string, options?: { simple?: boolean }): unknown
  close(): unknown
  readonly inTransaction: boolean
}

export type Durability = 'normal' | 'full'

export interface SqliteConfig {
  /** The database file, or ':memory:' (one process only, for tests). */
  path: string
  /**
   * 'normal' (default): a commit survives any process crash; a power cut may lose the last
   * commits but never corrupts the file. 'full': also survives a power cut (fsync on every commit).
   */
  durability: Durability
  /** How long a write waits for other processes' locks before BUSY_TIMEOUT. */
  busyTimeoutMs: number
  /** The WAL file is cut back to this size when it restarts (PRAGMA journal_size_limit). */
  journalSizeLimitBytes: number
  /** When the WAL grows past this, the writer runs a RESTART checkpoint (if no reader blocks it). */
  walCheckpointBytes: number
  /** Read only: one read-only connection, nothing written or created (see SqliteBackend.open). */
  readOnly?: boolean
}

/**
 * Small on purpose: with writers that never pause, SQLite's passive checkpoints never catch up and
 * the WAL grows; a RESTART checkpoint of a few megabytes holds the lock for a few milliseconds,
 * one of hundreds of megabytes for a hundred (measured in bench/contention.mjs).
 */
export const DEFAULT_WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024
/**
 * When the WAL restarts, SQLite cuts the file back to this size, no further: the next commits
 * reuse its blocks instead of growing a file truncated to zero (which cost 20-40% of the
 * group-commit insert rate and 5-20% of single updates, measured against TRUNCATE checkpoints).
 */
export const DEFAULT_JOURNAL_SIZE_LIMIT_BYTES = DEFAULT_WAL_CHECKPOINT_BYTES

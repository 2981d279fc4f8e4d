import type { SqliteHandle, SqliteStatement } from './sqlite-config.js'

/**
 * The reader's cache of record rows read by id (issue #22): a get of a record read before skips
 * the table when nothing at all was committed since, by any connection of any process.
 *
 * Why it is never stale: before each lookup it asks the reader connection for
 * `PRAGMA data_version`, which SQLite changes whenever another connection commits (the writer
 * connection of this process included; the reader itself never writes). That question opens a
 * read of the latest commit, so a write another process acknowledged before the get started is
 * seen. A different version empties the cache. A row is kept only after the version check that
 * precedes its read: if a commit lands between the two, the row is newer than the version it is
 * filed under, and the next check, seeing a new version, drops it (never the other way round).
 *
 * The cache keeps the row as SQLite returned it (the data as JSON text), so every get builds and
 * parses a record of its own: a caller changing a record it got changes nobody else's.
 */

/** The default budget: the data's JSON text, plus ENTRY_OVERHEAD_BYTES per record. */
export const DEFAULT_READ_CACHE_BYTES = 32 * 1024 * 1024
/** What a kept row costs beside its data: the array, the id, the map entry (estimated). */
const ENTRY_OVERHEAD_BYTES = 160

/** A row of the `get` statement in array form: id, version, created_at, updated_at, role, data. */
export type CachedRow = [string, number, number, number, string, string]

export class SqliteReadCache {
  readonly #dataVersion: SqliteStatement
  readonly #maxBytes: number
  #version: unknown = undefined
  #bytes = 0
  readonly #collections = new Map<string, Map<string, CachedRow>>()

  /**
   * The cache of a backend's reader, when it can have one: a reader connection that never writes,
   * whose data_version then changes with every commit this process's writer makes too (with
   * ':memory:' they are one connection), on a shared file. Its statement is its own: watchCommits
   * reads the same pragma as objects.
   */
  static forReader(reader: SqliteHandle, writer: SqliteHandle, shared: boolean, readOnly: boolean): SqliteReadCache | undefined {
    return shared && (reader !== writer || readOnly) ? new SqliteReadCache(reader.prepare('PRAGMA data_version').pluck(true)) : undefined
  }

  /** `dataVersion` is `PRAGMA data_version` prepared on the reader connection, plucked. */
  constructor(dataVersion: SqliteStatement, maxBytes = DEFAULT_READ_CACHE_BYTES) {
    this.#dataVersion = dataVersion
    this.#maxBytes = maxBytes
  }

  /**
   * Asks SQLite whether anything was committed since the last look, and forgets every row if so.
   * Call it before each lookup, and before the read of a row that will be kept.
   */
  check(): void {
    const version = this.#dataVersion.get()
    if (version !== this.#version) {
      this.#version = version
      this.clear()
    }
  }

  lookup(collection: string, id: string): CachedRow | undefined {
    return this.#collections.get(collection)?.get(id)
  }

  /**
   * Keeps the row read by `id` after the last check(), dropping the oldest ones past the budget.
   * Filed under the id asked for, not the one the driver returned (which differs for a legacy id
   * holding a lone surrogate's bytes, see sqlite-text.ts).
   */
  keep(collection: string, id: string, row: CachedRow): void {
    const size = row[5].length + ENTRY_OVERHEAD_BYTES
    if (size > this.#maxBytes / 16) return
    let rows = this.#collections.get(collection)
    if (rows === undefined) this.#collections.set(collection, (rows = new Map()))
    rows.set(id, row)
    this.#bytes += size
    if (this.#bytes > this.#maxBytes) this.#evict()
  }

  clear(): void {
    if (this.#bytes === 0) return
    this.#collections.clear()
    this.#bytes = 0
  }

  /** Oldest first (a Map iterates in insertion order), down to three quarters of the budget. */
  #evict(): void {
    const target = (this.#maxBytes * 3) / 4
    for (const rows of this.#collections.values()) {
      for (const [id, row] of rows) {
        rows.delete(id)
        this.#bytes -= row[5].length + ENTRY_OVERHEAD_BYTES
        if (this.#bytes <= target) return
      }
    }
  }
}

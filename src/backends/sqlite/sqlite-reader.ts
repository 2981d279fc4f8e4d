import type { Condition, FoundRow, JsonObject, Query, ReadNowTx, ReadTx, RecordRow, Scalar } from '../backend.js'
import type { SqliteConnection } from './sqlite-prepared.js'
import type { CachedRow, SqliteReadCache } from './sqlite-read-cache.js'
import { LIST_COLLECTIONS_SQL, countSql, findSql } from './sqlite-sql.js'
import { decodeWtf8, exactSortValue } from './sqlite-text.js'

/** Reads of the SQLite backend: the ones every transaction offers (the twin of postgres-reader.ts). */

/** A record row as SQLite returns it (also read by the export snapshot, see sqlite-snapshot.ts). */
export interface RawRow {
  id: string
  version: number
  created_at: number
  updated_at: number
  role: string
  data: string
}

/**
 * A row of `find` as an array: the record's columns (ROW_COLUMNS), the id's bytes when it is not
 * ASCII (see ID_BYTES in sqlite-query.ts), then the sort value when the query reads it.
 */
type FoundArray = [string, number, number, number, string, string, Uint8Array | null, Scalar?]

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

function decodeArray(row: CachedRow): RecordRow {
  return { id: row[0], version: row[1], createdAt: row[2], updatedAt: row[3], role: row[4], data: JSON.parse(row[5]) as JsonObject }
}

/**
 * Reads on one connection; `run` says how a statement is run (outside a write: retried while the
 * file is busy, each call its own snapshot of the latest commit; inside one: at once). The reads
 * themselves are synchronous (`getNow`, `findNow`: Backend.readNow runs them without a promise);
 * `cache`, given to the reader connection only, serves gets of rows read before when nothing was
 * committed since (see sqlite-read-cache.ts).
 */
export class SqliteReader implements ReadTx {
  constructor(
    protected readonly connection: SqliteConnection,
    protected readonly run: <T>(attempt: () => T) => Promise<T> | T,
    private readonly cache?: SqliteReadCache,
  ) {}

  #now: ReadNowTx | undefined

  /** The same reads, synchronous (for Backend.readNow). */
  get now(): ReadNowTx {
    return (this.#now ??= {
      get: (collection, id) => this.getNow(collection, id),
      find: (collection, query) => this.findNow(collection, query),
    })
  }

  async listCollections(): Promise<string[]> {
    const statement = this.connection.statement(LIST_COLLECTIONS_SQL)
    return ((await this.run(() => statement.all())) as { name: string }[]).map((r) => r.name)
  }

  async get(collection: string, id: string): Promise<RecordRow | undefined> {
    return this.run(() => this.getNow(collection, id))
  }

  getNow(collection: string, id: string): RecordRow | undefined {
    const statement = this.connection.rawGet(collection)
    const cache = this.cache
    if (cache === undefined) {
      const row = statement.get(id) as CachedRow | undefined
      return row === undefined ? undefined : decodeArray(row)
    }
    // The version check first, then the read: see SqliteReadCache.
    cache.check()
    let row = cache.lookup(collection, id)
    if (row === undefined) {
      row = statement.get(id) as CachedRow | undefined
      if (row === undefined) return undefined
      cache.keep(collection, id, row)
    }
    return decodeArray(row)
  }

  async find(collection: string, query: Query): Promise<FoundRow[]> {
    return this.run(() => this.findNow(collection, query))
  }

  findNow(collection: string, query: Query): FoundRow[] {
    const { sql, params } = findSql(collection, query)
    const rows = this.connection.rawStatement(sql).all(...params) as FoundArray[]
    const field = query.orderBy.field
    const found: FoundRow[] = new Array<FoundRow>(rows.length)
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!
      // Exact id and sort value, for the page cursor: see sqlite-text.ts.
      const row: FoundRow = {
        id: r[6] === null ? r[0] : decodeWtf8(r[6]),
        version: r[1],
        createdAt: r[2],
        updatedAt: r[3],
        role: r[4],
        data: JSON.parse(r[5]) as JsonObject,
        sortValue: null,
      }
      row.sortValue = exactSortValue(r[7], field, row)
      found[i] = row
    }
    return found
  }

  async count(collection: string, where: readonly Condition[]): Promise<number> {
    const { sql, params } = countSql(collection, where)
    const statement = this.connection.statement(sql)
    return ((await this.run(() => statement.get(...params))) as { n: number }).n
  }
}

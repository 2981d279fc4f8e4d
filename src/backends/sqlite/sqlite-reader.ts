import type { Condition, FoundRow, JsonObject, Query, ReadTx, RecordRow, Scalar } from '../backend.js'
import type { SqliteConnection } from './sqlite-prepared.js'
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
  sort_value?: Scalar
  /** The id's bytes when it is not ASCII (find only; see ID_BYTES). */
  id_bytes?: Uint8Array | null
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

/**
 * Reads on one connection; `run` says how a statement is run (outside a write: retried while the
 * file is busy, each call its own snapshot of the latest commit; inside one: at once).
 */
export class SqliteReader implements ReadTx {
  constructor(
    protected readonly connection: SqliteConnection,
    protected readonly run: <T>(attempt: () => T) => Promise<T> | T,
  ) {}

  async listCollections(): Promise<string[]> {
    const statement = this.connection.statement(LIST_COLLECTIONS_SQL)
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

import type { Condition, FoundRow, JsonObject, Query, ReadTx, RecordRow, Scalar } from '../backend.js'
import type { PostgresQuery, PostgresResult } from './postgres-config.js'
import type { ErrorContext } from './postgres-errors.js'
import type { PostgresSql } from './postgres-sql.js'

/** Reads of the PostgreSQL backend: the ones every transaction offers, and the pool's, outside writes. */

export interface RawRow {
  id: string
  version: number
  created_at: number
  updated_at: number
  role: string
  data: JsonObject
  /** find ordered by a metadata column other than id */
  sort_value?: string | number
  /** find ordered by a data field: its sort key (see dataKey) */
  sort_class?: number
  sort_number?: string
  sort_text?: string
}

export function decode(raw: RawRow): RecordRow {
  return { id: raw.id, version: raw.version, createdAt: raw.created_at, updatedAt: raw.updated_at, role: raw.role, data: raw.data }
}

/** The value a page cursor remembers: the same scalar SQLite's json_extract would give (booleans as 1/0). */
export function sortValueOf(raw: RawRow): Scalar {
  if (raw.sort_value !== undefined) return raw.sort_value
  // Neither: ordered by id (see compileFind).
  if (raw.sort_class === undefined) return raw.id
  if (raw.sort_class === 1) return Number(raw.sort_number)
  if (raw.sort_class === 2) return raw.sort_text ?? ''
  return null
}

/** The reads every transaction offers; `run` says where the statements go. */
export abstract class PostgresReadOps implements ReadTx {
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
    // One object per row, built from the driver's.
    const found = new Array<FoundRow>(raws.length)
    for (let i = 0; i < raws.length; i++) {
      const raw = raws[i]!
      found[i] = {
        id: raw.id,
        version: raw.version,
        createdAt: raw.created_at,
        updatedAt: raw.updated_at,
        role: raw.role,
        data: raw.data,
        sortValue: sortValueOf(raw),
      }
    }
    return found
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

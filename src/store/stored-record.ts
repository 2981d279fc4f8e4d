import type { FoundRow, RecordRow } from '../backends/backend.js'
import type { AnyData } from './config.js'
import { encodeCursor } from './query.js'
import { isoTime } from './iso-time.js'

/** Records as a collection hands them out, built once from the rows a backend read. */

/** A record as every process reads it back. */
export interface StoredRecord<T = AnyData> {
  id: string
  /** 1 on insert, +1 on every write. */
  version: number
  /** ISO 8601, UTC. */
  createdAt: string
  updatedAt: string
  /** The role of the process that wrote this version. */
  role: string
  data: T
}

export interface Page<T> {
  records: StoredRecord<T>[]
  /** Pass as `after` to get the next page; null when this page is the last. */
  next: string | null
}

export function toRecord<T>(row: RecordRow): StoredRecord<T> {
  return {
    id: row.id,
    version: row.version,
    createdAt: isoTime(row.createdAt),
    updatedAt: isoTime(row.updatedAt),
    role: row.role,
    data: row.data as T,
  }
}

export function toRecords<T>(rows: readonly RecordRow[], count = rows.length): StoredRecord<T>[] {
  const records = new Array<StoredRecord<T>>(count)
  for (let i = 0; i < count; i++) records[i] = toRecord<T>(rows[i]!)
  return records
}

/** A page of at most `limit` records from rows of a query for `limit` + 1. */
export function toPage<T>(rows: readonly FoundRow[], limit: number): Page<T> {
  const more = rows.length > limit
  const count = Math.min(limit, rows.length)
  const last = rows[count - 1]
  return { records: toRecords<T>(rows, count), next: more && last !== undefined ? encodeCursor(last.sortValue, last.id) : null }
}

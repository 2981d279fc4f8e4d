import type { ChangeOp, ChangeRow } from '../backends/backend.js'
import type { AnyData } from '../store/config.js'

/** One committed write, as the change feed delivers it. */
export interface Change<T = AnyData> {
  /** Position in the store's change log: gap-free and in commit order (SQLite and PostgreSQL). */
  seq: number
  collection: string
  id: string
  op: ChangeOp
  /** The record's version after the write; for a delete or trim, the last version it had. */
  version: number
  /** Role of the process that wrote it. */
  role: string
  /** When it was written, ISO 8601. */
  at: string
  /** The data after the write (the last data for delete/trim); absent if the collection sets changeData: false. */
  data?: T
}

export function toChange<T>(row: ChangeRow): Change<T> {
  const change: Change<T> = { seq: row.seq, collection: row.collection, id: row.id, op: row.op, version: row.version, role: row.role, at: new Date(row.at).toISOString() }
  if (row.data !== undefined) change.data = row.data as T
  return change
}

/** Where a reader starts: after this seq, at the current end of the log, or at its start. */
export type ChangeStart = number | 'now' | 'beginning'

export interface ChangesOptions {
  /** Only changes of these collections. */
  collections?: readonly string[]
  /** Only changes of these record ids. */
  ids?: readonly string[]
  /** Default 'now': changes committed after the call. A number continues after that seq. */
  since?: ChangeStart
}

import type { ChangeBatch, ChangeRow, JsonObject } from '../backend.js'
import type { JsonPatch } from '../json-delta.js'
import { FORMAT_VERSION } from './postgres-sql.js'

/**
 * Reading the change log of a PostgreSQL store (the twin of sqlite-changes.ts): the rows of
 * readChangesSql as a batch, and the check of what the log promises. Entries are written by the
 * write transaction at COMMIT (appendChangesSql); notifications carry them too (postgres-change-cache.ts).
 */

/** A row of readChangesSql: the head and trim mark on every row, and a change unless the log has none to give. */
export interface RawChange {
  head: number
  trimmed: number
  seq: number | null
  collection: string
  id: string
  op: ChangeRow['op']
  version: number
  role: string
  at: number
  data: JsonObject | null
  delta: JsonPatch | null
}

export function decodeChange(raw: RawChange): ChangeRow {
  const change: ChangeRow = {
    seq: raw.seq!,
    collection: raw.collection,
    id: raw.id,
    op: raw.op,
    version: raw.version,
    role: raw.role,
    at: raw.at,
  }
  if (raw.data !== null) change.data = raw.data
  if (raw.delta !== null) change.delta = raw.delta
  return change
}

/** The batch the rows of readChangesSql (at least one: the head row) make, for a read of at most `limit`. */
export function changeBatchOf(first: RawChange, rows: readonly RawChange[], limit: number): ChangeBatch {
  const changes = rows.filter((r) => r.seq !== null).map(decodeChange)
  const scannedThrough = changes.length === limit ? changes[changes.length - 1]!.seq : first.head
  return { changes, scannedThrough, trimmedThrough: first.trimmed }
}

/** The row of integritySql. */
export interface ChangeLogFacts {
  format: string | null
  trimmed: number | null
  low: number | null
}

/**
 * What the backend promises about its own tables: the format, and a change log with no entry at or
 * below its trim mark (seqs between the mark and the head may be missing: coalescing deletes a
 * record's earlier entries). ['ok'] when sound, else one line per problem.
 */
export function changeLogProblems(r: ChangeLogFacts): string[] {
  const problems: string[] = []
  if (r.format !== FORMAT_VERSION) problems.push(`meta format is ${r.format ?? 'missing'}, expected ${FORMAT_VERSION}`)
  if (r.trimmed === null) problems.push('the change-log trim mark is missing from the meta table')
  else if (r.low !== null && r.low <= r.trimmed)
    problems.push(`the change log still holds seq ${r.low}, at or below its trim mark ${r.trimmed}`)
  return problems.length === 0 ? ['ok'] : problems
}

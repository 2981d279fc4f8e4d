import type { ChangeRow, HistoryLimit } from '../backend.js'
import { deltaChainsNeeded, historyToPrune, type PrunableEntry } from '../change-history.js'
import type { PostgresChangesSql } from './postgres-changes-sql.js'
import type { PostgresQuery } from './postgres-config.js'
import { decodeChange, type RawChange } from './postgres-changes.js'

/**
 * The history collections keep in the change log of a PostgreSQL store (the twin of
 * sqlite-history.ts): the chains of deltas a read rebuilds data from, and the bounds a trim
 * applies (see change-history.ts).
 */

type Rows = <R>(query: PostgresQuery) => Promise<R[]>

/** Every entry of the records whose deltas `changes` holds, from the first such seq on: one statement per collection, sent together. */
export async function readDeltaChains(rows: Rows, sql: PostgresChangesSql, changes: readonly ChangeRow[]): Promise<ChangeRow[]> {
  const needed = [...deltaChainsNeeded(changes)]
  if (needed.length === 0) return []
  const read = await Promise.all(needed.map(([collection, { ids, from }]) => rows<RawChange>(sql.deltaChainsSql(collection, ids, from))))
  return read.flat().map(decodeChange)
}

/** Removes the entries past each collection's history bounds (in the trim's write transaction); returns how many. */
export async function pruneHistory(
  tx: { rows: Rows; run: (query: PostgresQuery) => Promise<{ rowCount?: number | null }> },
  sql: PostgresChangesSql,
  limits: readonly HistoryLimit[] | undefined,
  now: number,
): Promise<number> {
  if (limits === undefined || limits.length === 0) return 0
  const entries = await tx.rows<PrunableEntry>(sql.historyEntriesSql(limits.map((l) => l.collection)))
  const seqs = historyToPrune(entries, limits, now)
  if (seqs.length === 0) return 0
  return (await tx.run(sql.deleteChangesBySeqSql(seqs))).rowCount ?? 0
}

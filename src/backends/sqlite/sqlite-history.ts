import type { ChangeRow, HistoryLimit, JsonObject } from '../backend.js'
import { deltaChainsNeeded, historyToPrune, type PrunableEntry } from '../change-history.js'
import type { JsonPatch } from '../json-delta.js'
import type { SqliteConnection } from './sqlite-prepared.js'
import { DELETE_CHANGES_BY_SEQ_SQL, DELTA_CHAINS_SQL, HISTORY_ENTRIES_SQL } from './sqlite-sql.js'

/**
 * The history collections keep in the change log of an SQLite store (the twin of
 * postgres-history.ts): the chains of deltas a read rebuilds data from, and the bounds a trim
 * applies (see change-history.ts).
 */

interface RawEntry extends Omit<ChangeRow, 'data' | 'delta'> {
  data: string | null
  delta: string | null
}

/** Every entry of the records whose deltas `changes` holds, from the first such seq on: one statement per collection. */
export function readDeltaChains(connection: SqliteConnection, changes: readonly ChangeRow[]): ChangeRow[] {
  const out: ChangeRow[] = []
  const needed = deltaChainsNeeded(changes)
  if (needed.size === 0 || !connection.hasDeltaColumn()) return out
  for (const [collection, { ids, from }] of needed) {
    for (const raw of connection.statement(DELTA_CHAINS_SQL).all(collection, JSON.stringify([...ids]), from) as RawEntry[]) {
      const { data, delta, ...entry } = raw
      const change: ChangeRow = entry
      if (data !== null) change.data = JSON.parse(data) as JsonObject
      if (delta !== null) change.delta = JSON.parse(delta) as JsonPatch
      out.push(change)
    }
  }
  return out
}

/** Removes the entries past each collection's history bounds (in the trim's write transaction); returns how many. */
export function pruneHistory(connection: SqliteConnection, limits: readonly HistoryLimit[] | undefined, now: number): number {
  if (limits === undefined || limits.length === 0) return 0
  const names = JSON.stringify(limits.map((l) => l.collection))
  const entries = connection.statement(HISTORY_ENTRIES_SQL).all(names) as PrunableEntry[]
  const seqs = historyToPrune(entries, limits, now)
  if (seqs.length === 0) return 0
  return connection.statement(DELETE_CHANGES_BY_SEQ_SQL).run(JSON.stringify(seqs)).changes
}

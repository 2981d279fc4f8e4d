import type { ChangeRow, JsonObject } from './backend.js'

/**
 * The data a change-log read gives subscribers when the log keeps no copy (a collection's default,
 * history: 'changes'): the record itself, looked up by each backend for a whole batch at once — one
 * query per collection, not one per change (readChangeBatch in sqlite-changes.ts, in the log read's
 * snapshot; recordsOf in postgres-backend.ts). A change whose entry holds a copy (history: 'full',
 * or written by a release that always kept one) keeps it.
 */

/** A record's current version and data, as the lookup finds it. */
export interface CurrentRecord {
  id: string
  version: number
  data: JsonObject
}

/** Collection and record names a lookup may put in SQL: what the store accepts, nothing else. */
const LOOKUP_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * The ids whose current data the batch needs, by collection: inserts and updates without a copy.
 * Deletes and trims never carry data unless the log kept a copy (the record is gone). A collection
 * name the store could not have written (a foreign writer's) is left out: its changes stay without data.
 */
export function idsToLookUp(changes: readonly ChangeRow[]): Map<string, string[]> {
  const byCollection = new Map<string, Set<string>>()
  for (const change of changes) {
    if (change.data !== undefined || (change.op !== 'insert' && change.op !== 'update')) continue
    if (!LOOKUP_NAME.test(change.collection)) continue
    let ids = byCollection.get(change.collection)
    if (ids === undefined) byCollection.set(change.collection, (ids = new Set()))
    ids.add(change.id)
  }
  return new Map([...byCollection].map(([collection, ids]) => [collection, [...ids]]))
}

/**
 * Gives each change its data: its own copy (dataVersion = version), else the record as found
 * (dataVersion = the record's version; superseded when that is not the change's version), else
 * none — the record is gone (superseded, a tombstone). `found` holds, per collection looked up,
 * the records that exist.
 */
export function attachRecordData(changes: readonly ChangeRow[], found: ReadonlyMap<string, ReadonlyMap<string, CurrentRecord>>): void {
  // Several changes of one record in a batch each get their own copy, as rows read from the log
  // do: one subscriber's edits never reach another's.
  const given = new Set<CurrentRecord>()
  for (const change of changes) {
    // A delta is the log's own business (see change-history.ts): subscribers get data.
    delete change.delta
    if (change.data !== undefined) {
      change.dataVersion = change.version
      continue
    }
    if (change.op !== 'insert' && change.op !== 'update') continue
    const records = found.get(change.collection)
    if (records === undefined) continue
    const record = records.get(change.id)
    if (record === undefined) {
      change.superseded = true
      continue
    }
    change.data = given.has(record) ? structuredClone(record.data) : record.data
    given.add(record)
    change.dataVersion = record.version
    if (record.version !== change.version) change.superseded = true
  }
}

/**
 * The log as coalescing leaves it (the SQLite and PostgreSQL backends delete in the write itself;
 * a files store, whose log is appended, applies this when it reads or rewrites the log; PostgreSQL
 * also to the entries one transaction appends together): an entry without a copy is dropped when
 * a later entry of the same record, other than an insert, has none either. Entries with a copy or
 * a delta are history and kept (until change-history.ts's bounds remove them); so is a tombstone
 * followed by an insert of the same id. Keeps the order.
 */
export function coalesced<C extends Pick<ChangeRow, 'collection' | 'id' | 'op' | 'data' | 'delta'>>(changes: readonly C[]): C[] {
  const last = new Map<string, number>()
  changes.forEach((c, i) => {
    if (c.data === undefined && c.delta === undefined && c.op !== 'insert') last.set(`${c.collection}\u0000${c.id}`, i)
  })
  if (last.size === 0) return [...changes]
  return changes.filter((c, i) => c.data !== undefined || c.delta !== undefined || i >= (last.get(`${c.collection}\u0000${c.id}`) ?? 0))
}

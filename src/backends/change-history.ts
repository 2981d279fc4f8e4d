import type { ChangeRow, HistoryLimit, JsonObject } from './backend.js'
import type { CurrentRecord } from './change-data.js'
import { applyJsonPatch } from './json-delta.js'

/**
 * The history a collection keeps in its change-log entries, as every backend reads and bounds it.
 *
 * With history: { keep: 'diff' } an insert or update entry holds no copy of the data but a reverse
 * delta (ChangeRow.delta): the patch from the data this write produced back to the data it
 * replaced. A delete or trim entry holds a full copy of the last data. So the data of an entry is
 * the data of the record's next entry with that next entry's delta applied, down from a base: the
 * record as it is now (for its latest entry), or a tombstone's copy. Entries stay immutable: a
 * write appends its delta and touches no older entry. Bounds (maxCount, maxAgeMs) remove a
 * record's oldest entries first, so every kept entry keeps the chain above it.
 */

function key(collection: string, id: string): string {
  return `${collection}\u0000${id}`
}

/**
 * The records whose chains a batch needs read, by collection: the ids with an entry holding a
 * delta, and the lowest such seq. The backend reads every entry of those records from that seq on
 * (readDeltaChains), the batch's own included, in seq order.
 */
export function deltaChainsNeeded(changes: readonly ChangeRow[]): Map<string, { ids: Set<string>; from: number }> {
  const out = new Map<string, { ids: Set<string>; from: number }>()
  for (const c of changes) {
    if (c.delta === undefined || c.data !== undefined) continue
    const entry = out.get(c.collection)
    if (entry === undefined) out.set(c.collection, { ids: new Set([c.id]), from: c.seq })
    else {
      entry.ids.add(c.id)
      entry.from = Math.min(entry.from, c.seq)
    }
  }
  return out
}

/** The chains a batch needs (see deltaChainsNeeded), taken from a log held in memory (a files store's), in seq order. */
export function deltaChainsIn(log: readonly ChangeRow[], changes: readonly ChangeRow[]): ChangeRow[] {
  const needed = deltaChainsNeeded(changes)
  if (needed.size === 0) return []
  return log.filter((c) => {
    const w = needed.get(c.collection)
    return w !== undefined && c.seq >= w.from && w.ids.has(c.id)
  })
}

/** The data of an entry, from the data of the record's next entry (`data`) and that entry itself. */
function applied(data: JsonObject, next: ChangeRow): JsonObject | undefined {
  // A tombstone's copy is the last data: that of the entry before it.
  if (next.op === 'delete' || next.op === 'trim') return structuredClone(data)
  if (next.op === 'insert' || next.delta === undefined) return undefined
  try {
    return applyJsonPatch(data, next.delta)
  } catch {
    // A delta that does not fit (the chain was broken by a write that logged nothing): no data.
    return undefined
  }
}

/**
 * Gives each entry of the batch that holds a delta the data of its own write, rebuilt from `chains`
 * (every entry of its record from the batch's first delta on, in seq order) and the record as it is
 * now (`found`, as attachRecordData gets it). An entry whose chain is broken — a later entry with
 * neither delta nor copy (written while the collection kept no history), or a record changed
 * without an entry — is left without data: attachRecordData then gives it the record's current
 * data, superseded, as for a collection without history. Run before attachRecordData.
 */
export function rebuildFromDeltas(
  changes: readonly ChangeRow[],
  chains: readonly ChangeRow[],
  found: ReadonlyMap<string, ReadonlyMap<string, CurrentRecord>>,
): void {
  if (chains.length === 0) return
  const byRecord = new Map<string, ChangeRow[]>()
  for (const c of chains) {
    const k = key(c.collection, c.id)
    let list = byRecord.get(k)
    if (list === undefined) byRecord.set(k, (list = []))
    list.push(c)
  }
  const rebuilt = new Map<number, JsonObject>()
  for (const list of byRecord.values()) {
    list.sort((a, b) => a.seq - b.seq)
    let after: JsonObject | undefined
    for (let i = list.length - 1; i >= 0; i--) {
      const entry = list[i]!
      let data: JsonObject | undefined
      if (entry.data !== undefined) data = entry.data
      else if (i === list.length - 1) {
        const record = found.get(entry.collection)?.get(entry.id)
        const current = (entry.op === 'insert' || entry.op === 'update') && record !== undefined && record.version === entry.version
        data = current ? structuredClone(record.data) : undefined
      } else data = after === undefined ? undefined : applied(after, list[i + 1]!)
      if (data !== undefined && entry.data === undefined) rebuilt.set(entry.seq, data)
      after = data
    }
  }
  for (const change of changes) {
    if (change.data !== undefined || change.delta === undefined) continue
    // Each rebuilt value is its own object (applyJsonPatch shares nothing with its input).
    const data = rebuilt.get(change.seq)
    if (data !== undefined) change.data = data
  }
}

/** The facts of an entry bounding history needs. */
export type PrunableEntry = Pick<ChangeRow, 'seq' | 'collection' | 'id' | 'op' | 'at'>

/**
 * The seqs a trim removes to hold each collection to its HistoryLimit (`entries`: every entry of
 * those collections, in seq order; `now` on the same clock as `at`). Per record: its latest entry
 * always stays, and so do tombstones (delete, trim), which retention of the whole log removes. Of
 * its other entries (inserts and updates: its past versions), those beyond the newest `maxCount`
 * go, and those written before `now - maxAgeMs` with every older one (oldest first, so a clock
 * that was behind cannot leave a hole in a chain of deltas).
 */
export function historyToPrune(entries: readonly PrunableEntry[], limits: readonly HistoryLimit[], now: number): number[] {
  const byCollection = new Map(limits.map((l) => [l.collection, l]))
  const byRecord = new Map<string, PrunableEntry[]>()
  for (const e of entries) {
    if (!byCollection.has(e.collection)) continue
    const k = key(e.collection, e.id)
    let list = byRecord.get(k)
    if (list === undefined) byRecord.set(k, (list = []))
    list.push(e)
  }
  const out: number[] = []
  for (const list of byRecord.values()) {
    const limit = byCollection.get(list[0]!.collection)!
    const past = list.slice(0, -1).filter((e) => e.op === 'insert' || e.op === 'update')
    let cut = -1
    if (limit.maxCount !== undefined) cut = past.length - limit.maxCount - 1
    if (limit.maxAgeMs !== undefined) {
      const cutoff = now - limit.maxAgeMs
      for (let i = past.length - 1; i > cut; i--)
        if (past[i]!.at < cutoff) {
          cut = i
          break
        }
    }
    for (let i = 0; i <= cut; i++) out.push(past[i]!.seq)
  }
  return out.sort((a, b) => a - b)
}

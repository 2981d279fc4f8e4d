import { historyFields } from './history.js'
import type { RecordRow, WriteTx } from '../backends/backend.js'
import { appendArchive, type ArchivePeriod } from '../fs/archive-file.js'
import type { CollectionSettings } from './config.js'
import { steadyNow } from '../backends/steady-clock.js'

/** How many records one retention pass trims per collection; the next pass continues. */
export const TRIM_BATCH = 5000

export interface RetentionSettings {
  readonly maxCount: number | undefined
  readonly maxAgeMs: number | undefined
  /** Where trimmed records are appended before deletion; undefined = `archive: false`, deleted outright. */
  readonly archive: { readonly dir: string; readonly period: ArchivePeriod } | undefined
}

/**
 * Trims one collection down to its limits inside the caller's write transaction: the oldest
 * records beyond `maxCount`, and those created more than `maxAgeMs` ago. "Oldest" is creation
 * order (the engine's insertion sequence), never ids or timestamps: a record just written with a
 * small custom id, or by a process whose clock is behind, is the newest. Wall time only judges age,
 * and only from the oldest end: records are trimmed by age, in creation order, up to the first one
 * that is still young, so one record with a timestamp from a clock that was behind cannot take the
 * younger records before it along (it goes once they do). `now` is capped by this process's
 * monotonic clock (see steadyNow), so a clock that jumps ahead makes nothing look old.
 *
 * Unless the collection opted out with `archive: false`, the records are appended to the
 * archive (and fsynced) before they are deleted, so trimming never loses data silently: if the
 * transaction then fails, they stay in the store and are archived again next time (an archive
 * reader keeps the last line per id and version). Each trim is logged to the change feed as
 * op 'trim'. Resolves with the number trimmed.
 */
export async function applyRetention(
  tx: WriteTx,
  collection: CollectionSettings,
  retain: RetentionSettings,
  role: string,
  now: number,
): Promise<number> {
  const victims = new Map<string, RecordRow>()
  const createdSeq = { kind: 'meta' as const, name: 'createdSeq' as const }
  const oldestFirst = { field: createdSeq, direction: 'asc' as const }
  if (retain.maxCount !== undefined) {
    const excess = (await tx.count(collection.name, [])) - retain.maxCount
    if (excess > 0)
      for (const row of await tx.find(collection.name, { where: [], orderBy: oldestFirst, limit: Math.min(excess, TRIM_BATCH) }))
        victims.set(row.id, row)
  }
  if (retain.maxAgeMs !== undefined && victims.size < TRIM_BATCH) {
    const cutoff = steadyNow(now) - retain.maxAgeMs
    const [firstYoung] = await tx.find(collection.name, {
      where: [{ field: { kind: 'meta', name: 'createdAt' }, op: 'gte', value: cutoff }],
      orderBy: oldestFirst,
      limit: 1,
    })
    const old = await tx.find(collection.name, {
      where: firstYoung === undefined ? [] : [{ field: createdSeq, op: 'lt', value: firstYoung.sortValue }],
      orderBy: oldestFirst,
      limit: TRIM_BATCH - victims.size,
    })
    for (const row of old) victims.set(row.id, row)
  }
  if (victims.size === 0) return 0
  const rows = [...victims.values()]
  if (retain.archive !== undefined) {
    const trimmedAt = new Date(now).toISOString()
    const entries = rows.map((row) => ({
      createdAt: row.createdAt,
      line: JSON.stringify({
        collection: collection.name,
        id: row.id,
        version: row.version,
        createdAt: new Date(row.createdAt).toISOString(),
        updatedAt: new Date(row.updatedAt).toISOString(),
        role: row.role,
        data: row.data,
        trimmedAt,
      }),
    }))
    appendArchive(retain.archive.dir, collection.name, entries, retain.archive.period)
  }
  for (const row of rows) {
    await tx.delete(collection.name, row.id)
    await tx.appendChange({
      collection: collection.name,
      id: row.id,
      op: 'trim',
      version: row.version,
      role,
      at: now,
      ...historyFields(collection, 'trim', row.data),
    })
  }
  return rows.length
}

import type { RecordRow, WriteTx } from '../backends/backend.js'
import { appendArchive, type ArchivePeriod } from '../fs/archive-file.js'
import type { CollectionSettings } from './config.js'

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
 * records (by id, i.e. creation order) beyond `maxCount`, and those created more than `maxAgeMs`
 * ago. Unless the collection opted out with `archive: false`, the records are appended to the
 * archive (and fsynced) before they are deleted, so trimming never loses data silently: if the
 * transaction then fails, they stay in the store and are archived again next time (an archive
 * reader keeps the last line per id and version). Each trim is logged to the change feed as
 * op 'trim'. Resolves with the number trimmed.
 */
export async function applyRetention(tx: WriteTx, collection: CollectionSettings, retain: RetentionSettings, role: string, now: number): Promise<number> {
  const victims = new Map<string, RecordRow>()
  const oldestFirst = { field: { kind: 'meta' as const, name: 'id' as const }, direction: 'asc' as const }
  if (retain.maxCount !== undefined) {
    const excess = (await tx.count(collection.name, [])) - retain.maxCount
    if (excess > 0) for (const row of await tx.find(collection.name, { where: [], orderBy: oldestFirst, limit: Math.min(excess, TRIM_BATCH) })) victims.set(row.id, row)
  }
  if (retain.maxAgeMs !== undefined && victims.size < TRIM_BATCH) {
    const old = await tx.find(collection.name, {
      where: [{ field: { kind: 'meta', name: 'createdAt' }, op: 'lt', value: now - retain.maxAgeMs }],
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
      line: JSON.stringify({ collection: collection.name, id: row.id, version: row.version, createdAt: new Date(row.createdAt).toISOString(), updatedAt: new Date(row.updatedAt).toISOString(), role: row.role, data: row.data, trimmedAt }),
    }))
    appendArchive(retain.archive.dir, collection.name, entries, retain.archive.period)
  }
  for (const row of rows) {
    await tx.delete(collection.name, row.id)
    await tx.appendChange({ collection: collection.name, id: row.id, op: 'trim', version: row.version, role, at: now, ...(collection.changeData ? { data: row.data } : {}) })
  }
  return rows.length
}

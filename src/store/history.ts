import type { Backend, ChangeOp, ChangeRow, HistoryLimit, JsonObject } from '../backends/backend.js'
import { diffJson, type JsonPatch } from '../backends/json-delta.js'
import { toChange, type AnyChange } from '../changes/change.js'
import { TandemError } from '../errors.js'
import { checkOptions } from '../options.js'
import type { CollectionSettings, HistoryOptions } from './config.js'

/**
 * What a collection's change log keeps of its writes (CollectionConfig.history): the option
 * checked, the copy or delta each entry carries, the bounds retention applies, and the read of a
 * record's past versions. The backends store and rebuild (backends/change-history.ts).
 */

/** What a collection's `history` option becomes: what each entry keeps, and the bounds on it. */
export type HistorySettings = Pick<CollectionSettings, 'history' | 'historyLimit'>

function bound(name: string, key: 'maxCount' | 'maxAgeMs', value: unknown): number | undefined {
  if (value === undefined) return undefined
  const least = key === 'maxCount' ? 0 : 1
  if (typeof value !== 'number' || !Number.isInteger(value) || value < least) {
    const got = typeof value === 'number' ? String(value) : typeof value === 'string' ? JSON.stringify(value) : `a ${typeof value}`
    const what = key === 'maxCount' ? 'a non-negative integer (past versions kept per record)' : 'a positive integer of milliseconds'
    throw Object.assign(new RangeError(`collections.${name}.history.${key} must be ${what} (got ${got}).`), { code: 'INVALID_ARGUMENT' })
  }
  return value
}

/**
 * Checks a collection's `history` option: 'changes' (default), 'full', 'diff', or
 * `{ keep: 'full' | 'diff', maxCount?, maxAgeMs? }`. Throws a TypeError or RangeError naming it.
 */
export function parseHistory(name: string, value: unknown): HistorySettings {
  if (value === undefined || value === 'changes' || value === 'full' || value === 'diff') return { history: value ?? 'changes' }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw Object.assign(
      new RangeError(
        `collections.${name}.history must be 'changes', 'full', 'diff' or { keep: 'full' | 'diff', maxCount?, maxAgeMs? } (got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}).`,
      ),
      { code: 'INVALID_ARGUMENT' },
    )
  checkOptions(value, ['keep', 'maxCount', 'maxAgeMs'], `in collections.${name}.history`)
  const { keep, maxCount, maxAgeMs } = value as Partial<HistoryOptions>
  if (keep !== 'full' && keep !== 'diff')
    throw Object.assign(
      new RangeError(
        `collections.${name}.history.keep must be 'full' or 'diff' (got ${typeof keep === 'string' ? JSON.stringify(keep) : typeof keep}); for no history, write history: 'changes'.`,
      ),
      { code: 'INVALID_ARGUMENT' },
    )
  const limit = { maxCount: bound(name, 'maxCount', maxCount), maxAgeMs: bound(name, 'maxAgeMs', maxAgeMs) }
  if (limit.maxCount === undefined && limit.maxAgeMs === undefined) return { history: keep }
  return { history: keep, historyLimit: Object.freeze(limit) }
}

/** The history option as a declaration records it (processes sharing a collection must agree): 'diff', 'full;maxCount=5'. */
export function describeHistory(c: HistorySettings): string {
  const l = c.historyLimit
  return l === undefined ? c.history : `${c.history};maxCount=${l.maxCount ?? '-'};maxAgeMs=${l.maxAgeMs ?? '-'}`
}

/**
 * What a change-log entry of this write keeps: nothing ('changes'), a copy of the data ('full', and
 * for a delete or trim under 'diff': the base the deltas before it are rebuilt from), or the
 * delta back to the data the write replaced ('diff'; an insert's is empty). A 'diff' update whose
 * previous data is unknown keeps a full copy. A collection this program does not declare
 * (undefined) keeps nothing.
 */
export function historyFields(
  collection: HistorySettings | undefined,
  op: ChangeOp,
  data: JsonObject,
  previous?: JsonObject,
): { data?: JsonObject; delta?: JsonPatch } {
  if (collection === undefined || collection.history === 'changes') return {}
  if (collection.history === 'full' || op === 'delete' || op === 'trim') return { data }
  if (op === 'insert') return { delta: [] }
  return previous === undefined ? { data } : { delta: diffJson(data, previous) }
}

/** The bounds of the collections that declare them, for the change log's trim. */
export function historyLimits(collections: Iterable<CollectionSettings>): HistoryLimit[] | undefined {
  const out: HistoryLimit[] = []
  for (const c of collections)
    if (c.historyLimit !== undefined && c.history !== 'changes') out.push({ collection: c.name, ...c.historyLimit })
  return out.length === 0 ? undefined : out
}

const PAGE = 500

/**
 * The entries the change log holds of one record, oldest first, as the feed would deliver them,
 * each with the data of its own write where the log keeps it (history 'full' or 'diff') or the
 * record still is at that version; otherwise without data (never a later version's).
 */
export async function readHistory<E extends AnyChange>(
  log: Pick<Backend, 'readChanges'> | undefined,
  collection: string,
  id: string,
): Promise<E[]> {
  if (log === undefined) throw new TandemError('UNSUPPORTED', 'A record history cannot be read inside a migration or seed.')
  const out: E[] = []
  let cursor = 0
  for (;;) {
    const batch = await log.readChanges(cursor, PAGE, { collections: [collection], ids: [id] })
    for (const row of batch.changes) out.push(toChange<E>(ownData(row)))
    if (batch.changes.length < PAGE) return out
    cursor = batch.scannedThrough
  }
}

function ownData(row: ChangeRow): ChangeRow {
  if (row.dataVersion === row.version) return row
  const { data: _data, dataVersion: _dataVersion, superseded: _superseded, ...rest } = row
  return rest
}

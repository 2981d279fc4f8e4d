import type { JsonPatch } from '../json-delta.js'
import type { ChangeBatch, ChangeFilter, ChangeRow, JsonObject } from '../backend.js'

/**
 * Changes that arrived in NOTIFY payloads (engine-only: SQLite's wake-up carries no data, and a
 * read of its log costs no round trip), so a reader woken by a notification can have them
 * without a second round trip to read the log. The change log stays the source of truth: the cache
 * holds one contiguous run of seqs, each exactly as the log stores it, and answers only a read
 * whose cursor lies inside that run or at its end; anything else (a gap, a payload too large to
 * carry the changes, a reconnect) is read from the table.
 */

/** At most this many changes are kept; older ones are read from the table. */
const MAX_CACHED = 4096

interface PayloadEntry {
  collection: string
  id: string
  op: ChangeRow['op']
  version: number
  role: string
  at: number
  data?: JsonObject | null
  delta?: JsonPatch | null
}

/**
 * The changes a NOTIFY payload carries: "<seq before the first> <JSON array>" (see
 * appendChangesSql), or undefined when it carries only the head (a bare number) or is not ours.
 */
export function parseChangePayload(payload: string | undefined): { after: number; changes: ChangeRow[] } | undefined {
  if (payload === undefined) return undefined
  const space = payload.indexOf(' ')
  if (space < 0) return undefined
  const after = Number(payload.slice(0, space))
  if (!Number.isSafeInteger(after)) return undefined
  let entries: unknown
  try {
    entries = JSON.parse(payload.slice(space + 1))
  } catch {
    return undefined
  }
  if (!Array.isArray(entries)) return undefined
  const changes = (entries as PayloadEntry[]).map((e, i) => {
    // The same shape, keys in the same order, as a row read from the log (decodeChange).
    const change: ChangeRow = {
      seq: after + i + 1,
      collection: e.collection,
      id: e.id,
      op: e.op,
      version: e.version,
      role: e.role,
      at: e.at,
    }
    if (e.data !== undefined && e.data !== null) change.data = e.data
    if (e.delta !== undefined && e.delta !== null) change.delta = e.delta
    return change
  })
  return { after, changes }
}

export class ChangeCache {
  #changes: ChangeRow[] = []
  /** The trim mark, as last read from the log or announced by a notification since. */
  #trimmedThrough = 0
  /** Whether #trimmedThrough is current: read from the log since the last gap, kept up by notifications. */
  #trimKnown = false

  /** Takes in one notification's payload: a commit's changes, a new trim mark, or just a head. */
  receive(payload: string | undefined): void {
    if (payload?.startsWith('trim ') === true) {
      const seq = Number(payload.slice(5))
      if (Number.isSafeInteger(seq)) this.#trimmedThrough = Math.max(this.#trimmedThrough, seq)
      return
    }
    const parsed = parseChangePayload(payload)
    if (parsed !== undefined) this.add(parsed.after, parsed.changes)
  }

  /** Adds the changes of one commit; a run that does not follow the cached one replaces it. */
  add(after: number, changes: readonly ChangeRow[]): void {
    if (changes.length === 0) return
    const last = this.#changes.at(-1)?.seq
    if (last !== after) this.#changes = []
    this.#changes.push(...changes)
    if (this.#changes.length > MAX_CACHED) this.#changes = this.#changes.slice(-MAX_CACHED / 2)
  }

  /** Forgets everything: notifications may have been missed (the listener's connection was lost). */
  clear(): void {
    this.#changes = []
    this.#trimKnown = false
  }

  /** The trim mark a read of the log returned. */
  noteTrimmedThrough(seq: number): void {
    this.#trimmedThrough = Math.max(this.#trimmedThrough, seq)
    this.#trimKnown = true
  }

  /**
   * The answer to readChanges(cursor, limit, filter) when the cache holds at least the first change
   * after `cursor`, else undefined. Every seq from cursor + 1 to the last returned (or to the end of
   * the run) is in the cache, so `scannedThrough` is exact, as a read of the log would give it.
   */
  read(cursor: number, limit: number, filter?: ChangeFilter): ChangeBatch | undefined {
    const first = this.#changes[0]
    const last = this.#changes.at(-1)
    if (first === undefined || last === undefined || cursor < first.seq - 1 || cursor > last.seq) return undefined
    // A reader at the end of the run has seen every change notified so far. Commits after it
    // notify, and the notification wakes the reader (it reads again then); a missed one empties
    // the cache. So "nothing new" is a true answer that saves a read per delivered change.
    // It claims nothing past the cursor; the trim mark comes with it only when it is current.
    if (cursor === last.seq)
      return this.#trimKnown ? { changes: [], scannedThrough: cursor, trimmedThrough: Math.min(this.#trimmedThrough, cursor) } : undefined
    const collections = filter?.collections === undefined ? undefined : new Set(filter.collections)
    const ids = filter?.ids === undefined ? undefined : new Set(filter.ids)
    const changes: ChangeRow[] = []
    for (let i = cursor - first.seq + 1; i < this.#changes.length && changes.length < limit; i++) {
      const change = this.#changes[i]!
      if (collections !== undefined && !collections.has(change.collection)) continue
      if (ids !== undefined && !ids.has(change.id)) continue
      // A copy per read, as a read of the log gives: one reader's edits never reach another.
      changes.push(change.data === undefined ? { ...change } : { ...change, data: structuredClone(change.data) })
    }
    const scannedThrough = changes.length === limit ? changes[changes.length - 1]!.seq : last.seq
    return { changes, scannedThrough, trimmedThrough: Math.min(this.#trimmedThrough, cursor) }
  }
}

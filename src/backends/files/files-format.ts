import { TandemError } from '../../errors.js'
import type { ChangeRow, JsonObject, JsonValue, RecordRow } from '../backend.js'

/*
 * How records and changes look on disk. A collection is one text file, one record per line,
 * sorted by id, each line with its keys in a fixed order (id, version, role, createdAt,
 * updatedAt, createdSeq, data) and the data's keys sorted: a record that did not change keeps
 * its line byte for byte, so a diff shows only what changed and an editor shows one record a line.
 */

/** A record as a line holds it: the row and the order it was inserted in. */
export interface StoredRow extends RecordRow {
  createdSeq: number
}

/** `value` with every object's keys sorted (arrays keep their order). */
export function sortKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value === null || typeof value !== 'object') return value
  const out: JsonObject = {}
  for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]!)
  return out
}

export function recordLine(row: StoredRow): string {
  return JSON.stringify({
    id: row.id,
    version: row.version,
    role: row.role,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    createdSeq: row.createdSeq,
    data: sortKeys(row.data),
  })
}

/** Code-point order (UTF-8 byte order, as SQLite's BINARY collation), not UTF-16 unit order. */
export function compareText(a: string, b: string): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!
    const y = b.codePointAt(i)!
    if (x !== y) return x < y ? -1 : 1
    if (x > 0xffff) i++
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0
}

/** A collection's text: its rows sorted by id, one line each, with a final newline (empty: no rows). */
export function collectionText(rows: Iterable<StoredRow>): string {
  const sorted = [...rows].sort((a, b) => compareText(a.id, b.id))
  return sorted.length === 0 ? '' : `${sorted.map(recordLine).join('\n')}\n`
}

/** A line of a collection file that is not a record: refused with its file and line number, never skipped. */
export function badLine(file: string, line: number, why: string): TandemError {
  return new TandemError(
    'INVALID_DATA',
    `${file} line ${line} is not a valid record (${why}). Nothing was read from or written to this collection; the file was left as it is.`,
    { hint: `Fix or remove line ${line} of ${file}: each line is one JSON object with at least "id" (a string) and "data" (an object).` },
  )
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Parses a collection file. Lines written by hand may leave out everything but id and data:
 * version, times, role and createdSeq then take the values `fill` gives (a hand-added record).
 * Blank lines are allowed; anything else that is not a record is refused (badLine).
 */
export function parseCollection(text: string, file: string, fill: (id: string) => Omit<StoredRow, 'id' | 'data'>): Map<string, StoredRow> {
  const rows = new Map<string, StoredRow>()
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === '') continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      throw badLine(file, i + 1, (error as Error).message)
    }
    if (!isObject(value)) throw badLine(file, i + 1, 'not a JSON object')
    const { id, data } = value
    if (typeof id !== 'string' || id === '') throw badLine(file, i + 1, '"id" must be a non-empty string')
    if (!isObject(data)) throw badLine(file, i + 1, '"data" must be a JSON object')
    if (rows.has(id)) throw badLine(file, i + 1, `id "${id}" appears twice`)
    const defaults = fill(id)
    const number = (key: 'version' | 'createdAt' | 'updatedAt' | 'createdSeq'): number => {
      const given = value[key]
      if (given === undefined) return defaults[key]
      if (typeof given !== 'number' || !Number.isSafeInteger(given) || given < 0)
        throw badLine(file, i + 1, `"${key}" must be a non-negative integer`)
      return given
    }
    const role = value.role === undefined ? defaults.role : value.role
    if (typeof role !== 'string') throw badLine(file, i + 1, '"role" must be a string')
    const version = number('version')
    if (version < 1) throw badLine(file, i + 1, '"version" must be at least 1')
    rows.set(id, {
      id,
      version,
      role,
      createdAt: number('createdAt'),
      updatedAt: number('updatedAt'),
      createdSeq: number('createdSeq'),
      data,
    })
  }
  return rows
}

export function changeLine(change: ChangeRow): string {
  const line: Record<string, unknown> = {
    seq: change.seq,
    collection: change.collection,
    id: change.id,
    op: change.op,
    version: change.version,
    role: change.role,
    at: change.at,
  }
  if (change.data !== undefined) line.data = sortKeys(change.data)
  if (change.delta !== undefined) line.delta = change.delta
  return JSON.stringify(line)
}

/** The change log's lines up to `head`; a torn or unreadable line past the head (a crashed append) is ignored. */
export function parseChanges(text: string, head: number): ChangeRow[] {
  const changes: ChangeRow[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    let change: ChangeRow
    try {
      change = JSON.parse(line) as ChangeRow
    } catch {
      continue
    }
    if (typeof change.seq !== 'number' || change.seq > head) continue
    changes.push(change)
  }
  return changes
}

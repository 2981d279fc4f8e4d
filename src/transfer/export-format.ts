import type { JsonObject, RecordRow } from '../backends/backend.js'
import type { Backend } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import { MIGRATIONS_COLLECTION } from '../migrations/runner.js'
import { SEEDS_COLLECTION } from '../store/seeds.js'
import type { StoredRecord } from '../store/collection.js'
import type { AnyData } from '../store/config.js'

/**
 * The NDJSON export format, version 2. One JSON object per line, UTF-8, LF line ends:
 *
 *   {"tandem":"export","format":2,"kind":"sqlite","collections":["tasks"],"exportedAt":"2025-01-31T12:00:00.000Z","snapshot":true,"schemaVersion":3,"fingerprint":"4f0c2a91d3b7e655","maxLineBytes":16777216}
 *   {"collection":"_migrations","id":"0000000001",…}      the store's history: migrations applied,
 *   {"collection":"_seeds","id":"tasks/welcome",…}         and seeds applied (see HISTORY_COLLECTIONS)
 *   {"collection":"tasks","id":"01J…","version":3,"createdAt":"…Z","updatedAt":"…Z","role":"app","data":{…}}
 *   …
 *   {"tandem":"end","records":{"_migrations":3,"_seeds":1,"tasks":1}}
 *
 * The first line is the header: the engine, the collections, the store's schema version (its
 * highest applied migration), the exporting definition's fingerprint, and the longest line the
 * export allowed itself. The history lines come next, then the records collection by collection,
 * in id order. The end line counts every line per collection so an import notices a file that was
 * cut short. Hand-written files may leave out header and end line: then every line is a record.
 * Format 1 (before the history lines and the schema fields) is still read.
 */
export const EXPORT_FORMAT = 2
/** The formats this version reads. */
export const READABLE_FORMATS: readonly number[] = [1, 2]

/** The internal collections an export carries: the migration history, then the seeds applied (as copyStore does). */
export const HISTORY_COLLECTIONS = [MIGRATIONS_COLLECTION, SEEDS_COLLECTION] as const
export type HistoryCollection = (typeof HISTORY_COLLECTIONS)[number]

export function isHistoryCollection(name: string): name is HistoryCollection {
  return (HISTORY_COLLECTIONS as readonly string[]).includes(name)
}

/**
 * The highest version an imported record may have: 2^52, so that however often it is updated
 * afterwards, versions stay exact integers (Number.MAX_SAFE_INTEGER is 2^53 - 1).
 */
export const MAX_IMPORTED_VERSION = 2 ** 52

/** The first line of an export. */
export interface ExportHeader {
  tandem: 'export'
  /** EXPORT_FORMAT when written by this version; an import also reads the READABLE_FORMATS. */
  format: number
  /** The engine of the exported store. */
  kind: Backend['kind']
  collections: string[]
  /** ISO 8601, UTC. */
  exportedAt: string
  /** True when every record comes from one read snapshot; false when each page was read on its own. */
  snapshot: boolean
  /** The store's schema version when exported: its highest applied migration (0: none). Absent in format 1. */
  schemaVersion?: number
  /** The fingerprint of the exporting process's definition (`store.fingerprint`). Absent in format 1. */
  fingerprint?: string
  /** No line of the export is longer than this many bytes; an import raises its own limit to it. Absent in format 1. */
  maxLineBytes?: number
}

/** The last line of an export: an import compares its counts with the records it read. */
export interface ExportEnd {
  tandem: 'end'
  /** Records written, per collection. */
  records: Record<string, number>
}

/** One exported record: the record as every process reads it, and its collection. */
export interface ExportedRecord<T = AnyData> extends StoredRecord<T> {
  collection: string
}

const RECORD_KEYS = ['collection', 'id', 'version', 'createdAt', 'updatedAt', 'role', 'data'] as const

/** The record with its collection, keys in format order. */
export function toExportedRecord<T = AnyData>(collection: string, row: RecordRow): ExportedRecord<T> {
  return {
    collection,
    id: row.id,
    version: row.version,
    createdAt: isoTime(row.createdAt, 'createdAt', collection, row.id),
    updatedAt: isoTime(row.updatedAt, 'updatedAt', collection, row.id),
    role: row.role,
    data: row.data as T,
  }
}

/** A stored time as export writes it; a value no Date can hold (an import before validation let it in) is named instead of a bare RangeError. */
function isoTime(ms: number, field: string, collection: string, id: string): string {
  const date = new Date(ms)
  if (Number.isFinite(date.getTime())) return date.toISOString()
  throw new TandemError(
    'INVALID_DATA',
    `Record ${collection}/${id} holds ${field} ${String(ms)}, which is not a time a Date can hold, so it cannot be exported.`,
    {
      collection,
      id,
      hint: `Write the record again with the store's API (replace or delete it), then export again.`,
    },
  )
}

/** One record line, without the newline. */
export function recordLine(collection: string, row: RecordRow): string {
  return JSON.stringify(toExportedRecord(collection, row))
}

/** What one line of an export holds. */
export type ParsedLine =
  { kind: 'header'; header: ExportHeader } | { kind: 'end'; end: ExportEnd } | { kind: 'record'; collection: string; row: RecordRow }

function malformed(
  problem: string,
  hint = 'Each line must be one JSON object: {"collection", "id", "version", "createdAt", "updatedAt", "role", "data"}.',
): TandemError {
  return new TandemError('INVALID_DATA', problem, { hint })
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM): what export writes (always Z, milliseconds), and ISO 8601 with an explicit zone. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/

/**
 * Milliseconds since 1970 of an ISO 8601 date and time with a zone, whose UTC year is 0000 to 9999
 * (what every process reads back as the same ISO text). Anything else — a number, a date without
 * a time or zone, a day that does not exist, a year a Date cannot hold — is refused: the store
 * would keep a value that find() and export cannot turn back into a date.
 */
function time(value: unknown, field: string): number {
  const refuse = () =>
    malformed(
      `"${field}" must be an ISO 8601 date and time with a zone, like "2025-01-31T12:00:00.000Z", with a year from 0000 to 9999 (got ${JSON.stringify(value)?.slice(0, 60)}).`,
    )
  const match = typeof value === 'string' ? ISO_TIME.exec(value) : null
  if (match === null) throw refuse()
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const ms = Number((match[7] ?? '0').padEnd(3, '0').slice(0, 3))
  const offset = match[8] === 'Z' ? 0 : (match[9] === '-' ? -1 : 1) * (Number(match[10]) * 60 + Number(match[11]))
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || Math.abs(offset) > 23 * 60 + 59) throw refuse()
  // setUTCFullYear, not Date.UTC: Date.UTC takes years 0-99 for 1900-1999.
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  if (date.getUTCDate() !== day) throw refuse() // February 30th rolled over into March
  date.setUTCHours(hour, minute, second, ms)
  const utc = date.getTime() - offset * 60_000
  const utcYear = new Date(utc).getUTCFullYear()
  if (!Number.isFinite(utc) || utcYear < 0 || utcYear > 9999) throw refuse()
  return utc
}

/**
 * Parses one line: JSON, then the shape of a header, an end line or a record. Checks only the
 * envelope (keys, types); the record's id, role and data are checked by the importer like any
 * write. Throws INVALID_DATA describing the problem (the caller adds the line number).
 */
export function parseLine(text: string): ParsedLine {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw Object.assign(malformed(`The line is not valid JSON (${(error as Error).message}).`), { cause: error })
  }
  if (!isObject(value))
    throw malformed(`The line is ${Array.isArray(value) ? 'an array' : JSON.stringify(value)?.slice(0, 40)}, not a JSON object.`)
  if (Object.hasOwn(value, 'tandem')) return parseMarker(value)
  for (const key of Object.keys(value)) {
    // JSON.parse makes "__proto__" an own key: it lands here like any unknown key.
    if (!(RECORD_KEYS as readonly string[]).includes(key))
      throw malformed(`The record has an unknown field "${key}"; a record line holds only ${RECORD_KEYS.join(', ')}.`)
  }
  for (const key of RECORD_KEYS) if (!Object.hasOwn(value, key)) throw malformed(`The record has no "${key}".`)
  const { collection, id, version, role, data } = value
  if (typeof collection !== 'string') throw malformed(`"collection" must be a string (got ${JSON.stringify(collection)}).`)
  if (typeof id !== 'string') throw malformed(`"id" must be a string (got ${JSON.stringify(id)}).`)
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > MAX_IMPORTED_VERSION) {
    throw malformed(
      `"version" must be a positive integer, at most ${MAX_IMPORTED_VERSION} so that later updates still count exactly (got ${JSON.stringify(version)}).`,
    )
  }
  if (typeof role !== 'string') throw malformed(`"role" must be a string (got ${JSON.stringify(role)}).`)
  if (!isObject(data))
    throw malformed(`"data" must be a JSON object (got ${Array.isArray(data) ? 'an array' : JSON.stringify(data)?.slice(0, 40)}).`)
  const createdAt = time(value.createdAt, 'createdAt')
  const updatedAt = time(value.updatedAt, 'updatedAt')
  return { kind: 'record', collection, row: { id, version, createdAt, updatedAt, role, data: data as JsonObject } }
}

const HEADER_HINT = 'The header is the first line exportStore writes; export the store again rather than editing it.'

function parseMarker(value: Record<string, unknown>): ParsedLine {
  if (value.tandem === 'export') {
    if (!READABLE_FORMATS.includes(value.format as number)) {
      throw malformed(
        `The export is in format ${JSON.stringify(value.format)}; this version of Tandem reads formats ${READABLE_FORMATS.join(' and ')}.`,
        'Import it with the Tandem version that wrote it, or a newer one.',
      )
    }
    const { schemaVersion, fingerprint, maxLineBytes } = value
    if (schemaVersion !== undefined && !(Number.isSafeInteger(schemaVersion) && (schemaVersion as number) >= 0))
      throw malformed(`The header's "schemaVersion" must be a non-negative integer (got ${JSON.stringify(schemaVersion)}).`, HEADER_HINT)
    if (fingerprint !== undefined && typeof fingerprint !== 'string')
      throw malformed(`The header's "fingerprint" must be a string (got ${JSON.stringify(fingerprint)}).`, HEADER_HINT)
    if (maxLineBytes !== undefined && !(Number.isSafeInteger(maxLineBytes) && (maxLineBytes as number) >= 1))
      throw malformed(`The header's "maxLineBytes" must be a positive integer (got ${JSON.stringify(maxLineBytes)}).`, HEADER_HINT)
    return { kind: 'header', header: value as unknown as ExportHeader }
  }
  if (value.tandem === 'end') {
    const records = value.records
    if (!isObject(records) || Object.values(records).some((n) => !Number.isSafeInteger(n)))
      throw malformed('The end line must count records per collection: {"tandem":"end","records":{"tasks":12}}.')
    return { kind: 'end', end: { tandem: 'end', records: records as Record<string, number> } }
  }
  throw malformed(`"tandem" is ${JSON.stringify(value.tandem)}; only the header ("export") and the end line ("end") carry it.`)
}

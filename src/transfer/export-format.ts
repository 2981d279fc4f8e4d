import type { JsonObject, RecordRow } from '../backends/backend.js'
import type { Backend } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import type { StoredRecord } from '../store/collection.js'
import type { AnyData } from '../store/config.js'

/**
 * The NDJSON export format, version 1. One JSON object per line, UTF-8, LF line ends:
 *
 *   {"tandem":"export","format":1,"kind":"sqlite","collections":["tasks"],"exportedAt":"2025-01-31T12:00:00.000Z","snapshot":true}
 *   {"collection":"tasks","id":"01J…","version":3,"createdAt":"…Z","updatedAt":"…Z","role":"app","data":{…}}
 *   …
 *   {"tandem":"end","records":{"tasks":1}}
 *
 * The first line is the header; the last one, the end line, counts the records per collection so
 * an import notices a file that was cut short. Records come collection by collection, in id order.
 * Hand-written files may leave out both header and end line: then every line is a record.
 */
export const EXPORT_FORMAT = 1

/** The first line of an export. */
export interface ExportHeader {
  tandem: 'export'
  format: typeof EXPORT_FORMAT
  /** The engine of the exported store. */
  kind: Backend['kind']
  collections: string[]
  /** ISO 8601, UTC. */
  exportedAt: string
  /** True when every record comes from one read snapshot; false when each page was read on its own. */
  snapshot: boolean
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
    createdAt: new Date(row.createdAt).toISOString(),
    updatedAt: new Date(row.updatedAt).toISOString(),
    role: row.role,
    data: row.data as T,
  }
}

/** One record line, without the newline. */
export function recordLine(collection: string, row: RecordRow): string {
  return JSON.stringify(toExportedRecord(collection, row))
}

/** What one line of an export holds. */
export type ParsedLine = { kind: 'header'; header: ExportHeader } | { kind: 'end'; end: ExportEnd } | { kind: 'record'; collection: string; row: RecordRow }

function malformed(problem: string, hint = 'Each line must be one JSON object: {"collection", "id", "version", "createdAt", "updatedAt", "role", "data"}.'): TandemError {
  return new TandemError('INVALID_DATA', problem, { hint })
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function time(value: unknown, field: string): number {
  const ms = typeof value === 'string' ? Date.parse(value) : typeof value === 'number' && Number.isInteger(value) ? value : Number.NaN
  if (!Number.isFinite(ms)) throw malformed(`"${field}" must be an ISO 8601 date string (got ${JSON.stringify(value)?.slice(0, 60)}).`)
  return ms
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
  if (!isObject(value)) throw malformed(`The line is ${Array.isArray(value) ? 'an array' : JSON.stringify(value)?.slice(0, 40)}, not a JSON object.`)
  if (Object.hasOwn(value, 'tandem')) return parseMarker(value)
  for (const key of Object.keys(value)) {
    // JSON.parse makes "__proto__" an own key: it lands here like any unknown key.
    if (!(RECORD_KEYS as readonly string[]).includes(key)) throw malformed(`The record has an unknown field "${key}"; a record line holds only ${RECORD_KEYS.join(', ')}.`)
  }
  for (const key of RECORD_KEYS) if (!Object.hasOwn(value, key)) throw malformed(`The record has no "${key}".`)
  const { collection, id, version, role, data } = value
  if (typeof collection !== 'string') throw malformed(`"collection" must be a string (got ${JSON.stringify(collection)}).`)
  if (typeof id !== 'string') throw malformed(`"id" must be a string (got ${JSON.stringify(id)}).`)
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) throw malformed(`"version" must be a positive integer (got ${JSON.stringify(version)}).`)
  if (typeof role !== 'string') throw malformed(`"role" must be a string (got ${JSON.stringify(role)}).`)
  if (!isObject(data)) throw malformed(`"data" must be a JSON object (got ${Array.isArray(data) ? 'an array' : JSON.stringify(data)?.slice(0, 40)}).`)
  const createdAt = time(value.createdAt, 'createdAt')
  const updatedAt = time(value.updatedAt, 'updatedAt')
  return { kind: 'record', collection, row: { id, version, createdAt, updatedAt, role, data: data as JsonObject } }
}

function parseMarker(value: Record<string, unknown>): ParsedLine {
  if (value.tandem === 'export') {
    if (value.format !== EXPORT_FORMAT) {
      throw malformed(`The export is in format ${JSON.stringify(value.format)}; this version of Tandem reads format ${EXPORT_FORMAT}.`, 'Import it with the Tandem version that wrote it, or a newer one.')
    }
    return { kind: 'header', header: value as unknown as ExportHeader }
  }
  if (value.tandem === 'end') {
    const records = value.records
    if (!isObject(records) || Object.values(records).some((n) => !Number.isSafeInteger(n))) throw malformed('The end line must count records per collection: {"tandem":"end","records":{"tasks":12}}.')
    return { kind: 'end', end: { tandem: 'end', records: records as Record<string, number> } }
  }
  throw malformed(`"tandem" is ${JSON.stringify(value.tandem)}; only the header ("export") and the end line ("end") carry it.`)
}

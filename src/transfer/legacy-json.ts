import { readFile, stat } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import type { JsonObject } from '../backends/backend.js'
import { refuseStoreFiles, sqliteStoreFile } from '../store/store-file.js'
import { TandemError } from '../errors.js'
import { checkCollectionFilter, type CollectionsConfig } from '../store/config.js'
import { newId } from '../store/ids.js'
import type { Store } from '../store/store.js'
import { ImportError, type ImportLocation } from './import-error.js'
import { checkDryRun, checkOptionKeys, runImport, type ImportResult } from './import-run.js'
import { checkConflictPolicy, checkImportCollection, type ImportTargetOptions } from './import-sink.js'

/** importJsonFile's options: the file, where its records are, the target collection, the conflict policy. */
export interface ImportJsonFileOptions extends ImportTargetOptions {
  /** The JSON file: an array of records, or an object of id → record. */
  file: string
  /** The collection the records go to. */
  collection: string
  /** The top-level field holding the records, for files like lowdb's { "posts": [...], "users": [...] }. Default: the whole file. */
  key?: string
  /** In an array: the field holding each record's id (default 'id'), moved out of its data. Items without one get a new id. */
  idField?: string
  dryRun?: boolean
  /** Larger files are refused (default 256 MiB): the file is parsed whole, legacy JSON stores are small. */
  maxBytes?: number
}

const OPTION_KEYS = ['file', 'collection', 'key', 'idField', 'onConflict', 'dryRun', 'allowUndeclared', 'maxBytes']
/** The largest JSON file importJsonFile parses when `maxBytes` is not given. */
export const DEFAULT_MAX_JSON_BYTES = 256 * 1024 * 1024

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Imports a JSON file of records into one collection: an array (`[{ "id": 1, "title": "a" }, ...]`,
 * the id taken from `idField`) or an object of id → record (`{ "a1": { "title": "a" } }`),
 * optionally under a top-level `key`. Records start at version 1, stamped now, with this process's
 * role. One write transaction with the same checks and conflict policy as importStore: an item
 * that fails stops the import with an ImportError naming it, and the store is left as it was.
 * Unlike NDJSON, the file is parsed whole (up to `maxBytes`): convert large ones to NDJSON first.
 *
 * @example
 * await importJsonFile(store, { file: 'db.json', key: 'posts', collection: 'posts', onConflict: 'skip' })
 */
export async function importJsonFile<C extends CollectionsConfig>(store: Store<C>, options: ImportJsonFileOptions): Promise<ImportResult> {
  if (typeof options !== 'object' || options === null)
    throw new TypeError("importJsonFile needs options like { file: 'db.json', collection: 'posts', onConflict: 'fail' }.")
  checkOptionKeys('importJsonFile', options, OPTION_KEYS)
  const onConflict = checkConflictPolicy(options.onConflict)
  const dryRun = checkDryRun(options.dryRun)
  if (typeof options.file !== 'string' || options.file === '')
    throw new TypeError(`file must be the path of a JSON file (got ${JSON.stringify(options.file)}).`)
  const collection = checkCollectionFilter({ collections: [options.collection] })!.collections![0]!
  const idField = options.idField ?? 'id'
  if (typeof idField !== 'string' || idField === '') throw new TypeError(`idField must be a field name (got ${JSON.stringify(idField)}).`)
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_JSON_BYTES
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer (got ${String(maxBytes)}).`)

  checkImportCollection(store, collection, options.allowUndeclared ?? false)
  const file = resolve(options.file)
  refuseStoreFiles(file, sqliteStoreFile(store), 'JSON file')
  const name = basename(file)
  const size = (await stat(file)).size
  if (size > maxBytes)
    throw new RangeError(
      `${name} is ${size} bytes, more than maxBytes (${maxBytes}); JSON files are parsed whole. Convert it to NDJSON and use importStore, or raise maxBytes.`,
    )
  const records = selectRecords(parseFile(await readFile(file, 'utf8'), name), options.key, name)

  return runImport(store, { onConflict, dryRun, allowUndeclared: options.allowUndeclared ?? false }, async (sink) => {
    const now = Date.now()
    const entries: Iterable<[string | number, unknown]> = Array.isArray(records) ? records.entries() : Object.entries(records)
    for (const [position, item] of entries) {
      const where: ImportLocation = {
        text: Array.isArray(records) ? `item ${position} of ${name}` : `key ${JSON.stringify(position)} of ${name}`,
      }
      if (!isObject(item))
        throw new ImportError(
          'INVALID_DATA',
          where,
          `The record is ${Array.isArray(item) ? 'an array' : JSON.stringify(item)?.slice(0, 40)}, not an object.`,
        )
      const { id, data } = Array.isArray(records) ? splitId(item, idField, where) : { id: String(position), data: item as JsonObject }
      await sink.put(collection, { id, version: 1, createdAt: now, updatedAt: now, role: store.role, data }, where)
    }
    return { ignored: 0 }
  })
}

function parseFile(text: string, name: string): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
  } catch (error) {
    throw new TandemError('INVALID_DATA', `${name} is not valid JSON (${(error as Error).message}); nothing was imported.`, {
      cause: error,
      hint: 'Check the file with a JSON validator.',
    })
  }
}

function selectRecords(parsed: unknown, key: string | undefined, name: string): unknown[] | Record<string, unknown> {
  let value = parsed
  if (key !== undefined) {
    if (!isObject(parsed) || !Object.hasOwn(parsed, key))
      throw new TandemError('INVALID_DATA', `${name} has no top-level field "${key}".`, {
        hint: `Its top-level fields: ${isObject(parsed) ? Object.keys(parsed).join(', ') : '(not an object)'}.`,
      })
    value = parsed[key]
  }
  if (Array.isArray(value) || isObject(value)) return value
  throw new TandemError(
    'INVALID_DATA',
    `${name}${key === undefined ? '' : ` at "${key}"`} holds ${JSON.stringify(value)?.slice(0, 40)}, not an array or an object of records.`,
    {
      hint: 'Point key at the array or object that holds the records.',
    },
  )
}

/** The item's id (a string, or an integer written as a string) and its data without the id field. */
function splitId(item: Record<string, unknown>, idField: string, where: ImportLocation): { id: string; data: JsonObject } {
  const { [idField]: raw, ...data } = item
  if (raw === undefined || raw === null) return { id: newId(), data: data as JsonObject }
  if (typeof raw === 'string') return { id: raw, data: data as JsonObject }
  if (typeof raw === 'number' && Number.isSafeInteger(raw)) return { id: String(raw), data: data as JsonObject }
  throw new ImportError(
    'INVALID_DATA',
    where,
    `Its "${idField}" is ${JSON.stringify(raw)?.slice(0, 40)}; an id must be a string or an integer.`,
    { hint: 'Pass idField to use another field as the id.' },
  )
}

import Database from 'better-sqlite3'
import { basename, resolve } from 'node:path'
import type { JsonObject } from '../backends/backend.js'
import { translateSqliteError } from '../backends/sqlite/sqlite-errors.js'
import { TandemError } from '../errors.js'
import { checkCollectionFilter, type CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'
import { ImportError, type ImportLocation } from './import-error.js'
import { checkDryRun, checkOptionKeys, runImport, type ImportResult } from './import-run.js'
import { checkConflictPolicy, checkImportCollection, type ImportTargetOptions } from './import-sink.js'

/** How the rows of one table become records. */
export interface SqliteTableMapping {
  /** The collection the rows go to (declared in the store, unless allowUndeclared). */
  collection: string
  /** The column holding each row's id. Default: the table's one primary-key column, else its rowid. */
  id?: string
  /** TEXT columns that hold JSON (sql.js apps often store objects that way): parsed into the data. */
  json?: readonly string[]
}

/** importSqliteTables' options: the file, the table mappings, the conflict policy. */
export interface ImportSqliteTablesOptions extends ImportTargetOptions {
  /** The SQLite database file to read (opened read-only, e.g. one sql.js wrote with db.export()). */
  file: string
  /** Table name → mapping. Tables are imported in this order. */
  tables: Record<string, SqliteTableMapping>
  dryRun?: boolean
  /** BLOB values: 'refuse' (default: the import stops, naming the row) or 'base64' (stored as a base64 string). */
  blobs?: 'refuse' | 'base64'
}

const OPTION_KEYS = ['file', 'tables', 'onConflict', 'dryRun', 'allowUndeclared', 'blobs']
const MAPPING_KEYS = ['collection', 'id', 'json']
/** Alias of the id column in the SELECT: unlikely to collide with a real column. */
const ID_ALIAS = '__tandem_import_id'

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`
}

interface TablePlan {
  table: string
  mapping: SqliteTableMapping
  /** The id column, or undefined for the rowid. */
  idColumn: string | undefined
  json: Set<string>
}

/**
 * Imports tables of an existing SQLite database (for example the file a sql.js app saved) into
 * collections: each row becomes a record whose id is the row's id column (default: the primary
 * key, or the rowid) as a string, and whose data holds the other columns (INTEGER and REAL as
 * numbers, TEXT as strings, NULL as null, `json` columns parsed). Records start at version 1,
 * stamped now, with this process's role. All tables go in one write transaction with the same
 * checks and conflict policy as importStore: a row that fails stops the import with an
 * ImportError naming its table and id, and the store is left as it was. The file is read a row at
 * a time, through SQLite, read-only.
 *
 * @example
 * await importSqliteTables(store, {
 *   file: 'legacy/app.sqlite',
 *   tables: { projects: { collection: 'projects' }, sessions: { collection: 'sessions', json: ['meta'] } },
 *   onConflict: 'fail',
 * })
 */
export async function importSqliteTables<C extends CollectionsConfig>(
  store: Store<C>,
  options: ImportSqliteTablesOptions,
): Promise<ImportResult> {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(
      "importSqliteTables needs options like { file: 'old.sqlite', tables: { projects: { collection: 'projects' } }, onConflict: 'fail' }.",
    )
  checkOptionKeys('importSqliteTables', options, OPTION_KEYS)
  const onConflict = checkConflictPolicy(options.onConflict)
  const dryRun = checkDryRun(options.dryRun)
  const blobs = options.blobs ?? 'refuse'
  if (blobs !== 'refuse' && blobs !== 'base64') throw new RangeError(`blobs must be 'refuse' or 'base64' (got ${JSON.stringify(blobs)}).`)
  if (typeof options.file !== 'string' || options.file === '')
    throw new TypeError(`file must be the path of an SQLite database (got ${JSON.stringify(options.file)}).`)
  if (typeof options.tables !== 'object' || options.tables === null || Object.keys(options.tables).length === 0) {
    throw new TypeError('tables must map at least one table name to { collection }, like { projects: { collection: "projects" } }.')
  }
  for (const [table, mapping] of Object.entries(options.tables)) {
    checkMapping(table, mapping)
    checkImportCollection(store, mapping.collection, options.allowUndeclared ?? false)
  }
  const file = resolve(options.file)
  let db: Database.Database
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
  } catch (error) {
    throw translateSqliteError(error)
  }
  try {
    // Integers beyond 2^53 would silently lose digits as numbers: read them as BigInt and check.
    db.defaultSafeIntegers(true)
    const plans = Object.entries(options.tables).map(([table, mapping]) => planTable(db, table, mapping))
    const name = basename(file)
    return await runImport(store, { onConflict, dryRun, allowUndeclared: options.allowUndeclared ?? false }, async (sink) => {
      const now = Date.now()
      for (const plan of plans) {
        const idExpr = plan.idColumn === undefined ? '_rowid_' : quote(plan.idColumn)
        const rows = db
          .prepare(`SELECT ${idExpr} AS ${ID_ALIAS}, * FROM ${quote(plan.table)} ORDER BY ${idExpr}`)
          .iterate() as IterableIterator<Record<string, unknown>>
        for (const row of rows) {
          const rawId = row[ID_ALIAS]
          const where: ImportLocation = { text: `table "${plan.table}" of ${name}, row ${describeValue(rawId)}` }
          const id = rowId(rawId, where)
          const data = rowData(row, plan, blobs, where)
          await sink.put(plan.mapping.collection, { id, version: 1, createdAt: now, updatedAt: now, role: store.role, data }, where)
        }
      }
      return { ignored: 0 }
    })
  } finally {
    db.close()
  }
}

function checkMapping(table: string, mapping: SqliteTableMapping): void {
  if (typeof mapping !== 'object' || mapping === null)
    throw new TypeError(`tables.${table} must be an object like { collection: "${table}" }.`)
  checkOptionKeys(`tables.${table}`, mapping, MAPPING_KEYS)
  checkCollectionFilter({ collections: [mapping.collection] })
  if (mapping.json !== undefined && (!Array.isArray(mapping.json) || mapping.json.some((c) => typeof c !== 'string')))
    throw new TypeError(`tables.${table}.json must be an array of column names.`)
}

function planTable(db: Database.Database, table: string, mapping: SqliteTableMapping): TablePlan {
  const exists = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table) !== undefined
  if (!exists) {
    const tables = (
      db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all() as {
        name: string
      }[]
    ).map((t) => t.name)
    throw new TandemError(
      'UNKNOWN_COLLECTION',
      `Table "${table}" does not exist in the database. Its tables: ${tables.join(', ') || '(none)'}.`,
      { hint: 'Check the table names in tables: { ... }.' },
    )
  }
  const columns = db.prepare(`PRAGMA table_info(${quote(table)})`).all() as { name: string; pk: number | bigint }[]
  const names = columns.map((c) => c.name)
  for (const column of [...(mapping.id === undefined ? [] : [mapping.id]), ...(mapping.json ?? [])]) {
    if (!names.includes(column)) throw new TypeError(`Table "${table}" has no column "${column}"; its columns are ${names.join(', ')}.`)
  }
  const keys = columns.filter((c) => Number(c.pk) > 0)
  if (mapping.id === undefined && keys.length > 1) {
    throw new TypeError(
      `Table "${table}" has a primary key of ${keys.length} columns (${keys.map((k) => k.name).join(', ')}); say which column holds the record id: tables.${table}.id.`,
    )
  }
  return { table, mapping, idColumn: mapping.id ?? keys[0]?.name, json: new Set(mapping.json ?? []) }
}

function describeValue(value: unknown): string {
  return typeof value === 'bigint' ? value.toString() : (JSON.stringify(value) ?? String(value))
}

function rowId(value: unknown, where: ImportLocation): string {
  if (typeof value === 'bigint' || typeof value === 'number') return value.toString()
  if (typeof value === 'string') return value
  throw new ImportError(
    'INVALID_DATA',
    where,
    `The row's id is ${value === null ? 'NULL' : 'not a number or text'}; every record needs an id.`,
    { hint: 'Choose another id column with tables.<table>.id.' },
  )
}

function rowData(row: Record<string, unknown>, plan: TablePlan, blobs: 'refuse' | 'base64', where: ImportLocation): JsonObject {
  const data: JsonObject = {}
  for (const [column, value] of Object.entries(row)) {
    if (column === ID_ALIAS || column === plan.idColumn) continue
    const fail = (problem: string, hint: string) => new ImportError('INVALID_DATA', where, `Column "${column}" ${problem}`, { hint })
    let converted: unknown
    if (typeof value === 'bigint') {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
        throw fail(
          `holds ${value}, beyond the integers JSON numbers keep exactly (2^53).`,
          'Store it as TEXT in the source, or drop the column.',
        )
      converted = Number(value)
    } else if (Buffer.isBuffer(value)) {
      if (blobs === 'refuse') throw fail('holds a BLOB, which JSON cannot store.', "Pass blobs: 'base64' to store BLOBs as base64 strings.")
      converted = value.toString('base64')
    } else if (plan.json.has(column) && typeof value === 'string') {
      try {
        converted = JSON.parse(value)
      } catch (error) {
        throw new ImportError(
          'INVALID_DATA',
          where,
          `Column "${column}" is listed in json but does not hold valid JSON (${(error as Error).message}).`,
          { cause: error, hint: `Remove "${column}" from tables.${plan.table}.json, or fix the value.` },
        )
      }
    } else {
      converted = value
    }
    // defineProperty: a column named "__proto__" becomes a plain key, which checkData then refuses.
    Object.defineProperty(data, column, { value: converted, enumerable: true, writable: true, configurable: true })
  }
  return data
}

import type { CollectionLayout, Condition, Query } from '../backend.js'
import { ROW_COLUMNS, compileCount, compileFind, fieldSql } from './sqlite-query.js'

/**
 * SQL text for the SQLite backend. Identifiers come only from validated collection names and
 * field paths (see `FIELD_SEGMENT`); every value is a `?` parameter.
 */

export const META_TABLE = '_tandem_meta'
export const CHANGES_TABLE = '_tandem_changes'
export const FORMAT_VERSION = '1'
export const TRIMMED_THROUGH_KEY = 'changes_trimmed_through'

/**
 * seq is the rowid: max + 1 on insert, in commit order since writes are serialized. Retention
 * never deletes the newest entry, so the maximum — and with it every future seq — never goes back.
 * (AUTOINCREMENT would guarantee that too, at the price of one more page written per commit.)
 * data has no json_valid CHECK: it is the very text just written to the record's table, which
 * has one; checking it twice cost about 5% of an insert.
 */
export const CREATE_CHANGES_SQL = `CREATE TABLE IF NOT EXISTS ${CHANGES_TABLE} (
    seq INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete', 'trim')),
    version INTEGER NOT NULL,
    role TEXT NOT NULL,
    at INTEGER NOT NULL,
    data TEXT,
    delta TEXT
  ) STRICT`

/**
 * The column of reverse deltas (history: { keep: 'diff' }, see change-history.ts), added on open to
 * a log made before it. A read-only open of such a log reads NULL in its place (readChangesSql).
 */
export const ADD_DELTA_COLUMN_SQL = `ALTER TABLE ${CHANGES_TABLE} ADD COLUMN delta TEXT`
export const HAS_DELTA_COLUMN_SQL = `SELECT 1 FROM pragma_table_info('${CHANGES_TABLE}') WHERE name = 'delta'`

/**
 * Coalescing (? = the record's previous seq, its collection and id): an entry without a copy only
 * says "this record changed, read it", so when the record changes again its previous entry says
 * nothing the new one does not, and the write that appends the new one deletes it, in the same
 * transaction. The log then holds about one entry per record, not one per write. A record row
 * keeps the seq of its latest entry (column seq), so the previous entry is found by its rowid: no
 * index, no page written beyond the ones the write touches anyway. The collection and id are
 * checked too: a seq a foreign writer left stale never deletes another record's entry. Run after
 * the append, never before: deleting the newest entry first would let the append reuse its seq
 * (seq is max + 1).
 */
export const COALESCE_CHANGE_SQL = `DELETE FROM ${CHANGES_TABLE} WHERE seq = ? AND collection = ? AND id = ? AND data IS NULL AND delta IS NULL`

export const CHANGE_HEAD_SQL = `SELECT coalesce(max(seq), 0) AS head FROM ${CHANGES_TABLE}`

/**
 * How far retention may trim the change log by age (? = the cutoff): the entries before the first
 * one at or after the cutoff, among the oldest 10,000; all of those when none is that young.
 */
export const AGED_THROUGH_SQL = `WITH w AS (SELECT seq, at FROM ${CHANGES_TABLE} ORDER BY seq LIMIT 10000)
  SELECT coalesce((SELECT min(seq) FROM w WHERE at >= ?) - 1, (SELECT max(seq) FROM w)) AS seq`

export const TRIMMED_THROUGH_SQL = `SELECT value FROM ${META_TABLE} WHERE key = '${TRIMMED_THROUGH_KEY}'`

/** The change-log append of one write (seq is the rowid: given out by the insert). */
export const APPEND_CHANGE_SQL = `INSERT INTO ${CHANGES_TABLE} (collection, id, op, version, role, at, data, delta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

export const HAS_TABLE_SQL = `SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?`

/** The collections that have a table, internal ones included, by name. */
export const LIST_COLLECTIONS_SQL = `SELECT substr(name, 3) AS name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'c\\_%' ESCAPE '\\' ORDER BY name`

export function readChangesSql(filter: { collections?: readonly string[]; ids?: readonly string[] } | undefined, hasDelta = true): string {
  let sql = `SELECT seq, collection, id, op, version, role, at, data, ${hasDelta ? 'delta' : 'NULL AS delta'} FROM ${CHANGES_TABLE} WHERE seq > ?`
  if (filter?.collections !== undefined) sql += ` AND collection IN (${filter.collections.map(() => '?').join(', ')})`
  if (filter?.ids !== undefined) sql += ` AND id IN (${filter.ids.map(() => '?').join(', ')})`
  return `${sql} ORDER BY seq LIMIT ?`
}

/** The entries of some records of one collection (? = collection, a JSON array of ids, the first seq): the chains of deltas a read rebuilds. */
export const DELTA_CHAINS_SQL = `SELECT seq, collection, id, op, version, role, at, data, delta FROM ${CHANGES_TABLE}
  WHERE collection = ? AND id IN (SELECT value FROM json_each(?)) AND seq >= ? ORDER BY seq`

/** The entries of the collections whose history is bounded (? = a JSON array of names), what historyToPrune looks at. */
export const HISTORY_ENTRIES_SQL = `SELECT seq, collection, id, op, at FROM ${CHANGES_TABLE} WHERE collection IN (SELECT value FROM json_each(?)) ORDER BY seq`

/** Removes entries by seq (? = a JSON array of seqs). */
export const DELETE_CHANGES_BY_SEQ_SQL = `DELETE FROM ${CHANGES_TABLE} WHERE seq IN (SELECT value FROM json_each(?))`

/** A collection's records by id (? = a JSON array of ids): the feed's lookup of a batch's data. */
export function recordsByIdSql(collection: string): string {
  return `SELECT id, version, data FROM ${tableName(collection)} WHERE id IN (SELECT value FROM json_each(?))`
}

export function tableName(collection: string): string {
  return `"c_${collection}"`
}

/**
 * The statements of a record write or read, by table: prepared once per connection (see
 * SqliteConnection). The writes set seq, the seq of the change-log entry the write appends next
 * (see COALESCE_CHANGE_SQL); update and delete first read the one they replace.
 */
export type RowStatement = 'get' | 'insert' | 'update' | 'delete' | 'seq'
export const ROW_SQL: Record<RowStatement, (table: string) => string> = {
  get: (table) => `SELECT ${ROW_COLUMNS} FROM ${table} WHERE id = ?`,
  insert: (table) => `INSERT INTO ${table} (id, version, created_at, updated_at, role, data, seq) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  update: (table) => `UPDATE ${table} SET version = ?, updated_at = ?, role = ?, data = ?, seq = ? WHERE id = ?`,
  delete: (table) => `DELETE FROM ${table} WHERE id = ? RETURNING seq`,
  seq: (table) => `SELECT seq FROM ${table} WHERE id = ?`,
}

/** Whether a record table has the seq column (tables made before coalescing get it on open: addSeqColumnSql). */
export function hasSeqColumnSql(collection: string): string {
  return `SELECT 1 FROM pragma_table_info('c_${collection}') WHERE name = 'seq'`
}

/** Corrects a record's seq when its append did not take the seq expected (see SqliteWriteTx.appendChange). */
export function setSeqSql(collection: string): string {
  return `UPDATE ${tableName(collection)} SET seq = ? WHERE id = ?`
}

export function addSeqColumnSql(collection: string): string {
  return `ALTER TABLE ${tableName(collection)} ADD COLUMN seq INTEGER`
}

export function createTableSql(collection: string): string {
  return `CREATE TABLE IF NOT EXISTS ${tableName(collection)} (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    role TEXT NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data)),
    seq INTEGER
  ) STRICT`
}

export function indexName(collection: string, path: readonly string[]): string {
  return `"ix:${collection}:${path.join('.')}"`
}

export function createIndexSql(layout: CollectionLayout, path: readonly string[]): string {
  return `CREATE INDEX IF NOT EXISTS ${indexName(layout.name, path)} ON ${tableName(layout.name)} (${fieldSql({ kind: 'data', path })}, id)`
}

export function findSql(collection: string, query: Query): { sql: string; params: unknown[] } {
  return compileFind(tableName(collection), query)
}

export function countSql(collection: string, conditions: readonly Condition[]): { sql: string; params: unknown[] } {
  return compileCount(tableName(collection), conditions)
}

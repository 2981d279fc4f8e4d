import type { CollectionLayout, Condition, FieldRef, Query, Scalar } from '../backend.js'
import { encodeWtf8, isWellFormedText } from './sqlite-text.js'

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
    data TEXT
  ) STRICT`

export const CHANGE_HEAD_SQL = `SELECT coalesce(max(seq), 0) AS head FROM ${CHANGES_TABLE}`

/**
 * How far retention may trim the change log by age (? = the cutoff): the entries before the first
 * one at or after the cutoff, among the oldest 10,000; all of those when none is that young.
 */
export const AGED_THROUGH_SQL = `WITH w AS (SELECT seq, at FROM ${CHANGES_TABLE} ORDER BY seq LIMIT 10000)
  SELECT coalesce((SELECT min(seq) FROM w WHERE at >= ?) - 1, (SELECT max(seq) FROM w)) AS seq`

export const TRIMMED_THROUGH_SQL = `SELECT value FROM ${META_TABLE} WHERE key = '${TRIMMED_THROUGH_KEY}'`

/** The change-log append of one write (seq is the rowid: given out by the insert). */
export const APPEND_CHANGE_SQL = `INSERT INTO ${CHANGES_TABLE} (collection, id, op, version, role, at, data) VALUES (?, ?, ?, ?, ?, ?, ?)`

/** The collections that have a table, internal ones included, by name. */
export const LIST_COLLECTIONS_SQL = `SELECT substr(name, 3) AS name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'c\\_%' ESCAPE '\\' ORDER BY name`

export function readChangesSql(filter: { collections?: readonly string[]; ids?: readonly string[] } | undefined): string {
  let sql = `SELECT seq, collection, id, op, version, role, at, data FROM ${CHANGES_TABLE} WHERE seq > ?`
  if (filter?.collections !== undefined) sql += ` AND collection IN (${filter.collections.map(() => '?').join(', ')})`
  if (filter?.ids !== undefined) sql += ` AND id IN (${filter.ids.map(() => '?').join(', ')})`
  return `${sql} ORDER BY seq LIMIT ?`
}

export function tableName(collection: string): string {
  return `"c_${collection}"`
}

/** The four statements of a record write or read, by table: prepared once per connection (see SqliteConnection). */
export type RowStatement = 'get' | 'insert' | 'update' | 'delete'
export const ROW_SQL: Record<RowStatement, (table: string) => string> = {
  get: (table) => `SELECT ${ROW_COLUMNS} FROM ${table} WHERE id = ?`,
  insert: (table) => `INSERT INTO ${table} (id, version, created_at, updated_at, role, data) VALUES (?, ?, ?, ?, ?, ?)`,
  update: (table) => `UPDATE ${table} SET version = ?, updated_at = ?, role = ?, data = ? WHERE id = ?`,
  delete: (table) => `DELETE FROM ${table} WHERE id = ?`,
}

// createdSeq is the rowid: a new row gets max + 1, so it orders rows by insertion, whatever the clock.
const META_COLUMNS = {
  id: 'id',
  version: 'version',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  role: 'role',
  createdSeq: 'rowid',
} as const

/** The expression a field compiles to. Index definitions use the same text, so the planner matches them. */
export function fieldSql(field: FieldRef): string {
  if (field.kind === 'meta') return META_COLUMNS[field.name]
  return `json_extract(data, '$.${field.path.join('.')}')`
}

export function createTableSql(collection: string): string {
  return `CREATE TABLE IF NOT EXISTS ${tableName(collection)} (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    role TEXT NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data))
  ) STRICT`
}

export function indexName(collection: string, path: readonly string[]): string {
  return `"ix:${collection}:${path.join('.')}"`
}

export function createIndexSql(layout: CollectionLayout, path: readonly string[]): string {
  return `CREATE INDEX IF NOT EXISTS ${indexName(layout.name, path)} ON ${tableName(layout.name)} (${fieldSql({ kind: 'data', path })}, id)`
}

/**
 * Adds `value` to `params` and returns its placeholder. SQLite has no boolean type: JSON true/false
 * come back from json_extract as 1/0. A string holding a lone surrogate (a stored value a cursor
 * or condition names) is bound as the exact bytes SQLite holds for it (see sqlite-text.ts), not
 * left to the driver's encoding.
 */
function param(value: Exclude<Scalar, null>, params: unknown[]): string {
  if (typeof value === 'string' && !isWellFormedText(value)) {
    params.push(encodeWtf8(value))
    return 'CAST(? AS TEXT)'
  }
  params.push(typeof value === 'boolean' ? (value ? 1 : 0) : value)
  return '?'
}

export function whereSql(conditions: readonly Condition[], params: unknown[]): string {
  const parts: string[] = []
  for (const c of conditions) {
    const expr = fieldSql(c.field)
    switch (c.op) {
      case 'eq':
        if (c.value === null) parts.push(`${expr} IS NULL`)
        else parts.push(`${expr} = ${param(c.value, params)}`)
        break
      case 'ne':
        // Null-safe: a record without the field counts as "not equal".
        parts.push(c.value === null ? `${expr} IS NOT NULL` : `${expr} IS NOT ${param(c.value, params)}`)
        break
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        const op = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[c.op]
        if (c.value === null) parts.push('0')
        else parts.push(`${expr} ${op} ${param(c.value, params)}`)
        break
      }
      case 'in': {
        const nonNull = c.value.filter((v) => v !== null)
        const alternatives: string[] = []
        if (nonNull.length > 0) alternatives.push(`${expr} IN (${nonNull.map((v) => param(v, params)).join(', ')})`)
        if (nonNull.length < c.value.length) alternatives.push(`${expr} IS NULL`)
        parts.push(alternatives.length === 0 ? '0' : `(${alternatives.join(' OR ')})`)
        break
      }
      case 'exists':
        parts.push(`${expr} IS ${c.value ? 'NOT ' : ''}NULL`)
        break
    }
  }
  return parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`
}

export const ROW_COLUMNS = 'id, version, created_at, updated_at, role, data'

/**
 * A row's id as its exact bytes when it is not plain ASCII (else NULL, which costs nothing): the
 * driver decodes ids holding the bytes of a lone surrogate (written before those were refused) to
 * U+FFFD, and a page cursor must name the very id the engine compares.
 */
const ID_BYTES = 'CASE WHEN length(id) <> length(CAST(id AS BLOB)) THEN CAST(id AS BLOB) END AS id_bytes'

export function findSql(collection: string, query: Query): { sql: string; params: unknown[] } {
  const params: unknown[] = []
  const sort = fieldSql(query.orderBy.field)
  const conditions = whereSql(query.where, params)
  let sql = `SELECT ${ROW_COLUMNS}, ${sort} AS sort_value, ${ID_BYTES} FROM ${tableName(collection)}${conditions}`
  if (query.after !== undefined) {
    const { value, id } = query.after
    sql += `${conditions === '' ? ' WHERE' : ' AND'} ${keysetSql(sort, query.orderBy.direction, value, id, params)}`
  }
  const dir = query.orderBy.direction === 'asc' ? 'ASC' : 'DESC'
  // id and rowid are unique: nothing to break ties with.
  sql += sort === 'id' || sort === 'rowid' ? ` ORDER BY ${sort} ${dir}` : ` ORDER BY ${sort} ${dir}, id ${dir}`
  if (query.limit !== undefined) {
    sql += ' LIMIT ?'
    params.push(query.limit)
  }
  return { sql, params }
}

/**
 * Rows strictly after the cursor row in (sort, id) order. SQLite sorts NULL first ascending and
 * last descending, so a null cursor value and the rows on the other side of it need their own arm.
 */
function keysetSql(sort: string, direction: 'asc' | 'desc', value: Scalar, id: string, params: unknown[]): string {
  if (value === null) {
    const after = param(id, params)
    return direction === 'asc' ? `((${sort} IS NULL AND id > ${after}) OR ${sort} IS NOT NULL)` : `(${sort} IS NULL AND id < ${after})`
  }
  const op = direction === 'asc' ? '>' : '<'
  const at = param(value, params)
  const same = param(value, params)
  const keyset = `(${sort} ${op} ${at} OR (${sort} = ${same} AND id ${op} ${param(id, params)})`
  return direction === 'asc' ? `${keyset})` : `${keyset} OR ${sort} IS NULL)`
}

export function countSql(collection: string, conditions: readonly Condition[]): { sql: string; params: unknown[] } {
  const params: unknown[] = []
  return { sql: `SELECT count(*) AS n FROM ${tableName(collection)}${whereSql(conditions, params)}`, params }
}

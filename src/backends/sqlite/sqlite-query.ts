import type { Condition, FieldRef, Query, Scalar } from '../backend.js'
import { encodeWtf8, isWellFormedText } from './sqlite-text.js'

/**
 * Compiles the engine-neutral queries of `find` and `count` to SQLite (the twin of
 * postgres-query.ts, which reproduces these results on PostgreSQL). Field paths are validated
 * before they get here (`FIELD_SEGMENT`) and are spliced into the text; values are always `?`
 * parameters.
 */

/** The columns of a record, in RecordRow order. */
export const ROW_COLUMNS = 'id, version, created_at, updated_at, role, data'

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

function whereSql(conditions: readonly Condition[], params: unknown[]): string {
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

/**
 * A row's id as its exact bytes when it is not plain ASCII (else NULL, which costs nothing): the
 * driver decodes ids holding the bytes of a lone surrogate (written before those were refused) to
 * U+FFFD, and a page cursor must name the very id the engine compares.
 */
const ID_BYTES = 'CASE WHEN length(id) <> length(CAST(id AS BLOB)) THEN CAST(id AS BLOB) END AS id_bytes'

/** SELECT for `find`: rows, with the sort value a page cursor needs, in the query's total order. */
export function compileFind(table: string, query: Query): { sql: string; params: unknown[] } {
  const params: unknown[] = []
  const sort = fieldSql(query.orderBy.field)
  const conditions = whereSql(query.where, params)
  // Ordered by id, the sort value is the id (see exactSortValue): not read a second time; not
  // read at all when no cursor follows. Each column costs every row its conversion to JavaScript.
  const sortValue = sort === 'id' || query.sortValues === false ? '' : `, ${sort} AS sort_value`
  let sql = `SELECT ${ROW_COLUMNS}, ${ID_BYTES}${sortValue} FROM ${table}${conditions}`
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
  const op = direction === 'asc' ? '>' : '<'
  // A unique column (the cursor's value is the row's id or rowid): one comparison, which the
  // primary key serves as a range, so a page costs the same at the millionth record as at the first.
  if ((sort === 'id' || sort === 'rowid') && value !== null) return `${sort} ${op} ${param(value, params)}`
  if (direction === 'asc' && value !== null) {
    // The index on (field, id) gives the range `field >= value`; the rows of that very value up to
    // the cursor's id are the only ones passed over. (An OR of the two cases, as below, is
    // correct too but makes SQLite scan the index from its start.)
    const from = param(value, params)
    return `${sort} >= ${from} AND (${sort} > ${param(value, params)} OR id > ${param(id, params)})`
  }
  if (value === null) {
    const after = param(id, params)
    return direction === 'asc' ? `((${sort} IS NULL AND id > ${after}) OR ${sort} IS NOT NULL)` : `(${sort} IS NULL AND id < ${after})`
  }
  const at = param(value, params)
  const same = param(value, params)
  const keyset = `(${sort} ${op} ${at} OR (${sort} = ${same} AND id ${op} ${param(id, params)})`
  return direction === 'asc' ? `${keyset})` : `${keyset} OR ${sort} IS NULL)`
}

export function compileCount(table: string, conditions: readonly Condition[]): { sql: string; params: unknown[] } {
  const params: unknown[] = []
  return { sql: `SELECT count(*) AS n FROM ${table}${whereSql(conditions, params)}`, params }
}

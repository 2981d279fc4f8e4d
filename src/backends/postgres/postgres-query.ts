import type { Condition, FieldRef, MetaField, Query, Scalar } from '../backend.js'
import type { PostgresQuery } from './postgres-config.js'

/**
 * Compiles the engine-neutral queries of `find` and `count` to PostgreSQL, with SQLite's results:
 * the same matches for every operator and type of value, the same total order (nulls first
 * ascending, ties by id), the same keyset pages. Field paths are validated before they get here
 * (`FIELD_SEGMENT`) and are spliced into the text; values are always `$n` parameters.
 */

/** The columns of a record, in RecordRow order. */
export const ROW_COLUMNS = 'id, version, created_at, updated_at, role, data'

/** Collects `$n` parameters, each with an explicit type so no plan depends on a guess. */
class Params {
  readonly values: unknown[] = []
  add(value: unknown, type: 'text' | 'numeric' | 'bigint' | 'text[]' | 'numeric[]'): string {
    return `$${this.values.push(value)}::${type}`
  }
}

function whereClause(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`
}

/**
 * The sort key of a data field, as three expressions, so PostgreSQL compares and orders values the
 * way SQLite compares what json_extract returns:
 *   class: 0 missing or JSON null, 1 number or boolean (true = 1, false = 0, as in SQLite), 2 string,
 *          array or object (SQLite returns those as JSON text, a string);
 *   num:   the number (0 outside class 1);
 *   text:  the string, or the JSON text of an array or object ('' outside class 2), compared
 *          bytewise (COLLATE "C") like SQLite's BINARY collation.
 * No part is ever NULL, so row comparisons over (class, num, text, id) give a total order with
 * nulls first ascending and last descending, and one btree index serves filters, order and keyset.
 * Index definitions use the very same text, so the planner matches them.
 */
export function dataKey(path: readonly string[]): { cls: string; num: string; str: string } {
  const x = `(data${path.map((segment) => `->'${segment}'`).join('')})`
  return {
    cls: `(CASE jsonb_typeof(${x}) WHEN 'number' THEN 1 WHEN 'boolean' THEN 1 WHEN 'string' THEN 2 WHEN 'array' THEN 2 WHEN 'object' THEN 2 ELSE 0 END)`,
    num: `(CASE jsonb_typeof(${x}) WHEN 'number' THEN ${x}::numeric WHEN 'boolean' THEN CASE WHEN ${x} = 'true'::jsonb THEN 1 ELSE 0 END ELSE 0 END)`,
    str: `((CASE jsonb_typeof(${x}) WHEN 'string' THEN ${x} #>> '{}' WHEN 'array' THEN ${x}::text WHEN 'object' THEN ${x}::text ELSE '' END) COLLATE "C")`,
  }
}

type Key = [cls: 0 | 1 | 2, num: number, str: string]

/** A query value's place in the order `dataKey` defines. */
function sortKey(value: Scalar): Key {
  if (value === null) return [0, 0, '']
  if (typeof value === 'boolean') return [1, value ? 1 : 0, '']
  if (typeof value === 'number') return [1, value, '']
  return [2, 0, value]
}

interface MetaColumn {
  sql: string
  /** 1 for integer columns, 2 for text ones: their class in the order above. */
  cls: 1 | 2
}

const META_COLUMNS: Record<MetaField, MetaColumn> = {
  id: { sql: 'id', cls: 2 },
  version: { sql: 'version', cls: 1 },
  createdAt: { sql: 'created_at', cls: 1 },
  updatedAt: { sql: 'updated_at', cls: 1 },
  role: { sql: 'role', cls: 2 },
  createdSeq: { sql: 'created_seq', cls: 1 },
}

const NUMERIC_TEXT = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/

/**
 * What SQLite compares a metadata column with: its column affinity converts the value first. A
 * TEXT column (id, role) turns a number into its text; an INTEGER column turns text that reads as
 * a number into that number. Booleans are bound as 1 and 0.
 */
function withAffinity(column: MetaColumn, value: Scalar): string | number | null {
  if (typeof value === 'boolean') value = value ? 1 : 0
  if (column.cls === 2 && typeof value === 'number') return String(value)
  if (column.cls === 1 && typeof value === 'string' && NUMERIC_TEXT.test(value)) return Number(value)
  return value
}

function metaParam(column: MetaColumn, value: string | number, params: Params): string {
  if (column.cls === 2) return params.add(value, 'text')
  return params.add(value, Number.isInteger(value) ? 'bigint' : 'numeric')
}

function conditionSql(condition: Condition, params: Params): string {
  return condition.field.kind === 'meta'
    ? metaConditionSql(META_COLUMNS[condition.field.name], condition, params)
    : dataConditionSql(condition.field, condition, params)
}

const COMPARISONS = { eq: '=', ne: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const

function dataConditionSql(field: Extract<FieldRef, { kind: 'data' }>, condition: Condition, params: Params): string {
  const key = dataKey(field.path)
  const bind = ([cls, num, str]: Key): string =>
    // Only the part that carries the value is a parameter; the others are literals, so equality
    // on all three pins the index prefix and rows come out in id order.
    cls === 1 ? `${cls}, ${params.add(num, 'numeric')}, ''` : cls === 2 ? `${cls}, 0, ${params.add(str, 'text')}` : `0, 0, ''`
  switch (condition.op) {
    case 'eq': {
      const [cls, num, str] = sortKey(condition.value)
      const numSql = cls === 1 ? params.add(num, 'numeric') : '0'
      const strSql = cls === 2 ? params.add(str, 'text') : `''`
      return `(${key.cls} = ${cls} AND ${key.num} = ${numSql} AND ${key.str} = ${strSql})`
    }
    case 'ne':
      // Null-safe, like SQLite's IS NOT: a missing field is "not equal" to any value.
      return `(${key.cls}, ${key.num}, ${key.str}) <> (${bind(sortKey(condition.value))})`
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (condition.value === null) return 'false' // SQLite: any comparison with NULL is NULL
      const row = `(${key.cls}, ${key.num}, ${key.str}) ${COMPARISONS[condition.op]} (${bind(sortKey(condition.value))})`
      // Below a value lie the smaller classes too, but never a missing field (NULL in SQLite).
      return condition.op === 'lt' || condition.op === 'lte' ? `(${row} AND ${key.cls} > 0)` : row
    }
    case 'in': {
      const keys = condition.value.map(sortKey)
      const alternatives: string[] = []
      if (keys.some(([cls]) => cls === 0)) alternatives.push(`${key.cls} = 0`)
      const numbers = keys.filter(([cls]) => cls === 1).map(([, num]) => num)
      if (numbers.length > 0)
        alternatives.push(`(${key.cls} = 1 AND ${key.num} = ANY(${params.add(numbers, 'numeric[]')}) AND ${key.str} = '')`)
      const strings = keys.filter(([cls]) => cls === 2).map(([, , str]) => str)
      if (strings.length > 0)
        alternatives.push(`(${key.cls} = 2 AND ${key.num} = 0 AND ${key.str} = ANY(${params.add(strings, 'text[]')}))`)
      return alternatives.length === 0 ? 'false' : `(${alternatives.join(' OR ')})`
    }
    case 'exists':
      return condition.value ? `${key.cls} > 0` : `${key.cls} = 0`
  }
}

/** Comparison of a metadata column, which is never NULL, with the rules of SQLite's type order. */
function metaConditionSql(column: MetaColumn, condition: Condition, params: Params): string {
  switch (condition.op) {
    case 'exists':
      return condition.value ? 'true' : 'false'
    case 'in': {
      const values = condition.value.map((v) => withAffinity(column, v)).filter((v) => v !== null && sortKey(v)[0] === column.cls) as (
        string | number
      )[]
      if (values.length === 0) return 'false'
      return `${column.sql} = ANY(${params.add(values, column.cls === 2 ? 'text[]' : 'numeric[]')})`
    }
    default: {
      const value = withAffinity(column, condition.value)
      const cls = sortKey(value)[0]
      if (value === null) return condition.op === 'ne' ? 'true' : 'false'
      if (cls !== column.cls) return String(classOutcome(condition.op, column.cls, cls))
      return `${column.sql} ${COMPARISONS[condition.op]} ${metaParam(column, value, params)}`
    }
  }
}

/** The result of comparing a column of class `left` with a value of another class `right`. */
function classOutcome(op: keyof typeof COMPARISONS, left: number, right: number): boolean {
  switch (op) {
    case 'eq':
      return false
    case 'ne':
      return true
    case 'gt':
    case 'gte':
      return left > right
    case 'lt':
    case 'lte':
      return left < right
  }
}

function metaKeysetSql(column: MetaColumn, direction: 'asc' | 'desc', after: { value: Scalar; id: string }, params: Params): string {
  const value = withAffinity(column, after.value)
  const cls = sortKey(value)[0]
  if (value === null || cls !== column.cls) return String(classOutcome(direction === 'asc' ? 'gt' : 'lt', column.cls, cls))
  const op = direction === 'asc' ? '>' : '<'
  return `(${column.sql}, id) ${op} (${metaParam(column, value, params)}, ${params.add(after.id, 'text')})`
}

/** SELECT for `find`: rows, with the sort value a page cursor needs, in the query's total order. */
export function compileFind(table: string, query: Query): PostgresQuery {
  const params = new Params()
  const sort = query.orderBy.field
  const dir = query.orderBy.direction === 'asc' ? 'ASC' : 'DESC'
  const conditions = query.where.map((c) => conditionSql(c, params))
  let select: string
  let order: string
  if (sort.kind === 'meta') {
    const column = META_COLUMNS[sort.name]
    // Ordered by id, the sort value is the id itself (see sortValueOf): not sent twice.
    select = sort.name === 'id' || query.sortValues === false ? '' : `, ${column.sql} AS sort_value`
    // id and created_seq are unique: nothing to break ties with.
    order = sort.name === 'id' || sort.name === 'createdSeq' ? `${column.sql} ${dir}` : `${column.sql} ${dir}, id ${dir}`
    if (query.after !== undefined) conditions.push(metaKeysetSql(column, query.orderBy.direction, query.after, params))
  } else {
    const key = dataKey(sort.path)
    select = query.sortValues === false ? '' : `, ${key.cls} AS sort_class, ${key.num} AS sort_number, ${key.str} AS sort_text`
    order = `${key.cls} ${dir}, ${key.num} ${dir}, ${key.str} ${dir}, id ${dir}`
    if (query.after !== undefined) {
      // Rows strictly after (value, id) in sort order: one row comparison, which the index serves.
      const [cls, num, str] = sortKey(query.after.value)
      const op = query.orderBy.direction === 'asc' ? '>' : '<'
      conditions.push(
        `(${key.cls}, ${key.num}, ${key.str}, id) ${op} (${cls}, ${params.add(num, 'numeric')}, ${params.add(str, 'text')}, ${params.add(query.after.id, 'text')})`,
      )
    }
  }
  let text = `SELECT ${ROW_COLUMNS}${select} FROM ${table}${whereClause(conditions)} ORDER BY ${order}`
  if (query.limit !== undefined) text += ` LIMIT ${params.add(query.limit, 'bigint')}`
  return { text, values: params.values }
}

/** SELECT count(*) of the records matching `where`. */
export function compileCount(table: string, where: readonly Condition[]): PostgresQuery {
  const params = new Params()
  const conditions = where.map((c) => conditionSql(c, params))
  return { text: `SELECT count(*) AS n FROM ${table}${whereClause(conditions)}`, values: params.values }
}

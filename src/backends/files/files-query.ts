import type { Condition, FieldRef, JsonValue, Query, Scalar } from '../backend.js'
import { compareText, type StoredRow } from './files-format.js'

/*
 * Queries over rows in memory, with SQLite's semantics so that every backend answers alike: a
 * data field is what json_extract returns (true/false as 1/0, objects and arrays as their JSON
 * text, a missing field as null); values of different kinds order null < numbers < text, text in
 * code-point order; a comparison with null is never true; `ne` is null-safe.
 */

type Value = null | number | string

function toValue(value: JsonValue | undefined): Value {
  if (value === undefined || value === null) return null
  if (typeof value === 'boolean') return value ? 1 : 0
  if (typeof value === 'number' || typeof value === 'string') return value
  return JSON.stringify(value)
}

function fromScalar(value: Scalar): Value {
  return typeof value === 'boolean' ? (value ? 1 : 0) : value
}

export function fieldValue(row: StoredRow, field: FieldRef): Value {
  if (field.kind === 'meta') return row[field.name]
  let at: JsonValue | undefined = row.data
  for (const segment of field.path) {
    if (at === null || typeof at !== 'object' || Array.isArray(at)) return null
    at = (at as Record<string, JsonValue>)[segment]
  }
  return toValue(at)
}

const rank = (v: Value) => (v === null ? 0 : typeof v === 'number' ? 1 : 2)

/** SQLite's order of two values: by kind first, then numerically or by code points. */
export function compareValues(a: Value, b: Value): number {
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra - rb
  if (ra === 1) return (a as number) - (b as number)
  if (ra === 2) return compareText(a as string, b as string)
  return 0
}

function matches(row: StoredRow, c: Condition): boolean {
  const v = fieldValue(row, c.field)
  switch (c.op) {
    case 'eq':
      return c.value === null ? v === null : v !== null && compareValues(v, fromScalar(c.value)) === 0
    case 'ne':
      return c.value === null ? v !== null : v === null || compareValues(v, fromScalar(c.value)) !== 0
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (c.value === null || v === null) return false
      const d = compareValues(v, fromScalar(c.value))
      return c.op === 'gt' ? d > 0 : c.op === 'gte' ? d >= 0 : c.op === 'lt' ? d < 0 : d <= 0
    }
    case 'in':
      return c.value.some((x) => (x === null ? v === null : v !== null && compareValues(v, fromScalar(x)) === 0))
    case 'exists':
      return (v !== null) === c.value
  }
}

export function filterRows(rows: Iterable<StoredRow>, where: readonly Condition[]): StoredRow[] {
  const out: StoredRow[] = []
  for (const row of rows) if (where.every((c) => matches(row, c))) out.push(row)
  return out
}

/** The rows of a query, in its order, after its keyset position, at most its limit; each with its sort value. */
export function runQuery(rows: Iterable<StoredRow>, query: Query): { row: StoredRow; sortValue: Value }[] {
  const sign = query.orderBy.direction === 'asc' ? 1 : -1
  const keyed = filterRows(rows, query.where).map((row) => ({ row, sortValue: fieldValue(row, query.orderBy.field) }))
  const order = (a: { row: StoredRow; sortValue: Value }, b: { sortValue: Value; row: { id: string } }) =>
    sign * (compareValues(a.sortValue, b.sortValue) || compareText(a.row.id, b.row.id))
  keyed.sort(order)
  let result = keyed
  if (query.after !== undefined) {
    const cursor = { sortValue: fromScalar(query.after.value), row: { id: query.after.id } }
    result = keyed.filter((k) => order(k, cursor) > 0)
  }
  return query.limit === undefined ? result : result.slice(0, query.limit)
}

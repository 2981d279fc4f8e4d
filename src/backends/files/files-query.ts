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

type Predicate = (row: StoredRow) => boolean

/** A condition as a test of one row; `in` looks its values up in sets, so a long list costs no more per row than a short one. */
function compile(c: Condition): Predicate {
  const field = c.field
  switch (c.op) {
    case 'eq': {
      const want = c.value
      if (want === null) return (row) => fieldValue(row, field) === null
      const w = fromScalar(want)
      return (row) => {
        const v = fieldValue(row, field)
        return v !== null && compareValues(v, w) === 0
      }
    }
    case 'ne': {
      const want = c.value
      if (want === null) return (row) => fieldValue(row, field) !== null
      const w = fromScalar(want)
      return (row) => {
        const v = fieldValue(row, field)
        return v === null || compareValues(v, w) !== 0
      }
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (c.value === null) return () => false
      const w = fromScalar(c.value)
      const op = c.op
      return (row) => {
        const v = fieldValue(row, field)
        if (v === null) return false
        const d = compareValues(v, w)
        return op === 'gt' ? d > 0 : op === 'gte' ? d >= 0 : op === 'lt' ? d < 0 : d <= 0
      }
    }
    case 'in': {
      // Equal values of one kind are equal as JS values (numbers numerically, text exactly), so sets answer.
      const values = new Set<number | string>()
      let withNull = false
      for (const x of c.value) {
        const v = fromScalar(x)
        if (v === null) withNull = true
        else values.add(v)
      }
      return (row) => {
        const v = fieldValue(row, field)
        return v === null ? withNull : values.has(v)
      }
    }
    case 'exists': {
      const want = c.value
      return (row) => (fieldValue(row, field) !== null) === want
    }
  }
}

/** The ids a query can only match, when it names them (id eq or in): looked up instead of scanning. */
function namedIds(where: readonly Condition[]): string[] | undefined {
  for (const c of where) {
    if (c.field.kind !== 'meta' || c.field.name !== 'id') continue
    if (c.op === 'eq' && typeof c.value === 'string') return [c.value]
    if (c.op === 'in') return [...new Set(c.value.filter((v): v is string => typeof v === 'string'))]
  }
  return undefined
}

export function filterRows(rows: ReadonlyMap<string, StoredRow>, where: readonly Condition[]): StoredRow[] {
  const tests = where.map(compile)
  const ids = namedIds(where)
  const candidates = ids === undefined ? rows.values() : ids.flatMap((id) => rows.get(id) ?? [])
  const out: StoredRow[] = []
  for (const row of candidates) if (tests.every((test) => test(row))) out.push(row)
  return out
}

/** The rows of a query, in its order, after its keyset position, at most its limit; each with its sort value. */
export function runQuery(rows: ReadonlyMap<string, StoredRow>, query: Query): { row: StoredRow; sortValue: Value }[] {
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

import type { Condition, FieldRef, JsonObject, MetaField, OrderBy, Query, Scalar } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import type { IsOpen, SortField, TypedWhere } from './query-types.js'

/** One segment of a field path: letters, digits and `_`, not starting with a digit. */
export const FIELD_SEGMENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype'])
const META_FIELDS: Record<string, MetaField> = {
  $id: 'id',
  $version: 'version',
  $createdAt: 'createdAt',
  $updatedAt: 'updatedAt',
  $role: 'role',
}
const OPERATORS = new Set(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'exists'])
export const MAX_LIMIT = 10_000
const MAX_IN_VALUES = 1_000

/** Comparison operators on one field of an untyped collection. Several operators on one field are ANDed. */
export interface FieldOperators<V = Scalar> {
  eq?: V
  ne?: V
  gt?: V
  gte?: V
  lt?: V
  lte?: V
  in?: readonly V[]
  /** true: the field is present and not null; false: missing or null. */
  exists?: boolean
}

/** `where` of a collection whose fields are not known (no schema): any field, any scalar. */
export type UntypedWhere = { [field: string]: Scalar | Date | FieldOperators<Scalar | Date> | undefined }

/**
 * Conditions on data fields (dot paths for nested fields, like `"owner.name"`) or metadata
 * (`$id`, `$version`, `$createdAt`, `$updatedAt`, `$role`), all ANDed. A bare value means equality;
 * `null` matches a missing or null field. Typed from the records `T`: only their fields, each with
 * its own value type; `gt`/`gte`/`lt`/`lte` on numbers and strings only; `in` takes an array of the
 * field's values. Without a schema (`T` is any JSON object) any field and scalar is accepted.
 */
export type Where<T = JsonObject> = IsOpen<T> extends true ? UntypedWhere : TypedWhere<T>

/** A field name, or `{ field, direction }`. A leading `-` means descending: `'-startedAt'`. */
export type OrderBySpec<T = JsonObject> = SortField<T> | `-${SortField<T>}` | { field: SortField<T>; direction?: 'asc' | 'desc' }

export interface FindOptions<T = JsonObject> {
  where?: Where<T>
  /** Default `$id`: creation order. Ties are always broken by id. */
  orderBy?: OrderBySpec<T>
  /** At most this many records (1..10000). `find` without a limit returns every match. */
  limit?: number
  /** The `next` cursor of a previous page: continue strictly after it, stable while others insert. */
  after?: string
}

function invalid(message: string): TandemError {
  return new TandemError('INVALID_QUERY', message, { hint: 'See the "Queries" section of the README for the accepted shapes.' })
}

/** Parses `"a.b"` or `"$createdAt"` into a FieldRef, refusing anything that is not a plain name. */
export function parseField(name: string): FieldRef {
  if (typeof name !== 'string') throw invalid(`Field names must be strings (got ${typeof name}).`)
  const meta = META_FIELDS[name]
  if (meta !== undefined && Object.hasOwn(META_FIELDS, name)) return { kind: 'meta', name: meta }
  const path = name.split('.')
  for (const segment of path) {
    if (!FIELD_SEGMENT.test(segment) || FORBIDDEN_SEGMENTS.has(segment)) {
      throw invalid(
        `Field "${name}" is not a valid field name: use letters, digits and _ (dots for nested fields), or one of ${Object.keys(META_FIELDS).join(', ')}.`,
      )
    }
  }
  return { kind: 'data', path }
}

/** Validates a data field declared in `indexes` and returns its path. */
export function parseIndexField(name: string): readonly string[] {
  const ref = parseField(name)
  if (ref.kind !== 'data') throw invalid(`Index field "${name}" names metadata, which is always indexed; list data fields only.`)
  return ref.path
}

function toScalar(field: string, value: unknown, ref?: FieldRef): Scalar {
  // Record times are stored as milliseconds: accept a Date, an ISO string or a number for them.
  if (ref?.kind === 'meta' && (ref.name === 'createdAt' || ref.name === 'updatedAt') && value !== null) {
    const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : value
    if (typeof ms !== 'number' || !Number.isFinite(ms))
      throw invalid(`Value for "${field}" must be a Date, an ISO date string or milliseconds (got ${JSON.stringify(value)}).`)
    return ms
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(`Value for "${field}" must be a finite number (got ${value}).`)
    return value
  }
  if (value instanceof Date) return value.toISOString()
  throw invalid(
    `Value for "${field}" must be a string, number, boolean, null or Date (got ${describe(value)}); objects and arrays cannot be compared.`,
  )
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array'
  if (value === undefined) return 'undefined'
  return typeof value === 'object' ? 'an object' : typeof value
}

function isOperatorObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}

/** Turns a user `where` into validated conditions. */
export function parseWhere(where: UntypedWhere | undefined): Condition[] {
  if (where === undefined) return []
  if (!isOperatorObject(where)) throw invalid(`where must be an object of field conditions (got ${describe(where)}).`)
  const conditions: Condition[] = []
  for (const [name, spec] of Object.entries(where)) {
    if (spec === undefined) continue
    const field = parseField(name)
    if (!isOperatorObject(spec)) {
      conditions.push({ field, op: 'eq', value: toScalar(name, spec, field) })
      continue
    }
    const ops = Object.entries(spec).filter(([, v]) => v !== undefined)
    if (ops.length === 0) throw invalid(`Condition on "${name}" names no operator; use one of ${[...OPERATORS].join(', ')}.`)
    for (const [op, value] of ops) {
      if (!OPERATORS.has(op)) throw invalid(`Unknown operator "${op}" on "${name}"; use one of ${[...OPERATORS].join(', ')}.`)
      if (op === 'in') {
        if (!Array.isArray(value)) throw invalid(`"in" on "${name}" takes an array (got ${describe(value)}).`)
        if (value.length > MAX_IN_VALUES)
          throw invalid(`"in" on "${name}" has ${value.length} values; at most ${MAX_IN_VALUES} are allowed.`)
        conditions.push({ field, op: 'in', value: value.map((v) => toScalar(name, v, field)) })
      } else if (op === 'exists') {
        if (typeof value !== 'boolean') throw invalid(`"exists" on "${name}" takes true or false (got ${describe(value)}).`)
        conditions.push({ field, op: 'exists', value })
      } else {
        conditions.push({ field, op: op as 'eq', value: toScalar(name, value, field) })
      }
    }
  }
  return conditions
}

export function parseOrderBy(spec: OrderBySpec<JsonObject> | undefined): OrderBy {
  if (spec === undefined) return { field: { kind: 'meta', name: 'id' }, direction: 'asc' }
  if (typeof spec === 'string') {
    const desc = spec.startsWith('-')
    return { field: parseField(desc ? spec.slice(1) : spec), direction: desc ? 'desc' : 'asc' }
  }
  if (!isOperatorObject(spec)) throw invalid(`orderBy must be a field name or { field, direction } (got ${describe(spec)}).`)
  const direction = spec.direction ?? 'asc'
  if (direction !== 'asc' && direction !== 'desc') throw invalid(`orderBy.direction must be "asc" or "desc" (got ${String(direction)}).`)
  return { field: parseField(spec.field), direction }
}

/** The cursor after a row is its sort value and id, as base64url JSON: opaque to callers. */
export function encodeCursor(value: Scalar, id: string): string {
  return Buffer.from(JSON.stringify([value, id])).toString('base64url')
}

function decodeCursor(cursor: string): { value: Scalar; id: string } {
  const bad = () => invalid(`after is not a cursor returned by findPage() (got ${JSON.stringify(String(cursor).slice(0, 40))}).`)
  if (typeof cursor !== 'string') throw bad()
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw bad()
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[1] !== 'string') throw bad()
  const value: unknown = parsed[0]
  if (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) throw bad()
  return { value: value as Scalar, id: parsed[1] }
}

/** Validates user find options into a backend Query. */
export function parseFindOptions(options: FindOptions<JsonObject> = {}): Query {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw invalid(`find options must be an object (got ${describe(options)}).`)
  for (const key of Object.keys(options)) {
    if (!['where', 'orderBy', 'limit', 'after'].includes(key))
      throw new TypeError(`Unknown find option "${key}"; use where, orderBy, limit or after.`)
  }
  const query: Query = { where: parseWhere(options.where), orderBy: parseOrderBy(options.orderBy) }
  if (options.limit !== undefined) {
    if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > MAX_LIMIT) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_LIMIT} (got ${String(options.limit)}).`)
    }
    query.limit = options.limit
  }
  if (options.after !== undefined) query.after = decodeCursor(options.after)
  return query
}

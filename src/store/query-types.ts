// Query types inferred from a collection's data type: which fields `where` and `orderBy` accept,
// and which values and operators each field takes. Types only: the run-time checks are in query.ts
// and query-fields.ts. docs/types.md says what is checked where.
import type { Scalar } from '../backends/backend.js'

/** Metadata every record has, and the values a query compares them with. */
export interface MetaFields {
  $id: string
  $version: number
  /** A Date, an ISO 8601 string or milliseconds since the epoch. */
  $createdAt: Date | string | number
  $updatedAt: Date | string | number
  $role: string
}

/** Whether T is an open record type (`{ [field: string]: ... }`): its field names are not known. */
export type IsOpen<T> = string extends keyof T ? true : false

/** Counts down nested levels: dot paths go at most 4 levels deep, which keeps type-checking cheap. */
type Down = [never, 0, 1, 2, 3]

/** A plain object type whose fields a dot path may go into (not an array, a Date or a function). */
type Nested<V> = V extends readonly unknown[] | Date | ((...args: never[]) => unknown) ? never : V extends object ? V : never

/**
 * The fields of T a query may name: top-level keys and dot paths into nested objects (`'owner.name'`).
 * Over a union of record types (a discriminated union schema), the fields of every member.
 */
export type FieldPath<T, D extends number = 4> = [D] extends [never]
  ? never
  : T extends unknown
    ? {
        [K in keyof T & string]-?:
          K | ([Nested<NonNullable<T[K]>>] extends [never] ? never : `${K}.${FieldPath<Nested<NonNullable<T[K]>>, Down[D]>}`)
      }[keyof T & string]
    : never

/** The type of the field at dot path P of T: undefined where a parent is optional, or a union member lacks it. */
export type PathValue<T, P extends string> = T extends unknown
  ? P extends keyof T
    ? T[P]
    : P extends `${infer Head}.${infer Rest}`
      ? Head extends keyof T
        ? PathValue<NonNullable<T[Head]>, Rest> | (undefined extends T[Head] ? undefined : never)
        : undefined
      : undefined
  : never

/** The scalar values a field of type V is compared with: its string, number and boolean parts (literals kept). */
type ScalarPart<V> = unknown extends V ? Scalar | Date : Extract<V, string | number | boolean | Date>

/** Operators every comparable field takes. `null` matches a missing or null field. */
export interface EqualityOperators<V> {
  eq?: V | null
  ne?: V | null
  in?: readonly (V | null)[]
  /** true: the field is present and not null; false: missing or null. */
  exists?: boolean
}

/** Operators of ordered fields only (numbers and strings): booleans, objects and arrays have none. */
export interface OrderOperators<V> {
  gt?: V
  gte?: V
  lt?: V
  lte?: V
}

/**
 * What `where` accepts for a field of type V: a value (equality), `null`, or operators. Objects and
 * arrays cannot be compared, so such a field takes `{ exists }` only.
 */
export type FieldCondition<V> = [ScalarPart<V>] extends [never] ? { exists?: boolean } : ScalarPart<V> | null | OperatorsOf<ScalarPart<V>>

type OperatorsOf<S> = [Extract<S, string | number | Date>] extends [never]
  ? EqualityOperators<S>
  : EqualityOperators<S> & OrderOperators<Extract<S, string | number | Date>>

/** `where` for records of type T: each known field with its own value type, and the metadata. */
export type TypedWhere<T> = { [P in FieldPath<T>]?: FieldCondition<PathValue<T, P>> } & {
  [M in keyof MetaFields]?: FieldCondition<MetaFields[M]>
}

/** The fields `orderBy` takes for records of type T: data fields (dot paths) and metadata. */
export type SortField<T> = (IsOpen<T> extends true ? string : FieldPath<T>) | keyof MetaFields

import type { JsonObject } from '../backends/backend.js'
import { TandemError } from '../errors.js'

const MAX_DEPTH = 64

function invalidData(collection: string, path: string, problem: string, hint: string): TandemError {
  return new TandemError('INVALID_DATA', `Data for "${collection}" at ${path} ${problem}; nothing was written. ${hint}`, { collection, hint })
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value !== 'object') return typeof value
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name
  return name ?? 'an object without prototype'
}

/**
 * Checks that `value` is a plain JSON object that stores and reads back unchanged: plain objects,
 * arrays, strings, finite numbers, booleans and null, nested at most 64 deep. A `__proto__` key is
 * refused anywhere: stored, it would be a trap for every reader that merges records with
 * Object.assign or a deep-merge helper. Keys like `constructor` are plain data and allowed.
 */
export function checkData(collection: string, value: unknown): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidData(collection, 'the top level', `is ${Array.isArray(value) ? 'an array' : describe(value)}, not an object`, 'Store an object: wrap lists and values in a field, like { items: [...] }.')
  }
  // Every write passes here: the first walk builds no path strings; only data it finds wrong is
  // walked again to name the offending path.
  if (!isPlainJson(value, 0)) walk(collection, value, 'data', 0)
  return value as JsonObject
}

function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    case 'object':
      break
    default:
      return false
  }
  if (value === null) return true
  if (depth >= MAX_DEPTH) return false
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth + 1)) return false
    return true
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return false
  for (const key in value) {
    if (key === '__proto__' || !isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false
  }
  return true
}

/** The slow walk: throws the error that names the first path that is not plain JSON. */
function walk(collection: string, value: unknown, path: string, depth: number): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(value)) throw invalidData(collection, path, `is ${value}, which JSON cannot store`, 'Store null or a finite number instead.')
      return
    case 'object':
      break
    default:
      throw invalidData(collection, path, `is ${describe(value)}`, 'Store only JSON values: strings, finite numbers, booleans, null, arrays and plain objects.')
  }
  if (value === null) return
  if (depth >= MAX_DEPTH) throw invalidData(collection, path, `is nested more than ${MAX_DEPTH} levels deep`, 'Flatten the data.')
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) walk(collection, value[i], `${path}[${i}]`, depth + 1)
    return
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    const hint = value instanceof Date ? 'Store dates as ISO strings (date.toISOString()) or as numbers (date.getTime()).' : 'Convert it to a plain object or array first.'
    throw invalidData(collection, path, `is a ${describe(value)}, not a plain object`, hint)
  }
  for (const key of Object.keys(value)) {
    if (key === '__proto__') throw invalidData(collection, `${path}.__proto__`, 'is a "__proto__" key, which could pollute prototypes of readers', 'Rename the key.')
    walk(collection, (value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1)
  }
}

/** A deep copy through JSON: what a reader of the store would get back. */
export function cloneData<T>(data: T): T {
  return JSON.parse(JSON.stringify(data)) as T
}

/**
 * Shallow merge for patch: own keys of `patch` replace those of `base`; an `undefined` value
 * removes the key. Defines properties instead of assigning them, so no key reaches a prototype.
 */
export function mergePatch(base: JsonObject, patch: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(base)) Object.defineProperty(merged, key, { value, enumerable: true, writable: true, configurable: true })
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete merged[key]
    else Object.defineProperty(merged, key, { value, enumerable: true, writable: true, configurable: true })
  }
  return merged
}

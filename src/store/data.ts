import type { JsonObject } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import { isWellFormed } from './ids.js'

const MAX_DEPTH = 64

function invalidData(collection: string, path: string, problem: string, hint: string): TandemError {
  return new TandemError('INVALID_DATA', `Data for "${collection}" at ${path} ${problem}; nothing was written. ${hint}`, {
    collection,
    hint,
  })
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
 * Object.assign or a deep-merge helper. Keys like `constructor` are plain data and allowed. A
 * string or key holding a lone UTF-16 surrogate is refused: it is not text, PostgreSQL cannot
 * store it, and SQLite compares it as bytes no JavaScript string decodes back to.
 */
export function checkData(collection: string, value: unknown): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidData(
      collection,
      'the top level',
      `is ${Array.isArray(value) ? 'an array' : describe(value)}, not an object`,
      'Store an object: wrap lists and values in a field, like { items: [...] }.',
    )
  }
  walk(collection, value, [])
  return value as JsonObject
}

/** `data.items[2].name`: built only for an error message, never on the path every write takes. */
function formatPath(path: readonly (string | number)[]): string {
  const show = (key: string) => (isWellFormed(key) ? key : JSON.stringify(key).slice(1, -1))
  return path.reduce<string>((text, part) => (typeof part === 'number' ? `${text}[${part}]` : `${text}.${show(part)}`), 'data')
}

function loneSurrogate(collection: string, path: readonly (string | number)[], what: 'string' | 'key' = 'string'): TandemError {
  return invalidData(
    collection,
    formatPath(path),
    `is a ${what} holding a lone UTF-16 surrogate (half of a pair, as left by cutting a string in the middle of an emoji, say), which no engine stores as itself`,
    'Cut strings between characters (Array.from(text)), or store the value encoded (base64, say).',
  )
}

/** Throws the error naming the first place in `value` that is not plain JSON; `path` leads to it. */
function walk(collection: string, value: unknown, path: (string | number)[]): void {
  switch (typeof value) {
    case 'string':
      if (!isWellFormed(value)) throw loneSurrogate(collection, path)
      return
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(value))
        throw invalidData(collection, formatPath(path), `is ${value}, which JSON cannot store`, 'Store null or a finite number instead.')
      return
    case 'object':
      break
    default:
      throw invalidData(
        collection,
        formatPath(path),
        `is ${describe(value)}`,
        'Store only JSON values: strings, finite numbers, booleans, null, arrays and plain objects.',
      )
  }
  if (value === null) return
  if (path.length >= MAX_DEPTH)
    throw invalidData(collection, formatPath(path), `is nested more than ${MAX_DEPTH} levels deep`, 'Flatten the data.')
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i)
      walk(collection, value[i], path)
      path.pop()
    }
    return
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    const hint =
      value instanceof Date
        ? 'Store dates as ISO strings (date.toISOString()) or as numbers (date.getTime()).'
        : 'Convert it to a plain object or array first.'
    throw invalidData(collection, formatPath(path), `is a ${describe(value)}, not a plain object`, hint)
  }
  for (const key of Object.keys(value)) {
    path.push(key)
    if (key === '__proto__')
      throw invalidData(collection, formatPath(path), 'is a "__proto__" key, which could pollute prototypes of readers', 'Rename the key.')
    if (!isWellFormed(key)) throw loneSurrogate(collection, path, 'key')
    walk(collection, (value as Record<string, unknown>)[key], path)
    path.pop()
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
  for (const [key, value] of Object.entries(base))
    Object.defineProperty(merged, key, { value, enumerable: true, writable: true, configurable: true })
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete merged[key]
    else Object.defineProperty(merged, key, { value, enumerable: true, writable: true, configurable: true })
  }
  return merged
}

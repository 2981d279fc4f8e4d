import type { JsonObject, JsonValue } from './backend.js'

/**
 * Deltas between two versions of a record's data, as RFC 6902 JSON Patch documents of `add`,
 * `remove` and `replace` operations (paths are JSON Pointers, RFC 6901). A collection declared with
 * `history: { keep: 'diff' }` keeps, in each change-log entry, the patch that turns the data the
 * write produced back into the data it replaced (a reverse delta: see change-history.ts). JSON
 * Patch rather than a merge patch because it reconstructs exactly: a merge patch cannot tell a key
 * set to null from a removed one, and replaces arrays whole.
 */

/** One operation of a JSON Patch. `add` on an array index inserts there; `remove` takes the element out. */
export type JsonPatchOperation =
  { op: 'add'; path: string; value: JsonValue } | { op: 'replace'; path: string; value: JsonValue } | { op: 'remove'; path: string }

export type JsonPatch = JsonPatchOperation[]

/** Room an operation takes besides its path and value: `{"op":"replace","path":"","value":}`. */
const OP_OVERHEAD = 32

function isObject(value: JsonValue): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function escape(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1')
}

function equal(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => equal(v, b[i]!))
  if (Array.isArray(b)) return false
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && equal(a[k]!, b[k]!))
}

function size(value: unknown): number {
  return JSON.stringify(value).length
}

function diffInto(ops: JsonPatch, path: string, from: JsonValue, to: JsonValue): void {
  if (equal(from, to)) return
  const inner: JsonPatch = []
  if (isObject(from) && isObject(to)) {
    for (const key of Object.keys(from)) if (!Object.hasOwn(to, key)) inner.push({ op: 'remove', path: `${path}/${escape(key)}` })
    for (const [key, value] of Object.entries(to)) {
      if (Object.hasOwn(from, key)) diffInto(inner, `${path}/${escape(key)}`, from[key]!, value)
      else inner.push({ op: 'add', path: `${path}/${escape(key)}`, value })
    }
  } else if (Array.isArray(from) && Array.isArray(to)) {
    const common = Math.min(from.length, to.length)
    for (let i = 0; i < common; i++) diffInto(inner, `${path}/${i}`, from[i]!, to[i]!)
    for (let i = common; i < to.length; i++) inner.push({ op: 'add', path: `${path}/${i}`, value: to[i]! })
    // From the end, so each index still names the element it meant.
    for (let i = from.length - 1; i >= common; i--) inner.push({ op: 'remove', path: `${path}/${i}` })
  } else {
    ops.push({ op: 'replace', path, value: to })
    return
  }
  // A container rewritten through and through costs less replaced whole.
  if (size(inner) > size(to) + path.length + OP_OVERHEAD) ops.push({ op: 'replace', path, value: to })
  else ops.push(...inner)
}

/** The patch that turns `from` into `to`: applyJsonPatch(from, diffJson(from, to)) equals `to`. Empty when they are equal. */
export function diffJson(from: JsonObject, to: JsonObject): JsonPatch {
  const ops: JsonPatch = []
  diffInto(ops, '', from, to)
  return ops
}

function unescape(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~')
}

/** `token` as an array index no greater than `highest`, else the error `missing` makes. */
function arrayIndex(token: string, highest: number, missing: () => TypeError): number {
  if (!/^(0|[1-9][0-9]*)$/.test(token) || Number(token) > highest) throw missing()
  return Number(token)
}

function setKey(target: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  // A plain assignment to "__proto__" would set the prototype, not a key.
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true })
}

/**
 * `doc` with `patch` applied, as a new value (`doc` is not changed, and the result shares nothing
 * with it or the patch). Throws a TypeError when an operation names a path the document lacks:
 * the patch was not made from this document.
 */
export function applyJsonPatch(doc: JsonObject, patch: readonly JsonPatchOperation[]): JsonObject {
  let root: JsonValue = structuredClone(doc)
  for (const operation of patch) {
    if (operation.path === '') {
      if (operation.op === 'remove') throw new TypeError('A JSON Patch cannot remove the whole document.')
      root = structuredClone(operation.value)
      continue
    }
    // Strict: a patch that does not fit the document throws, which is how a rebuild learns that a
    // chain of deltas is broken (change-history.ts). An index is a canonical non-negative integer,
    // within the array (add may also name the end); replace and remove need the key to exist.
    const missing = (): TypeError => new TypeError(`JSON Patch path ${operation.path} is not in the document.`)
    const tokens = operation.path.split('/').slice(1).map(unescape)
    const last = tokens.pop()!
    let parent: JsonValue = root
    for (const token of tokens) {
      const next: JsonValue | undefined = Array.isArray(parent)
        ? parent[arrayIndex(token, parent.length - 1, missing)]
        : isObject(parent) && Object.hasOwn(parent, token)
          ? parent[token]
          : undefined
      if (next === undefined) throw missing()
      parent = next
    }
    if (Array.isArray(parent)) {
      const index = arrayIndex(last, operation.op === 'add' ? parent.length : parent.length - 1, missing)
      if (operation.op === 'add') parent.splice(index, 0, structuredClone(operation.value))
      else if (operation.op === 'remove') parent.splice(index, 1)
      else parent[index] = structuredClone(operation.value)
    } else if (isObject(parent)) {
      if (operation.op !== 'add' && !Object.hasOwn(parent, last)) throw missing()
      if (operation.op === 'remove') delete parent[last]
      else setKey(parent, last, structuredClone(operation.value))
    } else {
      throw new TypeError(`JSON Patch path ${operation.path} is not in the document.`)
    }
  }
  if (!isObject(root)) throw new TypeError('A JSON Patch of record data must leave an object.')
  return root
}

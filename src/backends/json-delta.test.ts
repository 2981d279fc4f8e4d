import { describe, expect, test } from 'vitest'
import type { JsonObject, JsonValue } from './backend.js'
import { applyJsonPatch, diffJson } from './json-delta.js'

/** A small seeded generator (mulberry32), so a failure names the seed that reproduces it. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const KEYS = ['a', 'b', 'c', 'x/y', 'm~n', '', '0', 'name', 'tags', '__proto__x']

function value(next: () => number, depth: number): JsonValue {
  const r = next()
  if (depth > 3 || r < 0.45) {
    const s = next()
    if (s < 0.2) return null
    if (s < 0.4) return next() < 0.5
    if (s < 0.7) return Math.round(next() * 1000) / 10
    return 'v'.repeat(Math.floor(next() * 5))
  }
  if (r < 0.7) return Array.from({ length: Math.floor(next() * 5) }, () => value(next, depth + 1))
  return object(next, depth + 1)
}

function object(next: () => number, depth: number): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {}
  for (let i = Math.floor(next() * 5); i > 0; i--) out[KEYS[Math.floor(next() * KEYS.length)]!] = value(next, depth)
  return out
}

/** A random edit somewhere in `doc` (in place): set, remove, push, pop, splice, change type. */
function edit(doc: JsonValue, next: () => number): JsonValue {
  if (Array.isArray(doc)) {
    const r = next()
    if (r < 0.2) doc.push(value(next, 2))
    else if (r < 0.35) doc.pop()
    else if (r < 0.5) doc.splice(Math.floor(next() * (doc.length + 1)), 0, value(next, 2))
    else if (r < 0.6 && doc.length > 0) doc.splice(Math.floor(next() * doc.length), 1)
    else if (doc.length > 0) {
      const i = Math.floor(next() * doc.length)
      doc[i] = edit(doc[i]!, next)
    }
    return doc
  }
  if (typeof doc === 'object' && doc !== null) {
    const keys = Object.keys(doc)
    const r = next()
    if (r < 0.3 || keys.length === 0) doc[KEYS[Math.floor(next() * KEYS.length)]!] = value(next, 2)
    else if (r < 0.5) delete doc[keys[Math.floor(next() * keys.length)]!]
    else {
      const k = keys[Math.floor(next() * keys.length)]!
      doc[k] = edit(doc[k]!, next)
    }
    return doc
  }
  return next() < 0.5 ? value(next, 1) : null
}

describe('JSON deltas', () => {
  test('diff then apply gives the target exactly, over random documents and edits', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const next = random(seed)
      const from = object(next, 0)
      let to = structuredClone(from) as JsonValue
      for (let i = 1 + Math.floor(next() * 6); i > 0; i--) to = edit(to, next)
      const target = to as JsonObject
      const frozen = JSON.stringify(from)
      const patch = diffJson(from, target)
      const back = diffJson(target, from)
      expect(applyJsonPatch(from, patch), `seed ${seed}`).toStrictEqual(target)
      expect(applyJsonPatch(target, back), `seed ${seed} (reverse)`).toStrictEqual(from)
      expect(JSON.stringify(from), `seed ${seed}: the input is left alone`).toBe(frozen)
      // A patch is JSON: it survives a round trip through text.
      expect(applyJsonPatch(from, JSON.parse(JSON.stringify(patch))), `seed ${seed}`).toStrictEqual(target)
    }
  })

  test('deleted keys, nulls and arrays come back as they were', () => {
    const from: JsonObject = { a: null, b: [1, 2, { c: 3 }], 'd/e': { '~f': 1 }, g: 'x' }
    const to: JsonObject = { b: [1, { c: 4 }], 'd/e': {}, g: null, h: [] }
    expect(applyJsonPatch(to, diffJson(to, from))).toStrictEqual(from)
    expect(applyJsonPatch(from, diffJson(from, to))).toStrictEqual(to)
  })

  test('equal documents give an empty patch; a small change a small one', () => {
    const big: JsonObject = { text: 'x'.repeat(1000), n: 1 }
    expect(diffJson(big, structuredClone(big))).toStrictEqual([])
    expect(diffJson(big, { ...big, n: 2 })).toStrictEqual([{ op: 'replace', path: '/n', value: 2 }])
  })

  test('a key named __proto__ is set as a key, never as the prototype', () => {
    const doc = applyJsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }])
    expect(Object.keys(doc)).toStrictEqual(['__proto__'])
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined()
  })

  test('a patch that does not fit the document is refused', () => {
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '/b/c', value: 1 }])).toThrow(TypeError)
    // Each of these would pass unnoticed by a lenient applier, hiding a broken chain of deltas.
    const doc: JsonObject = { a: 1, list: [1, 2] }
    expect(() => applyJsonPatch(doc, [{ op: 'replace', path: '/list/2', value: 3 }])).toThrow(TypeError)
    expect(() => applyJsonPatch(doc, [{ op: 'remove', path: '/list/2' }])).toThrow(TypeError)
    expect(() => applyJsonPatch(doc, [{ op: 'remove', path: '/b' }])).toThrow(TypeError)
    expect(() => applyJsonPatch(doc, [{ op: 'replace', path: '/b', value: 1 }])).toThrow(TypeError)
    for (const index of ['', ' 1', '01', '1.0', '-1'])
      expect(() => applyJsonPatch(doc, [{ op: 'add', path: `/list/${index}`, value: 0 }])).toThrow(TypeError)
    expect(applyJsonPatch(doc, [{ op: 'add', path: '/list/2', value: 3 }])).toStrictEqual({ a: 1, list: [1, 2, 3] })
  })
})

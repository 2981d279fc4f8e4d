import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, test } from 'vitest'
import type { AnyData, Change, Collection } from '../../src/index.js'
import { BACKENDS } from '../helpers/backends.js'
import { take } from '../helpers/take-changes.js'

// BACKENDS, not TARGETS: collection.history(id) and describe()'s history bytes are read from the
// engine; the remote client (tandem serve) has no history route yet.
const collections = {
  full: { writers: '*', history: 'full' },
  diff: { writers: '*', history: { keep: 'diff' } },
  recent: { writers: '*', history: { keep: 'diff', maxCount: 2 } },
  young: { writers: '*', history: { keep: 'full', maxAgeMs: 1 } },
  plain: { writers: '*' },
} as const

type Name = keyof typeof collections

/** Edits of every kind: nested keys, arrays grown and shrunk, keys removed, nulls, a replace, a delete, the id reused. */
async function edit(store: { collection(name: Name): unknown }, name: Name): Promise<string> {
  const c = store.collection(name) as Collection<AnyData>
  const r = await c.insert({ title: 'a', tags: ['x', 'y'], meta: { n: 1, deep: { k: null } } }, { id: 'r1' })
  await c.patch(r.id, { title: 'b', tags: ['x', 'y', 'z'] })
  await c.patch(r.id, { meta: { n: 2 } })
  await c.update(r.id, (d: AnyData) => {
    const { tags: _tags, ...rest } = d
    return { ...rest, list: [{ a: 1 }, { b: [1, 2] }] as AnyData[], empty: null }
  })
  await c.replace(r.id, { title: 'c', list: [{ b: [2] }] })
  await c.delete(r.id)
  await c.insert({ again: true }, { id: 'r1' })
  return r.id
}

const summary = (c: Change) => [c.op, c.version, c.data, c.dataVersion ?? null, c.superseded ?? false]

describe.each(BACKENDS)('history on $name', (backend) => {
  test('malformed history options are refused with a typed error naming the option and the value', async () => {
    const open = await backend.tempStore()
    const refused = async (history: unknown, type: typeof TypeError | typeof RangeError, message: string | RegExp) => {
      const error = await open({ role: 'x', collections: { a: { writers: '*', history: history as never } } }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(type)
      expect((error as Error).message).toMatch(message)
    }
    await refused(
      'diffs',
      RangeError,
      `collections.a.history must be 'changes', 'full', 'diff' or { keep: 'full' | 'diff', maxCount?, maxAgeMs? } (got "diffs").`,
    )
    await refused(5, RangeError, /history must be .* \(got number\)/)
    await refused(
      { keep: 'changes' },
      RangeError,
      `collections.a.history.keep must be 'full' or 'diff' (got "changes"); for no history, write history: 'changes'.`,
    )
    await refused({ maxCount: 3 }, RangeError, /history\.keep must be 'full' or 'diff' \(got undefined\)/)
    await refused(
      { keep: 'full', maxCount: -1 },
      RangeError,
      'collections.a.history.maxCount must be a non-negative integer (past versions kept per record) (got -1).',
    )
    await refused({ keep: 'full', maxCount: 1.5 }, RangeError, /maxCount must be a non-negative integer .*\(got 1\.5\)/)
    await refused(
      { keep: 'diff', maxAgeMs: '1d' },
      RangeError,
      'collections.a.history.maxAgeMs must be a positive integer of milliseconds (got "1d").',
    )
    await refused({ keep: 'diff', maxAgeMs: 0 }, RangeError, /maxAgeMs must be a positive integer of milliseconds \(got 0\)/)
    await refused(
      { keep: 'diff', maxCount: 2, max: 1 },
      TypeError,
      'Unknown option "max" in collections.a.history; the options are keep, maxCount, maxAgeMs.',
    )
    const error = await open({ role: 'x', collections: { a: { writers: '*', history: { keep: 'full', maxCount: -1 } } } }).catch(
      (e: unknown) => e,
    )
    expect((error as { code?: string }).code).toBe('INVALID_ARGUMENT')
  })

  test("'diff' delivers the same data as 'full', read live, read late and through history(id)", async () => {
    const open = await backend.tempStore()
    const store = await open({ role: 'app', collections })
    const start = (await store.describe()).changes.head
    const live = store.changes({ collections: ['full', 'diff'] })
    await edit(store, 'full')
    await edit(store, 'diff')
    const seen = await take(live, 14)
    const late = await take(store.changes({ since: start, collections: ['full', 'diff'] }), 14)
    live.close()
    const of = (list: Change[], name: string) => list.filter((c) => c.collection === name).map(summary)
    expect(of(seen, 'full')).toHaveLength(7)
    expect(of(seen, 'diff')).toEqual(of(seen, 'full'))
    expect(of(late, 'diff')).toEqual(of(late, 'full'))
    expect(of(late, 'full')).toEqual(of(seen, 'full'))
    expect(of(late, 'full').map((s) => s[2])).toEqual([
      { title: 'a', tags: ['x', 'y'], meta: { n: 1, deep: { k: null } } },
      { title: 'b', tags: ['x', 'y', 'z'], meta: { n: 1, deep: { k: null } } },
      { title: 'b', tags: ['x', 'y', 'z'], meta: { n: 2 } }, // patch replaces top-level fields
      { title: 'b', meta: { n: 2 }, list: [{ a: 1 }, { b: [1, 2] }], empty: null },
      { title: 'c', list: [{ b: [2] }] },
      { title: 'c', list: [{ b: [2] }] },
      { again: true },
    ])
    // Another process reads the same versions.
    const other = await open({ role: 'app', collections })
    const full = (await other.collection('full').history('r1')).map(summary)
    expect((await other.collection('diff').history('r1')).map(summary)).toEqual(full)
    expect(full).toEqual(of(late, 'full'))
  })

  test('a subscriber starting in the middle of a chain of deltas gets each version', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const diff = store.collection('diff')
    const r = await diff.insert({ n: 0, pad: 'p'.repeat(100) })
    const seqs: number[] = []
    for (let n = 1; n <= 20; n++) {
      await diff.patch(r.id, { n })
      seqs.push((await store.describe()).changes.head)
    }
    const fromMiddle = await take(store.changes({ since: seqs[9]!, collections: ['diff'] }), 10)
    expect(fromMiddle.map((c) => [c.version, (c.data as { n: number }).n, c.dataVersion])).toEqual(
      Array.from({ length: 10 }, (_, i) => [12 + i, 11 + i, 12 + i]),
    )
  })

  test("a collection without history gives history(id) the record's latest change only", async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const plain = store.collection('plain')
    const r = await plain.insert({ n: 1 })
    await plain.patch(r.id, { n: 2 })
    expect((await plain.history(r.id)).map(summary)).toEqual([['update', 2, { n: 2 }, 2, false]])
    expect(await plain.history('nobody')).toEqual([])
  })

  test("history(id) through a transaction's handle reads the committed log while open, TRANSACTION_CLOSED after", async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const r = await store.collection('full').insert({ n: 1 })
    let handle: Collection<AnyData> | undefined
    await store.transaction(async (tx) => {
      handle = tx.collection('full') as Collection<AnyData>
      await handle.patch(r.id, { n: 2 })
      // The transaction's own write is not in the committed log yet.
      expect((await handle.history(r.id)).map((c) => c.version)).toEqual([1])
    })
    expect((await store.collection('full').history(r.id)).map((c) => c.version)).toEqual([1, 2])
    await expect(handle!.history(r.id)).rejects.toMatchObject({ code: 'TRANSACTION_CLOSED' })
  })

  test('maxCount keeps that many past versions per record when the log is trimmed, and the latest change always', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const recent = store.collection('recent')
    const a = await recent.insert({ n: 0 })
    const b = await recent.insert({ n: 0 })
    for (let n = 1; n <= 6; n++) await recent.patch(a.id, { n })
    await recent.patch(b.id, { n: 1 })
    expect(await recent.history(a.id)).toHaveLength(7)
    await store.trimChanges()
    expect((await recent.history(a.id)).map((c) => [c.version, c.data])).toEqual([
      [5, { n: 4 }],
      [6, { n: 5 }],
      [7, { n: 6 }],
    ])
    expect((await recent.history(b.id)).map((c) => c.version)).toEqual([1, 2])
    // A tombstone stays (until the log's own retention): a late subscriber still learns of the delete.
    await recent.delete(b.id)
    await store.trimChanges()
    expect((await recent.history(b.id)).map((c) => c.op)).toEqual(['insert', 'update', 'delete'])
    // From the trim mark: PostgreSQL's trim moves it over the gap the removed entries left.
    const feed = await take(store.changes({ since: (await store.describe()).changes.trimmedThrough, collections: ['recent'] }), 6)
    expect(feed.map((c) => [c.id === a.id ? 'a' : 'b', c.version, c.data])).toEqual([
      ['b', 1, { n: 0 }],
      ['a', 5, { n: 4 }],
      ['a', 6, { n: 5 }],
      ['a', 7, { n: 6 }],
      ['b', 2, { n: 1 }],
      ['b', 2, { n: 1 }],
    ])
  })

  test('maxAgeMs drops past versions older than that when the log is trimmed, never the latest change', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const young = store.collection('young')
    const r = await young.insert({ n: 0 })
    await young.patch(r.id, { n: 1 })
    await sleep(20)
    await young.patch(r.id, { n: 2 })
    await store.trimChanges()
    // The versions written 20 ms ago are past maxAgeMs (1 ms); so is, by now, the latest's copy, which stays.
    expect((await young.history(r.id)).map((c) => [c.version, c.data])).toEqual([[3, { n: 2 }]])
  })

  test('describe() shows each collection’s history setting and, where the engine tells, its bytes', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    for (const name of ['full', 'diff'] as const) {
      const c = store.collection(name)
      const r = await c.insert({ body: 'x'.repeat(1000), n: 0 })
      for (let n = 1; n <= 10; n++) await c.patch(r.id, { n })
    }
    const described = new Map((await store.describe()).collections.map((c) => [c.name, c]))
    expect([...described.values()].map((c) => [c.name, c.history]).sort()).toEqual([
      ['diff', 'diff'],
      ['full', 'full'],
      ['plain', 'changes'],
      ['recent', 'diff;maxCount=2;maxAgeMs=-'],
      ['young', 'full;maxCount=-;maxAgeMs=1'],
    ])
    const full = described.get('full')!.historyBytes
    const diff = described.get('diff')!.historyBytes
    if (backend.name === 'files')
      expect(full).toBeUndefined() // the files engine reports no sizes (storageSizes)
    else {
      expect(full).toBeGreaterThan(11_000)
      // Ten small deltas and one empty one: a fraction of one copy.
      expect(diff).toBeLessThan(1_000)
      expect(described.get('plain')!.historyBytes).toBe(0)
    }
  })
})

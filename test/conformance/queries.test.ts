import { describe, expect, test } from 'vitest'
import { TandemError } from '../../src/index.js'
import { TARGETS } from '../helpers/backends.js'

const collections = { items: { writers: '*', indexes: ['kind', 'rank', 'owner.name'] } } as const
type Item = { kind?: string | null; rank?: number; owner?: { name: string }; tags?: string[]; done?: boolean }

const ITEMS: Item[] = [
  { kind: 'a', rank: 3, owner: { name: 'ann' }, done: true },
  { kind: 'b', rank: 1, owner: { name: 'bob' } },
  { kind: 'a', rank: 2, done: false },
  { kind: null, rank: 5 },
  { rank: 4, tags: ['x'] },
  { kind: 'c' },
]

describe.each(TARGETS)('queries on $name', (backend) => {
  async function seeded() {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const items = store.collection('items')
    const ids: string[] = []
    for (const item of ITEMS) ids.push((await items.insert(item)).id)
    const rank = async (options: Parameters<typeof items.find>[0]) => (await items.find(options)).map((r) => r.data.rank ?? null)
    return { store, items, ids, rank }
  }

  test('equality, null and missing fields', async () => {
    const { items, rank } = await seeded()
    expect(await rank({ where: { kind: 'a' } })).toEqual([3, 2])
    expect(await rank({ where: { kind: null } })).toEqual([5, 4])
    expect(await rank({ where: { 'owner.name': 'bob' } })).toEqual([1])
    expect(await rank({ where: { done: true } })).toEqual([3])
    expect(await rank({ where: { done: false } })).toEqual([2])
    expect(await items.count({ kind: 'a', rank: 2 })).toBe(1)
  })

  test('ne counts a missing field as not equal', async () => {
    const { rank } = await seeded()
    expect(await rank({ where: { kind: { ne: 'a' } } })).toEqual([1, 5, 4, null])
  })

  test('range operators, combined on one field', async () => {
    const { rank } = await seeded()
    expect(await rank({ where: { rank: { gt: 2 } }, orderBy: 'rank' })).toEqual([3, 4, 5])
    expect(await rank({ where: { rank: { gte: 2, lt: 4 } }, orderBy: 'rank' })).toEqual([2, 3])
    expect(await rank({ where: { rank: { lte: 1 } } })).toEqual([1])
  })

  test('in, with and without null', async () => {
    const { rank } = await seeded()
    expect(await rank({ where: { kind: { in: ['b', 'c'] } } })).toEqual([1, null])
    expect(await rank({ where: { kind: { in: ['b', null] } } })).toEqual([1, 5, 4])
    expect(await rank({ where: { kind: { in: [] } } })).toEqual([])
  })

  test('exists means present and not null', async () => {
    const { rank } = await seeded()
    expect(await rank({ where: { kind: { exists: true } } })).toEqual([3, 1, 2, null])
    expect(await rank({ where: { kind: { exists: false } } })).toEqual([5, 4])
    expect(await rank({ where: { tags: { exists: true } } })).toEqual([4])
  })

  test('order by a field, ascending and descending, ties broken by id, nulls first ascending', async () => {
    const { rank, items } = await seeded()
    expect(await rank({ orderBy: 'rank' })).toEqual([null, 1, 2, 3, 4, 5])
    expect(await rank({ orderBy: '-rank' })).toEqual([5, 4, 3, 2, 1, null])
    expect(await rank({ orderBy: { field: 'rank', direction: 'desc' }, limit: 2 })).toEqual([5, 4])
    const byKind = await items.find({ orderBy: 'kind' })
    expect(byKind.map((r) => r.data.kind ?? null)).toEqual([null, null, 'a', 'a', 'b', 'c'])
    expect(byKind[0]!.id < byKind[1]!.id && byKind[2]!.id < byKind[3]!.id).toBe(true)
  })

  test('metadata fields: $id, $version, $createdAt, $role', async () => {
    const { items, ids } = await seeded()
    await items.patch(ids[1]!, { rank: 10 })
    expect((await items.find({ where: { $version: 2 } })).map((r) => r.id)).toEqual([ids[1]])
    expect((await items.find({ where: { $id: { in: [ids[0]!, ids[2]!] } } })).map((r) => r.id)).toEqual([ids[0], ids[2]])
    expect(await items.count({ $createdAt: { lte: new Date(Date.now() + 1000) } })).toBe(6)
    expect(await items.count({ $createdAt: { gt: new Date(Date.now() + 60_000).toISOString() } })).toBe(0)
    expect(await items.count({ $role: 'app' })).toBe(6)
    expect((await items.find({ orderBy: '-$id', limit: 1 }))[0]!.id).toBe(ids[5])
  })

  test('pages with a cursor stay stable while others insert', async () => {
    const { items } = await seeded()
    for (let i = 0; i < 44; i++) await items.insert({ kind: 'p', rank: i % 7 })
    const seen: string[] = []
    let page = await items.findPage({ where: { kind: 'p' }, orderBy: 'rank', limit: 10 })
    let inserted = 0
    for (;;) {
      seen.push(...page.records.map((r) => r.id))
      // Another writer adds records both before and after the cursor position.
      await items.insert({ kind: 'p', rank: -1 })
      await items.insert({ kind: 'p', rank: 100 + inserted++ })
      if (page.next === null) break
      page = await items.findPage({ where: { kind: 'p' }, orderBy: 'rank', limit: 10, after: page.next })
    }
    expect(new Set(seen).size).toBe(seen.length)
    const original = (await items.find({ where: { kind: 'p', rank: { gte: 0, lt: 7 } } })).map((r) => r.id)
    expect(seen.filter((id) => original.includes(id)).length).toBe(44)
    const ranks = (await items.find({ where: { $id: { in: seen } }, orderBy: 'rank' })).map((r) => r.data.rank)
    expect(ranks.every((r) => r !== -1)).toBe(true)
  })

  test('descending pages over a field with nulls visit every record once', async () => {
    const { items } = await seeded()
    const seen: string[] = []
    let after: string | undefined
    do {
      const page = await items.findPage({ orderBy: '-kind', limit: 2, ...(after === undefined ? {} : { after }) })
      seen.push(...page.records.map((r) => r.id))
      after = page.next ?? undefined
    } while (after !== undefined)
    expect(seen.length).toBe(6)
    expect(new Set(seen).size).toBe(6)
  })

  test('field names are validated and values are bound, never spliced into SQL', async () => {
    const { items } = await seeded()
    for (const field of ["kind') OR 1=1 --", 'a..b', '__proto__', 'x.constructor', '1abc', '$nope', '']) {
      const error = await items.find({ where: { [field]: 'a' } }).catch((e: unknown) => e)
      expect(error, field).toBeInstanceOf(TandemError)
      expect(error).toMatchObject({ code: 'INVALID_QUERY' })
    }
    expect(await items.count({ kind: "a' OR '1'='1" })).toBe(0)
    expect(await items.count({ kind: { in: ["'); DROP TABLE c_items; --"] } })).toBe(0)
    expect(await items.count()).toBe(6)
  })

  test('bad operators, values, limits and cursors are refused clearly', async () => {
    const { items } = await seeded()
    await expect(items.find({ where: { kind: { like: 'a%' } as never } })).rejects.toThrow(/Unknown operator "like"/)
    await expect(items.find({ where: { rank: { gt: Number.NaN } } })).rejects.toThrow(/finite number/)
    await expect(items.find({ where: { owner: { eq: { name: 'ann' } } as never } })).rejects.toThrow(/cannot be compared/)
    await expect(items.find({ limit: 0 })).rejects.toThrow(RangeError)
    await expect(items.find({ after: 'garbage' })).rejects.toMatchObject({ code: 'INVALID_QUERY' })
    await expect(items.find({ wher: {} } as never)).rejects.toThrow(/Unknown find option "wher"/)
  })
})

import { describe, expect, test } from 'vitest'
import type { Collection, FindOptions, JsonObject, Where } from '../../src/index.js'
import { BACKENDS, POSTGRES } from '../helpers/backends.js'

const sqlite = BACKENDS.find((b) => b.name === 'sqlite')
const collections = { items: { writers: '*', indexes: ['v', 'o.p'] } } as const

/**
 * Values of every JSON type, with the traps: booleans next to 0 and 1, numbers as strings, case,
 * multi-byte characters, JSON null next to a missing field. Arrays and objects are kept to forms
 * whose JSON text is the same on both engines (see docs/postgres.md: PostgreSQL prints a space
 * after ',' and ':' in the text it compares).
 */
const VALUES: unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  1,
  -1,
  1.5,
  2,
  10,
  1e21,
  -0.25,
  '',
  'a',
  'A',
  'b',
  'aa',
  'é',
  '😀',
  '1',
  'true',
  'null',
  ['x'],
  ['a'],
  [],
  {},
  ['a', 'b'],
]
const PROBES = [null, true, false, 0, 1, 1.5, 2, -1, 1e21, '', 'a', 'b', 'A', '1', 'é', 'zz', '[', '["a"]']
const OPERATORS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'] as const

type Items = Collection<JsonObject>

describe.runIf(sqlite !== undefined && POSTGRES !== undefined)('PostgreSQL answers queries exactly as SQLite does', () => {
  async function both(): Promise<[Items, Items]> {
    const stores = await Promise.all([sqlite!, POSTGRES!].map(async (b) => (await b.tempStore())({ role: 'app', collections })))
    const sets = stores.map((s) => s.collection('items') as unknown as Items)
    for (const items of sets) {
      const rows = VALUES.map((v, i) => {
        // Each field misses in some records: undefined values are left out.
        const fields = { v, w: VALUES[(i + 3) % VALUES.length], p: VALUES[(i + 7) % VALUES.length] }
        const data: Record<string, unknown> = { o: {} }
        if (fields.v !== undefined) data.v = fields.v
        if (fields.w !== undefined) data.w = fields.w
        if (fields.p !== undefined) data.o = { p: fields.p }
        return data
      })
      for (const [i, data] of rows.entries()) await items.insert(data as JsonObject, { id: `r${String(i).padStart(2, '0')}` })
    }
    return [sets[0]!, sets[1]!]
  }

  const ids = async (items: Items, options: FindOptions) => (await items.find(options)).map((r) => r.id)

  test('every operator, on indexed, unindexed and nested fields, with every type of value', async () => {
    const [onSqlite, onPostgres] = await both()
    const wheres: Where[] = []
    for (const field of ['v', 'w', 'o.p']) {
      for (const probe of PROBES) for (const op of OPERATORS) wheres.push({ [field]: { [op]: probe } })
      wheres.push({ [field]: { in: [1, 'a', null] } }, { [field]: { in: [true, 'b'] } }, { [field]: { in: [] } })
      wheres.push({ [field]: { exists: true } }, { [field]: { exists: false } }, { [field]: { gte: 0, lt: 'b' } })
    }
    const mismatches: string[] = []
    const sizes = new Set<number>()
    for (const where of wheres) {
      const [a, b] = await Promise.all([ids(onSqlite, { where }), ids(onPostgres, { where })])
      if (JSON.stringify(a) !== JSON.stringify(b))
        mismatches.push(`${JSON.stringify(where)}: sqlite ${a.join(',')} | postgres ${b.join(',')}`)
      sizes.add(a.length)
    }
    expect(mismatches).toEqual([])
    expect(wheres.length).toBeGreaterThan(300)
    // Not a comparison of empty answers: they range from none to nearly all records.
    expect(Math.min(...sizes)).toBe(0)
    expect(Math.max(...sizes)).toBeGreaterThan(VALUES.length - 5)
    expect(sizes.size).toBeGreaterThan(15)
  })

  test('metadata fields, including the conversions SQLite applies to their column types', async () => {
    const [onSqlite, onPostgres] = await both()
    await onSqlite.patch('r03', { touched: true })
    await onPostgres.patch('r03', { touched: true })
    const wheres: Where[] = [
      { $id: 'r05' },
      { $id: { in: ['r01', 'r09', 'nope'] } },
      { $id: { gt: 'r20' } },
      { $id: { lt: 5 } },
      { $version: 2 },
      { $version: '2' },
      { $version: { gt: '1' } },
      { $version: { lt: 'x' } },
      { $version: true },
      { $role: 'app' },
      { $role: { ne: 'app' } },
      { $version: { in: [2, '2', null] } },
      { $id: { exists: false } },
      { $createdAt: { gt: 0 } },
    ]
    for (const where of wheres) expect(await ids(onPostgres, { where }), JSON.stringify(where)).toEqual(await ids(onSqlite, { where }))
  })

  test('order and keyset pages, ascending and descending, over mixed types', async () => {
    const [onSqlite, onPostgres] = await both()
    for (const orderBy of ['v', '-v', 'w', '-w', 'o.p', '-o.p', '$version', '-$id', '$role']) {
      expect(await ids(onPostgres, { orderBy }), orderBy).toEqual(await ids(onSqlite, { orderBy }))
      const pages = async (items: Items) => {
        const seen: string[] = []
        let after: string | undefined
        do {
          const page = await items.findPage({ orderBy, limit: 4, ...(after === undefined ? {} : { after }) })
          seen.push(...page.records.map((r) => r.id))
          after = page.next ?? undefined
        } while (after !== undefined)
        return seen
      }
      const paged = await pages(onPostgres)
      expect(paged, orderBy).toEqual(await ids(onSqlite, { orderBy }))
      expect(new Set(paged).size).toBe(VALUES.length)
    }
  })
})

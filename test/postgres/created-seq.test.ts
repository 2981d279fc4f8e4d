import pg from 'pg'
import { describe, expect, test } from 'vitest'
import { openStore, type Store } from '../../src/index.js'
import type { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js'
import type { Query } from '../../src/backends/backend.js'
import { PG_URL, POSTGRES, dropSchemaAfterTest, pgAdmin, uniqueSchema } from '../helpers/backends.js'
import { waitUntil } from '../helpers/processes.js'

// created_seq is the order of insertion on PostgreSQL: retention trims by it and `find` ordered by
// it breaks no ties, so it must be unique, also on tables made before the column existed.

const collections = { events: { writers: '*' } } as const

function freshSchema(): { schema: string; open: () => Promise<Store<typeof collections>> } {
  const schema = uniqueSchema('cs')
  const stores: Store<typeof collections>[] = []
  dropSchemaAfterTest(schema, () => Promise.all(stores.map((s) => s.close().catch(() => undefined))))
  return {
    schema,
    open: async () => {
      const store = await openStore({ role: 'x', collections, url: PG_URL, postgres: { schema } })
      stores.push(store)
      return store
    },
  }
}

/** A store whose "events" table looks as an earlier version left it: rows, no created_seq. */
async function oldTable(schema: string, open: () => Promise<Store<typeof collections>>, ids: string[]): Promise<void> {
  const store = await open()
  for (const id of ids) await store.collection('events').insert({ id }, { id })
  await store.close()
  await pgAdmin((c) => c.query(`ALTER TABLE "${schema}"."events" DROP COLUMN created_seq`))
}

async function numbers(schema: string): Promise<[string, number][]> {
  const { rows } = await pgAdmin((c) =>
    c.query<{ id: string; created_seq: string }>(`SELECT id, created_seq FROM "${schema}"."events" ORDER BY created_seq, id`),
  )
  return rows.map((r) => [r.id, Number(r.created_seq)])
}

async function createdSeqIndexes(schema: string): Promise<string[]> {
  const { rows } = await pgAdmin((c) =>
    c.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'events' AND indexdef LIKE '%(created_seq)'`,
      [schema],
    ),
  )
  return rows.map((r) => r.indexdef)
}

const byCreatedSeq: Query = { where: [], orderBy: { field: { kind: 'meta', name: 'createdSeq' }, direction: 'asc' }, limit: 2 }

describe.runIf(POSTGRES !== undefined)('PostgreSQL created_seq', () => {
  test('rows committed while an old table gets created_seq keep numbers no later insert reuses', async () => {
    const { schema, open } = freshSchema()
    await oldTable(schema, open, ['a', 'b', 'c'])
    // Another session inserts into the old table and holds its transaction open: the upgrade has
    // to wait for it, and its rows must be numbered like the others.
    const other = new pg.Client({ connectionString: PG_URL, application_name: 'tandem-test-admin' })
    other.on('error', () => undefined)
    await other.connect()
    try {
      await other.query('BEGIN')
      for (const id of ['d', 'e', 'f']) {
        await other.query(
          `INSERT INTO "${schema}"."events" (id, version, created_at, updated_at, role, data) VALUES ($1, 1, 1, 1, 'x', '{}')`,
          [id],
        )
      }
      const opening = open()
      opening.catch(() => undefined)
      await waitUntil(
        async () =>
          (
            await pgAdmin((c) =>
              c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = to_regclass($1)`, [
                `"${schema}"."events"`,
              ]),
            )
          ).rows[0]!.n > 0,
        'the upgrade waiting for the other transaction',
      )
      await other.query('COMMIT')
      const store = await opening
      for (const id of ['g', 'h', 'i']) await store.collection('events').insert({ id }, { id })
      const numbered = await numbers(schema)
      expect(new Set(numbered.map(([, n]) => n)).size).toBe(9)
      // The old rows by creation time, then the new ones in the order they came.
      expect(numbered.slice(6).map(([id]) => id)).toEqual(['g', 'h', 'i'])
      // Paging by createdSeq (no id tiebreak) sees every row once.
      const backend = store.backend as PostgresBackend
      const seen: string[] = []
      let after: Query['after']
      for (;;) {
        const page = await backend.read((tx) => tx.find('events', { ...byCreatedSeq, ...(after === undefined ? {} : { after }) }))
        if (page.length === 0) break
        seen.push(...page.map((r) => r.id))
        const last = page.at(-1)!
        after = { value: last.sortValue, id: last.id }
      }
      expect(seen.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'])
    } finally {
      await other.end().catch(() => undefined)
    }
  })

  test('new and upgraded tables get a unique index on created_seq, which retention reads through', async () => {
    const fresh = freshSchema()
    const store = await fresh.open()
    expect(await createdSeqIndexes(fresh.schema)).toEqual([
      expect.stringMatching(/^CREATE UNIQUE INDEX "created:events" .*\(created_seq\)$/),
    ])
    await store.collection('events').insertMany(Array.from({ length: 3000 }, (_, i) => ({ i })))
    await pgAdmin((c) => c.query(`ANALYZE "${fresh.schema}"."events"`))
    expect(await (store.backend as PostgresBackend).explainFind('events', byCreatedSeq)).toMatch(/Index Scan using "created:events"/)

    const upgraded = freshSchema()
    await oldTable(upgraded.schema, upgraded.open, ['a', 'b'])
    await upgraded.open()
    expect(await createdSeqIndexes(upgraded.schema)).toHaveLength(1)
  })

  test('several processes opening an old table at once number it once and build one index', async () => {
    const { schema, open } = freshSchema()
    await oldTable(schema, open, ['c', 'b', 'a'])
    await Promise.all([open(), open(), open()])
    expect(await numbers(schema)).toEqual([
      ['c', 1],
      ['b', 2],
      ['a', 3],
    ])
    expect(await createdSeqIndexes(schema)).toHaveLength(1)
  })

  test('a table with created_seq but no index, holding duplicate numbers, is repaired on open', async () => {
    const { schema, open } = freshSchema()
    const first = await open()
    for (const id of ['a', 'b', 'c']) await first.collection('events').insert({ id }, { id })
    await first.close()
    // What the racy upgrade could leave: no index, and a number given twice.
    await pgAdmin(async (c) => {
      await c.query(`DROP INDEX IF EXISTS "${schema}"."created:events"`)
      await c.query(
        `INSERT INTO "${schema}"."events" (id, version, created_at, updated_at, role, data, created_seq) OVERRIDING SYSTEM VALUE VALUES ('d', 1, $1, $1, 'x', '{}', 2)`,
        [Date.now() + 1000],
      )
    })
    const store = await open()
    expect(await createdSeqIndexes(schema)).toHaveLength(1)
    await store.collection('events').insert({ id: 'e' }, { id: 'e' })
    expect((await numbers(schema)).map(([id]) => id)).toEqual(['a', 'b', 'c', 'd', 'e'])
  })
})

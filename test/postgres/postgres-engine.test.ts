import { describe, expect, test } from 'vitest'
import { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js'
import { parseFindOptions } from '../../src/store/query.js'
import { openStore, type Store } from '../../src/index.js'
import { PG_URL, POSTGRES, dropSchemaAfterTest, pgAdmin, uniqueSchema } from '../helpers/backends.js'
import { backendPids, freshSchema, terminate } from './engine-helpers.js'
import { sleep, waitUntil } from '../helpers/processes.js'

// Races are set up by waiting for the state they need (a session waiting for a lock, in COMMIT,
// idle in a transaction; both sides of a deadlock holding their first lock), never by sleeping and
// hoping the other side got there: on a loaded machine it may not have.

describe.runIf(POSTGRES !== undefined)('PostgreSQL engine', () => {
  test('declared indexes become expression indexes that find uses (EXPLAIN)', async () => {
    const { schema, open } = freshSchema()
    const store = await open({ role: 'x', collections: { sessions: { writers: '*', indexes: ['projectId', 'startedAt', 'owner.name'] } } })
    const rows = Array.from({ length: 3000 }, (_, i) => ({ projectId: `p${i % 100}`, startedAt: i, owner: { name: `o${i}` } }))
    await store.collection('sessions').insertMany(rows)
    await pgAdmin((c) => c.query(`ANALYZE "${schema}"."sessions"`))
    const backend = store.backend as PostgresBackend
    const plan = (options: Parameters<typeof parseFindOptions>[0]) => backend.explainFind('sessions', parseFindOptions(options))

    const byProject = await plan({ where: { projectId: 'p1' } })
    expect(byProject).toMatch(/Index Scan using "ix:sessions:projectId"/)
    expect(byProject).not.toMatch(/Sort/) // the index yields the rows in id order already
    expect(await plan({ where: { startedAt: { gte: 2990 } }, orderBy: 'startedAt' })).toMatch(/Index Scan using "ix:sessions:startedAt"/)
    expect(await plan({ where: { 'owner.name': 'o3' } })).toMatch(/"ix:sessions:owner\.name"/)
    expect(await plan({ orderBy: '-startedAt', limit: 5 })).toMatch(/Index Scan Backward using "ix:sessions:startedAt"/)
    expect(await plan({ where: { projectId: { in: ['p1', 'p2'] } } })).toMatch(/"ix:sessions:projectId"/)
    expect(await plan({ where: { startedAt: { lt: 3 } } })).toMatch(/"ix:sessions:startedAt"/)
    // A page after a cursor is one row comparison on the index, not a filter over the whole table.
    const page = await store.collection('sessions').findPage({ orderBy: 'startedAt', limit: 10 })
    const after = parseFindOptions({ orderBy: 'startedAt', limit: 10, after: page.next! })
    expect(await backend.explainFind('sessions', after)).toMatch(/Index Scan using "ix:sessions:startedAt"[^]*Index Cond: \(ROW/)
    expect(await plan({ where: { $id: 'x' } })).toMatch(/Index Scan using "pk:sessions"/)
    expect(await plan({ where: { unindexed: 1 } })).toMatch(/Seq Scan on sessions/)
    expect(await store.collection('sessions').count({ projectId: 'p1' })).toBe(30)
  })

  test('the schema holds one table per collection with the SQLite columns, JSONB data and a change log another program can read', async () => {
    const { schema, open } = freshSchema()
    const store = await open({ role: 'daemon', collections: { jobs: { writers: '*' } } })
    const r = await store.collection('jobs').insert({ cmd: 'build' })
    await pgAdmin(async (c) => {
      const columns = await c.query(
        `SELECT column_name AS name, data_type AS type, collation_name AS collation FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'jobs' ORDER BY ordinal_position`,
        [schema],
      )
      expect(columns.rows).toEqual([
        { name: 'id', type: 'text', collation: 'C' },
        { name: 'version', type: 'bigint', collation: null },
        { name: 'created_at', type: 'bigint', collation: null },
        { name: 'updated_at', type: 'bigint', collation: null },
        { name: 'role', type: 'text', collation: 'C' },
        { name: 'data', type: 'jsonb', collation: null },
        { name: 'created_seq', type: 'bigint', collation: null },
      ])
      const row = await c.query(`SELECT id, version, role, data, data->>'cmd' AS cmd FROM "${schema}"."jobs"`)
      expect(row.rows).toEqual([{ id: r.id, version: '1', role: 'daemon', data: { cmd: 'build' }, cmd: 'build' }])
      const change = await c.query(`SELECT seq, collection, id, op, data FROM "${schema}"."_tandem_changes"`)
      // No copy of the data by default (history: 'full' keeps one): the reader looks the record up.
      expect(change.rows).toEqual([{ seq: '1', collection: 'jobs', id: r.id, op: 'insert', data: null }])
      await expect(c.query(`INSERT INTO "${schema}"."jobs" VALUES ('x', 1, 1, 1, 'r', '[1]')`)).rejects.toThrow(/check constraint/)
    })
    const tables = await store.runRead((tx) => tx.listCollections())
    expect(tables).toContain('jobs')
    expect(tables.some((t) => t.startsWith('_tandem_'))).toBe(false)
    expect(await store.checkIntegrity()).toEqual(['ok'])
    expect((await store.describe()).storage).toMatchObject({
      location: expect.stringContaining(`schema ${schema}`),
      bytes: expect.any(Number),
    })
  })

  test('eight stores opening one new schema at once all succeed, and the tables are made once', async () => {
    const { schema, open } = freshSchema()
    const collections = { a: { writers: '*', indexes: ['k'] }, b: { writers: '*', indexes: ['k', 'n.m'] } } as const
    const stores = await Promise.all(Array.from({ length: 8 }, (_, i) => open({ role: `p${i}`, collections })))
    await Promise.all(stores.map((s, i) => s.collection('a').insert({ k: i })))
    expect(await stores[0]!.collection('a').count()).toBe(8)
    const indexes = await pgAdmin(async (c) =>
      (await c.query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname`, [schema])).rows.map(
        (r) => r.indexname as string,
      ),
    )
    expect(indexes.filter((i) => i.startsWith('ix:'))).toEqual(['ix:a:k', 'ix:b:k', 'ix:b:n.m'])
  })

  test("collections named like PostgreSQL's own objects (a primary key, a row type, an internal table) coexist", async () => {
    const { open } = freshSchema()
    const names = ['items', 'items_pkey', 'consumers', 'processes', 'migrations', 'pk', 'ix', 'user', 'select', 'Items2', 'tandem_meta']
    const store = await open({
      role: 'x',
      collections: Object.fromEntries(names.map((n) => [n, { writers: '*' as const, indexes: ['k'] }])),
    })
    for (const name of names) await store.collection(name).insert({ k: name }, { id: name })
    for (const name of names) expect(await store.collection(name).find({ where: { k: name } }), name).toMatchObject([{ id: name }])
    const tables = await store.runRead((tx) => tx.listCollections())
    expect(names.every((n) => tables.includes(n))).toBe(true)
  })

  test('strings order bytewise (COLLATE "C"), as on SQLite, whatever the database collation', async () => {
    const { open } = freshSchema()
    const store = await open({ role: 'x', collections: { words: { writers: '*', indexes: ['w'] } } })
    const words = ['b', 'B', 'a', 'é', 'Z', 'aa', '😀', '\u00ff', '\uffff', ' ', 'a b', 'A']
    for (const w of words) await store.collection('words').insert({ w })
    const bytewise = [...words].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    expect((await store.collection('words').find({ orderBy: 'w' })).map((r) => r.data.w)).toEqual(bytewise)
    expect((await store.collection('words').find({ where: { w: { gt: 'Z', lt: 'b' } }, orderBy: 'w' })).map((r) => r.data.w)).toEqual([
      'a',
      'a b',
      'aa',
    ])
  })

  test('data PostgreSQL cannot store (U+0000) is refused with INVALID_DATA and a hint; nothing is written', async () => {
    const { open } = freshSchema()
    const store = await open({ role: 'x', collections: { notes: { writers: '*' } } })
    const error = await store
      .collection('notes')
      .insert({ text: 'a\u0000b' })
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'INVALID_DATA', message: expect.stringMatching(/U\+0000/) })
    await store.collection('notes').insert({ text: 'fine' })
    expect(await store.collection('notes').count()).toBe(1)
  })

  test("every write commits with synchronous_commit on and lock_timeout = busyTimeoutMs, whatever the server default, on a connection's first transaction and its later ones", async () => {
    const schema = uniqueSchema('settings')
    const stores: Store[] = []
    dropSchemaAfterTest(schema, () => Promise.all(stores.map((s) => s.close().catch(() => undefined))))
    // The session defaults say otherwise: asynchronous commit, no lock timeout.
    const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c synchronous_commit=off -c lock_timeout=0')}`
    const store = await openStore({
      url,
      postgres: { schema, poolSize: 1 },
      role: 'x',
      collections: { items: { writers: '*' } },
      busyTimeoutMs: 250,
    })
    stores.push(store as unknown as Store)
    await store.collection('items').insert({ n: 0 })
    // A deferred trigger runs inside COMMIT and notes the settings it commits with.
    await pgAdmin(async (c) => {
      await c.query(`CREATE TABLE "${schema}".seen (sync text, lock text)`)
      await c.query(
        `CREATE FUNCTION "${schema}".note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO "${schema}".seen VALUES (current_setting('synchronous_commit'), current_setting('lock_timeout')); RETURN NULL; END $$`,
      )
      await c.query(
        `CREATE CONSTRAINT TRIGGER note AFTER INSERT ON "${schema}"."items" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${schema}".note()`,
      )
    })
    // One pooled connection: the first insert above configured it; a rolled-back write must not
    // leave it half-configured either.
    await expect(
      store.transaction(async (tx) => {
        await tx.collection('items').insert({ n: 1 })
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    for (let i = 2; i < 5; i++) await store.collection('items').insert({ n: i })
    // A new connection whose first transaction rolls back: its SETs roll back with it, so the next
    // transaction on that connection must send them again.
    await terminate(await backendPids(`tandem:${schema}`))
    await expect(
      store.transaction(async (tx) => {
        await tx.collection('items').insert({ n: 5 })
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    await store.collection('items').insert({ n: 6 })
    const seen = await pgAdmin(async (c) => (await c.query(`SELECT sync, lock FROM "${schema}".seen`)).rows)
    expect(seen).toEqual(Array.from({ length: 4 }, () => ({ sync: 'on', lock: '250ms' })))
  })

  test('a connection lost during COMMIT is OUTCOME_UNKNOWN, never success or plain failure; lost before COMMIT, it is a failure', async () => {
    const { schema, open } = freshSchema()
    const store = await open({ role: 'x', collections: { items: { writers: '*' } } })
    const items = store.collection('items')
    await items.insert({ n: 0 })
    // Hold COMMIT: a deferred constraint trigger runs inside it and waits for an advisory lock
    // this test holds until the connection is gone.
    const gateKey = 1 + Math.floor(Math.random() * 2 ** 40)
    await pgAdmin(async (c) => {
      await c.query(
        `CREATE FUNCTION "${schema}".slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(${gateKey}); RETURN NULL; END $$`,
      )
      await c.query(
        `CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON "${schema}"."items" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${schema}".slow_commit()`,
      )
    })
    const error = await pgAdmin(async (gate) => {
      await gate.query('SELECT pg_advisory_lock($1)', [gateKey])
      const pending = items.insert({ n: 1 }).catch((e: unknown) => e)
      let pids: number[] = []
      await waitUntil(
        async () =>
          (pids = await backendPids(`tandem:${schema}`, `state = 'active' AND query LIKE '%COMMIT' AND wait_event_type = 'Lock'`)).length >
          0,
        'the insert to wait inside COMMIT',
      )
      expect(pids).toHaveLength(1)
      await terminate(pids)
      return pending
    })
    expect(error).toMatchObject({ code: 'OUTCOME_UNKNOWN', message: expect.stringMatching(/may or may not have committed/) })
    await pgAdmin((c) => c.query(`DROP TRIGGER slow ON "${schema}"."items"`))

    // Lost while the transaction was open, before COMMIT: the server rolled it back, and says so.
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const open2 = store.transaction(async (tx) => {
      await tx.collection('items').insert({ n: 2 })
      await gate
    })
    const failed = open2.catch((e: unknown) => e)
    let idle: number[] = []
    await waitUntil(
      async () => (idle = await backendPids(`tandem:${schema}`, `state = 'idle in transaction'`)).length > 0,
      'the transaction to sit idle on its connection',
    )
    await terminate(idle)
    // The server process is gone (so it has sent its goodbye and closed the socket), and this
    // process's event loop has turned since: the store has heard it before it tries to COMMIT.
    await waitUntil(
      async () => (await backendPids(`tandem:${schema}`, `pid = ANY('{${idle.join(',')}}'::int[])`)).length === 0,
      'the terminated server process to exit',
    )
    await sleep(50)
    release()
    expect(await failed).toMatchObject({
      code: 'STORAGE_FAILURE',
      message: expect.stringMatching(/did not commit: nothing of it was written/),
    })
    // The store carries on with fresh connections.
    await items.insert({ n: 3 })
    expect((await items.find({ orderBy: '$createdAt' })).map((r) => r.data.n)).toEqual([0, 3])
  })

  test('pooled connections killed under the store raise pool errors that never crash the process; the next calls reconnect', async () => {
    const { schema, open } = freshSchema()
    const store = await open({ role: 'x', collections: { items: { writers: '*' } } })
    const items = store.collection('items')
    await Promise.all(Array.from({ length: 5 }, (_, i) => items.count({ n: i })))
    await items.insert({ n: 1 })
    const pids = await backendPids(`tandem:${schema}`)
    expect(pids.length).toBeGreaterThan(1)
    await terminate(pids)
    // At once, before the pool has noticed every dead connection: reads and writes still succeed.
    await items.insert({ n: 2 })
    expect(await items.count()).toBe(2)
    // The pool hears of the dead idle connections as their sockets close, whenever this process gets to it.
    await waitUntil(() => (store.backend as PostgresBackend).poolErrors > 0, 'the pool to notice its terminated connections')
    await Promise.all(Array.from({ length: 5 }, () => items.insert({ n: 3 })))
    expect(await items.count()).toBe(7)
  })
})

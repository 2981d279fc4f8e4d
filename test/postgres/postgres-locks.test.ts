import { describe, expect, test } from 'vitest'
import { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js'
import { POSTGRES, pgAdmin } from '../helpers/backends.js'
import { sleep, waitUntil } from '../helpers/processes.js'
import { backendPids, freshSchema } from './engine-helpers.js'

// Locks on PostgreSQL: lock_timeout, deadlocks PostgreSQL cancels and Tandem retries, upserts of
// missing rows, advisory locks. Races are set up by waiting for the state they need (a session
// waiting for a lock; both sides of a deadlock holding their first lock), never by sleeping and
// hoping the other side got there: on a loaded machine it may not have.

describe.runIf(POSTGRES !== undefined)('PostgreSQL locks', () => {
  test('a row lock held longer than busyTimeoutMs gives BUSY_TIMEOUT (lock_timeout), and the write goes through once it is free', async () => {
    const { schema, open } = freshSchema()
    const store = await open({ role: 'x', collections: { items: { writers: '*' } }, busyTimeoutMs: 200 })
    await store.collection('items').insert({ n: 0 }, { id: 'r' })
    await pgAdmin(async (c) => {
      await c.query('BEGIN')
      await c.query(`SELECT * FROM "${schema}"."items" WHERE id = 'r' FOR UPDATE`)
      const started = performance.now()
      const error = await store
        .collection('items')
        .update('r', (d) => ({ n: (d.n as number) + 1 }))
        .catch((e: unknown) => e)
      const waited = performance.now() - started
      expect(error).toMatchObject({ code: 'BUSY_TIMEOUT', message: expect.stringMatching(/busyTimeoutMs/) })
      expect(waited).toBeGreaterThanOrEqual(150)
      expect(waited).toBeLessThan(3000)
      await c.query('COMMIT')
    })
    expect((await store.collection('items').update('r', (d) => ({ n: (d.n as number) + 1 }))).data.n).toBe(1)
  })

  test('two transactions locking two records in opposite orders deadlock; PostgreSQL cancels one, and it is retried', async () => {
    const { open } = freshSchema()
    const collections = { counters: { writers: '*' } } as const
    const a = await open({ role: 'a', collections })
    const b = await open({ role: 'b', collections })
    await a.collection('counters').insert({ n: 0 }, { id: 'r1' })
    await a.collection('counters').insert({ n: 0 }, { id: 'r2' })
    // Each holds its first record before either asks for its second: a deadlock every time. (The
    // transaction PostgreSQL cancels runs again; by then the barrier is open.)
    let holding = 0
    const bump = (store: typeof a, first: string, second: string) =>
      store.transaction(async (tx) => {
        await tx.collection('counters').update(first, (d) => ({ n: (d.n as number) + 1 }))
        holding++
        await waitUntil(() => holding >= 2, 'both transactions to hold their first record')
        await tx.collection('counters').update(second, (d) => ({ n: (d.n as number) + 1 }))
      })
    await Promise.all([bump(a, 'r1', 'r2'), bump(b, 'r2', 'r1')])
    expect((await a.collection('counters').get('r1'))?.data.n).toBe(2)
    expect((await a.collection('counters').get('r2'))?.data.n).toBe(2)
    const retries = (a.backend as PostgresBackend).retryStats.retries + (b.backend as PostgresBackend).retryStats.retries
    expect(retries).toBeGreaterThanOrEqual(1)
  })

  test('batched updates of two records in opposite orders never deadlock: the one out of the global lock order runs again in the next batch, and every update lands', async () => {
    const { open } = freshSchema()
    const collections = { counters: { writers: '*' } } as const
    const a = await open({ role: 'a', collections })
    const b = await open({ role: 'b', collections })
    await a.collection('counters').insertMany([{ n: 0 }, { n: 0 }])
    const [r1, r2] = (await a.collection('counters').find()).map((r) => r.id) as [string, string]
    // Each store sends two updates in one tick: one transaction, a savepoint each, in opposite orders.
    // Each batch's first update holds its record until the other batch holds its own: then both
    // ask for the other's record. Without a global lock order that is a deadlock every time (#24).
    let holding = 0
    const slowBump = (store: typeof a, id: string) => {
      let first = true
      return store.collection('counters').update(id, async (d) => {
        if (first && ((store === a && id === r1) || (store === b && id === r2))) {
          first = false
          holding++
          await waitUntil(() => holding >= 2, 'both batches to hold their first record')
        }
        return { n: (d.n as number) + 1 }
      })
    }
    const results = await Promise.allSettled([slowBump(a, r1), slowBump(a, r2), slowBump(b, r2), slowBump(b, r1)])
    const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
    expect(rejected.map((r) => String(r.reason))).toEqual([])
    expect((await a.collection('counters').get(r1))?.data.n).toBe(2)
    expect((await a.collection('counters').get(r2))?.data.n).toBe(2)
  })

  test("a deadlock inside a batch of inserts fails the batch or lets it commit, and never hands a caller another write's result", async () => {
    const { open } = freshSchema()
    const collections = { items: { writers: '*' } } as const
    const a = await open({ role: 'a', collections })
    const b = await open({ role: 'b', collections })
    let inserted!: () => void
    const bHasY = new Promise<void>((resolve) => (inserted = resolve))
    // b holds y, then wants x; a's batch takes x, then wants y.
    const bWrites = b
      .transaction(async (tx) => {
        await tx.collection('items').insert({ who: 'b' }, { id: 'y' })
        inserted()
        await sleep(100)
        await tx.collection('items').insert({ who: 'b' }, { id: 'x' })
      })
      .then(
        () => 'ok',
        (e: unknown) => (e as { code?: string }).code,
      )
    await bHasY
    // Issued in one tick: one transaction, one two-row INSERT, no savepoints.
    const batch = await Promise.allSettled([
      a.collection('items').insert({ who: 'a1' }, { id: 'x' }),
      a.collection('items').insert({ who: 'a2' }, { id: 'y' }),
    ])
    const bOutcome = await bWrites
    if (batch.every((r) => r.status === 'fulfilled')) {
      expect(batch.map((r) => (r as PromiseFulfilledResult<unknown>).value)).toMatchObject([
        { id: 'x', data: { who: 'a1' } },
        { id: 'y', data: { who: 'a2' } },
      ])
      expect(bOutcome).not.toBe('ok')
    } else {
      expect(batch.map((r) => r.status)).toEqual(['rejected', 'rejected'])
      // The two inserts travel as one statement, so nothing of the batch had finished when
      // PostgreSQL cancelled it: either it fails with the deadlock, or it is run again after b
      // committed, and then both ids are taken.
      const reasons = batch.map((r) => (r as PromiseRejectedResult).reason as { code: string; message: string })
      if (reasons[0]!.code === 'BUSY_TIMEOUT') expect(reasons[0]!.message).toMatch(/deadlock/)
      else expect(reasons.map((r) => r.code)).toEqual(['DUPLICATE_ID', 'DUPLICATE_ID'])
      expect(bOutcome).toBe('ok')
    }
    const rows = await a.collection('items').find()
    expect(rows.map((r) => r.data.who).sort()).toEqual(bOutcome === 'ok' ? ['b', 'b'] : ['a1', 'a2'])
  })

  test('two stores upserting the same new ids at once never get DUPLICATE_ID (the missing row is locked)', async () => {
    const { open } = freshSchema()
    const collections = { kv: { writers: '*' } } as const
    const a = await open({ role: 'a', collections })
    const b = await open({ role: 'b', collections })
    const ids = Array.from({ length: 30 }, (_, i) => `k${i}`)
    const results = await Promise.allSettled(
      ids.flatMap((id) => [a.collection('kv').upsert(id, { by: 'a' }), b.collection('kv').upsert(id, { by: 'b' })]),
    )
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    const rows = await a.collection('kv').find()
    expect(rows.map((r) => r.version)).toEqual(ids.map(() => 2))
  })

  test('an upsert whose id another transaction inserts meanwhile is run again and updates it', async () => {
    const { schema, open } = freshSchema()
    const collections = { kv: { writers: '*' } } as const
    const a = await open({ role: 'a', collections })
    const b = await open({ role: 'b', collections })
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let inserted!: () => void
    const bHasK = new Promise<void>((resolve) => (inserted = resolve))
    const inserting = b.transaction(async (tx) => {
      await tx.collection('kv').insert({ by: 'b' }, { id: 'k' })
      inserted()
      await gate
    })
    await bHasK
    // a's upsert finds no row, then its INSERT waits for b's uncommitted one; b commits; a's read was stale.
    const upserting = a.collection('kv').upsert('k', { by: 'a' })
    await waitUntil(
      async () => (await backendPids(`tandem:${schema}`, `wait_event_type = 'Lock'`)).length > 0,
      "a's INSERT to wait for b's row",
    )
    release()
    await inserting
    expect(await upserting).toMatchObject({ version: 2, data: { by: 'a' } })
    expect((a.backend as PostgresBackend).retryStats.retries).toBe(1)
  })

  test('WriteTx.lock is a transaction-scoped advisory lock other processes wait for', async () => {
    const { open } = freshSchema()
    const a = await open({ role: 'a', collections: { x: { writers: '*' } } })
    const b = await open({ role: 'b', collections: { x: { writers: '*' } } })
    const order: string[] = []
    let locked!: () => void
    const holding = new Promise<void>((resolve) => (locked = resolve))
    const first = a.runWrite(async (tx) => {
      await tx.lock('job')
      locked()
      await sleep(200)
      order.push('a done')
    })
    await holding
    const second = b.runWrite(async (tx) => {
      await tx.lock('job')
      order.push('b got it')
    })
    await Promise.all([first, second])
    expect(order).toEqual(['a done', 'b got it'])
  })
})

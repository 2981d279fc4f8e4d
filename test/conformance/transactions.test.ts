import { describe, expect, test } from 'vitest'
import { TARGETS } from '../helpers/backends.js'

const collections = { projects: { writers: '*' }, events: { writers: '*' }, counters: { writers: '*' } } as const

describe.each(TARGETS)('transactions on $name', (backend) => {
  test('writes across collections commit together', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const result = await store.transaction(async (tx) => {
      const p = await tx.collection('projects').insert({ name: 'p' })
      await tx.collection('events').insert({ projectId: p.id })
      return p.id
    })
    expect(await store.collection('projects').get(result)).toBeDefined()
    expect(await store.collection('events').count({ projectId: result })).toBe(1)
  })

  test('a throw rolls back every write of the transaction and rethrows', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const kept = await store.collection('projects').insert({ name: 'kept' })
    const error = new Error('stop')
    await expect(
      store.transaction(async (tx) => {
        await tx.collection('projects').insert({ name: 'lost' })
        await tx.collection('projects').patch(kept.id, { name: 'changed' })
        await tx.collection('events').insert({ any: 1 })
        throw error
      }),
    ).rejects.toBe(error)
    expect(await store.collection('projects').find()).toEqual([kept])
    expect(await store.collection('events').count()).toBe(0)
  })

  test('reads inside a transaction see its own writes; readers outside do not until commit', async () => {
    const open = await backend.tempStore()
    const store = await open({ role: 'app', collections })
    const other = await open({ role: 'app', collections })
    await store.transaction(async (tx) => {
      const p = await tx.collection('projects').insert({ name: 'p' })
      expect(await tx.collection('projects').get(p.id)).toEqual(p)
      expect(await store.collection('projects').count()).toBe(1)
      expect(await other.collection('projects').count()).toBe(0)
    })
    expect(await other.collection('projects').count()).toBe(1)
  })

  test('concurrent transactions of one process queue instead of interleaving', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const c = await store.collection('counters').insert({ n: 0 })
    const log: string[] = []
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.transaction(async (tx) => {
          log.push(`start ${i}`)
          const current = await tx.collection('counters').get(c.id)
          await new Promise((resolve) => setTimeout(resolve, 2))
          await tx.collection('counters').replace(c.id, { n: (current!.data.n as number) + 1 })
          log.push(`end ${i}`)
        }),
      ),
    )
    expect((await store.collection('counters').get(c.id))?.data.n).toBe(10)
    for (let i = 0; i < log.length; i += 2) expect(log[i]!.replace('start', 'end')).toBe(log[i + 1])
  })

  test('a failing transaction in a batch does not undo the writes batched with it', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const results = await Promise.allSettled([
      store.collection('projects').insert({ n: 1 }),
      store.transaction(async (tx) => {
        await tx.collection('projects').insert({ n: 2 })
        throw new Error('only me')
      }),
      store.collection('projects').insert({ n: 3 }),
      store.collection('projects').insert({ n: 4 }, { id: 'dup' }),
      store.collection('projects').insert({ n: 5 }, { id: 'dup' }),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected'])
    expect((results[4] as PromiseRejectedResult).reason).toMatchObject({ code: 'DUPLICATE_ID' })
    expect((await store.collection('projects').find()).map((r) => r.data.n).sort()).toEqual([1, 3, 4])
  })

  test('batched writes whose savepoints end before touching the store (empty, or failing at once) leave the others intact', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const counters = store.collection('counters')
    const [a, b] = await Promise.all([counters.insert({ n: 0 }), counters.insert({ n: 0 })])
    const inc = (d: Record<string, unknown>) => ({ n: (d.n as number) + 1 })
    const results = await Promise.allSettled([
      counters.update(a.id, inc),
      store.transaction(async () => {}),
      store.transaction(async () => {
        throw new Error('at once')
      }),
      store.transaction(async (tx) => {
        // Nested savepoints that end before their first statement, then a write of the outer one.
        await tx.transaction(async () => {})
        await expect(
          tx.transaction(async () => {
            throw new Error('inner at once')
          }),
        ).rejects.toThrow('inner at once')
        await tx.collection('counters').update(b.id, inc)
      }),
      counters.update(b.id, inc),
      counters.update('missing', inc),
      counters.update(a.id, inc),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
    expect((results[5] as PromiseRejectedResult).reason).toMatchObject({ code: 'NOT_FOUND' })
    expect((await counters.get(a.id))!.data.n).toBe(2)
    expect((await counters.get(b.id))!.data.n).toBe(2)
    // The store is still writable in one transaction after all of it.
    await store.transaction(async (tx) => {
      await tx.collection('counters').update(a.id, inc)
      await tx.transaction(async () => {})
    })
    expect((await counters.get(a.id))!.data).toEqual({ n: 3 })
  })

  test('a nested transaction is a savepoint: its throw undoes only its own writes', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    await store.transaction(async (tx) => {
      await tx.collection('projects').insert({ name: 'outer' })
      await expect(
        tx.transaction(async (inner) => {
          await inner.collection('projects').insert({ name: 'inner' })
          throw new Error('inner fails')
        }),
      ).rejects.toThrow('inner fails')
      await store.transaction(async (inner) => {
        await inner.collection('projects').insert({ name: 'inner ok' })
      })
    })
    expect((await store.collection('projects').find()).map((r) => r.data.name)).toEqual(['outer', 'inner ok'])
  })

  test('calls through the store handle inside a transaction join it instead of deadlocking', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    await expect(
      store.transaction(async () => {
        await store.collection('projects').insert({ name: 'joined' })
        throw new Error('undo')
      }),
    ).rejects.toThrow('undo')
    expect(await store.collection('projects').count()).toBe(0)
  })

  test('writes started but not awaited inside the callback still belong to the transaction', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    let stray: Promise<unknown> | undefined
    await store.transaction(async (tx) => {
      stray = tx.collection('projects').insert({ name: 'not awaited' })
    })
    await expect(stray).resolves.toMatchObject({ version: 1 })
    expect(await store.collection('projects').count()).toBe(1)
  })

  test('two updates of one record started together inside a transaction both apply', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const c = await store.collection('counters').insert({ n: 0 })
    await store.transaction(async (tx) => {
      const counters = tx.collection('counters')
      await Promise.all([
        counters.update(c.id, async (d) => ({ n: (d.n as number) + 1 })),
        counters.update(c.id, async (d) => ({ n: (d.n as number) + 1 })),
      ])
    })
    expect((await store.collection('counters').get(c.id))?.data.n).toBe(2)
  })

  test('a transaction handle used after its transaction ended fails with TRANSACTION_CLOSED', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    let leaked: Parameters<Parameters<typeof store.transaction>[0]>[0] | undefined
    await store.transaction(async (tx) => {
      leaked = tx
    })
    await expect(leaked!.collection('projects').insert({})).rejects.toMatchObject({ code: 'TRANSACTION_CLOSED' })
    expect(await store.collection('projects').count()).toBe(0)
  })

  test('insertMany is all or nothing', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    await store.collection('projects').insert({ n: 0 }, { id: 'taken' })
    await expect(store.collection('projects').insertMany([{ n: 1 }, { n: 2 }, { n: 3, bad: Number.NaN }])).rejects.toMatchObject({
      code: 'INVALID_DATA',
    })
    expect(await store.collection('projects').count()).toBe(1)
    const many = await store.collection('projects').insertMany([{ n: 1 }, { n: 2 }])
    expect(many.map((r) => r.data.n)).toEqual([1, 2])
  })
})

describe.each(TARGETS)('update callbacks on $name', (backend) => {
  test('an async update fn that awaits other writes joins the update instead of deadlocking', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const c = await store.collection('counters').insert({ n: 0 })
    const updated = await store.collection('counters').update(c.id, async (d) => {
      await store.collection('events').insert({ about: c.id })
      return { n: (d.n as number) + 1 }
    })
    expect(updated.data.n).toBe(1)
    expect(await store.collection('events').count({ about: c.id })).toBe(1)
    await expect(
      store.collection('counters').update(c.id, async () => {
        await store.collection('events').insert({ about: 'rolled back' })
        throw new Error('fn failed')
      }),
    ).rejects.toThrow('fn failed')
    expect(await store.collection('events').count({ about: 'rolled back' })).toBe(0)
  })
})

describe.each(TARGETS)('isolation of reads inside transactions on $name', (backend) => {
  // Found by the torture suite on PostgreSQL (docs/torture.md, Findings 1): find() inside a write
  // read a fresh READ COMMITTED snapshot and took no lock, so two transactions could each decide on
  // rows the other was changing.
  test('two transactions deciding on the rows they found cannot both act on a stale view (no write skew)', async () => {
    const open = await backend.tempStore()
    const doctors = { doctors: { writers: '*' } } as const
    const a = await open({ role: 'a', collections: doctors })
    const b = await open({ role: 'b', collections: doctors })
    await a.collection('doctors').insert({ onCall: true }, { id: 'alice' })
    await a.collection('doctors').insert({ onCall: true }, { id: 'bob' })
    const goOffCall = (store: typeof a, me: string) =>
      store.transaction(async (tx) => {
        const onCall = await tx.collection('doctors').find({ where: { onCall: true } })
        await new Promise((resolve) => setTimeout(resolve, 50))
        if (onCall.length >= 2) await tx.collection('doctors').patch(me, { onCall: false })
      })
    await Promise.all([goOffCall(a, 'alice'), goOffCall(b, 'bob')])
    expect(await a.collection('doctors').count({ onCall: true })).toBe(1)
  })

  // Found by the torture suite on PostgreSQL (docs/torture.md, Findings 1): find() inside a write
  // locked the rows it returned, not the range, so a record inserted meanwhile was missed (G2).
  test('two transactions that each book a free slot after finding none cannot both book it (no write skew on phantoms)', async () => {
    const open = await backend.tempStore()
    const bookings = { bookings: { writers: '*' } } as const
    const a = await open({ role: 'a', collections: bookings })
    const b = await open({ role: 'b', collections: bookings })
    await a.collection('bookings').insert({ room: 1, slot: 9, by: 'setup' })
    const book = (store: typeof a, who: string) =>
      store.transaction(async (tx) => {
        const taken = await tx.collection('bookings').find({ where: { room: 2, slot: { gte: 10, lt: 12 } } })
        await new Promise((resolve) => setTimeout(resolve, 50))
        if (taken.length === 0) await tx.collection('bookings').insert({ room: 2, slot: 10, by: who })
      })
    await Promise.all([book(a, 'a'), book(b, 'b')])
    expect(await a.collection('bookings').count({ room: 2 })).toBe(1)
  })

  test('a count repeated inside a transaction does not change when another store inserts into its range meanwhile', async () => {
    const open = await backend.tempStore()
    const items = { items: { writers: '*' } } as const
    const a = await open({ role: 'a', collections: items })
    const b = await open({ role: 'b', collections: items })
    await a.collection('items').insert({ n: 1 })
    let inserted: Promise<unknown> | undefined
    const counts = await a.transaction(async (tx) => {
      const first = await tx.collection('items').count({ n: { gte: 0 } })
      // Not awaited here: it has to wait for this transaction (it would wait for itself).
      inserted = b.collection('items').insert({ n: 2 })
      await new Promise((resolve) => setTimeout(resolve, 100))
      const second = await tx.collection('items').count({ n: { gte: 0 } })
      return [first, second]
    })
    await inserted
    expect(counts).toEqual([1, 1])
    expect(await a.collection('items').count()).toBe(2)
  })
})

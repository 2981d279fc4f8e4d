import { describe, expect, test } from 'vitest'
import { TARGETS } from '../helpers/backends.js'
import { take } from '../helpers/take-changes.js'

// Durable consumers (docs/changes.md). Skipped on remote (test/helpers/backends.ts, TargetLacks):
// tests that reach into the engine or the lease holder's pid (lacks.engine).
const collections = {
  tasks: { writers: '*' },
  notes: { writers: '*' },
  blobs: { writers: '*' },
  audit: { writers: '*', history: 'full' },
} as const

describe.each(TARGETS)('durable consumers on $name', (backend) => {
  test('a consumer resumes after its last ack when opened again', async () => {
    const open = await backend.tempStore()
    const store = await open({ role: 'app', collections })
    const mailer = store.consumer('mailer', { start: 'beginning', collections: ['notes'] })
    for (let i = 0; i < 5; i++) await store.collection('notes').insert({ i })
    const stream = await mailer.changes()
    const firstTwo = await take(stream, 2)
    await mailer.ack(firstTwo[1]!.seq)
    await mailer.close()
    const again = await open({ role: 'app', collections })
    const resumed = again.consumer('mailer', { collections: ['notes'] })
    const rest = await take(await resumed.changes(), 3)
    expect(rest.map((c) => c.data!.i)).toEqual([2, 3, 4])
    expect(resumed.position).toBe(firstTwo[1]!.seq)
  })

  test.skipIf(backend.lacks.engine !== undefined)(
    'a second runner of one consumer gets CONSUMER_BUSY, or waits for the first with { wait: true }',
    async () => {
      const open = await backend.tempStore()
      const a = await open({ role: 'app', collections })
      const b = await open({ role: 'app', collections })
      const first = a.consumer('indexer')
      await first.changes()
      await expect(b.consumer('indexer').changes()).rejects.toMatchObject({
        code: 'CONSUMER_BUSY',
        message: expect.stringMatching(new RegExp(`pid ${process.pid}`)),
      })
      const waiting = b.consumer('indexer', { wait: true, leaseMs: 500 }).changes()
      await new Promise((resolve) => setTimeout(resolve, 100))
      await first.close()
      await expect(waiting).resolves.toBeDefined()
    },
  )

  test('acking inside a transaction commits the position with the effect, or neither', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const consumer = store.consumer('copier', { start: 'beginning', collections: ['tasks'] })
    await store.collection('tasks').insert({ n: 1 })
    await store.collection('tasks').insert({ n: 2 })
    const stream = await consumer.changes()
    const [one, two] = await take(stream, 2)
    await store.transaction(async (tx) => {
      await tx.collection('notes').insert({ copied: one!.data!.n as number })
      await consumer.ack(one!.seq)
    })
    await expect(
      store.transaction(async (tx) => {
        await tx.collection('notes').insert({ copied: two!.data!.n as number })
        await consumer.ack(two!.seq)
        throw new Error('crash before commit')
      }),
    ).rejects.toThrow('crash before commit')
    await consumer.close()
    expect((await store.collection('notes').find()).map((r) => r.data.copied)).toEqual([1])
    const resumed = await take(await store.consumer('copier').changes(), 1)
    expect(resumed[0]!.data).toEqual({ n: 2 })
  })
})

describe.each(TARGETS)('consumer after leaving the loop on $name', (backend) => {
  test('breaking out of the loop and then acking the last change works; the next run resumes after it', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    for (let i = 0; i < 3; i++) await store.collection('tasks').insert({ i })
    const consumer = store.consumer('breaker', { start: 'beginning' })
    let last = 0
    for await (const c of await consumer.changes()) {
      last = c.seq
      if (c.data!.i === 1) break
    }
    await consumer.ack(last)
    const rest = await take(await store.consumer('breaker').changes(), 1)
    expect(rest[0]!.data).toEqual({ i: 2 })
  })
})

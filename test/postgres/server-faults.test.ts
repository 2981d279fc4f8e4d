// Issue #24: the change feed, group commit and error reporting under server faults. The faults here
// touch only this file's own connections (a TCP proxy in front of the shared server, per-session
// settings, pg_terminate_backend of this schema's sessions): other test files use the same server.
import { expect, test } from 'vitest'
import { openStore, type Change, type StoreConfig, type TandemError } from '../../src/index.js'
import type { FeedResume } from '../../src/changes/change.js'
import { PG_URL, POSTGRES, dropSchemaAfterTest, pgAdmin, uniqueSchema } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker, sleep, waitUntil } from '../helpers/processes.js'
import { startFaultProxy } from './fault-proxy.js'

const collections = { events: { writers: '*' }, counters: { writers: '*' } } as const

function withOptions(url: string, settings: Record<string, string | number>): string {
  const u = new URL(url)
  u.searchParams.set(
    'options',
    Object.entries(settings)
      .map(([k, v]) => `-c ${k}=${v}`)
      .join(' '),
  )
  return u.toString()
}

async function terminate(schema: string): Promise<number> {
  return pgAdmin(
    async (c) =>
      (
        await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ($1, $2)`, [
          `tandem:${schema}`,
          `tandem-listen:${schema}`,
        ])
      ).rowCount ?? 0,
  )
}

test.runIf(POSTGRES !== undefined)(
  'a subscriber cut off from the server and a writer whose sessions are terminated: watch(), changes() and a consumer report FEED_INTERRUPTED, resume, and get every change once, in order',
  async () => {
    const schema = uniqueSchema('faults')
    const proxy = await startFaultProxy()
    const config = (role: string, url = PG_URL): StoreConfig<typeof collections> => ({ url, postgres: { schema }, role, collections })
    const subscriber = await openStore(config('subscriber', proxy.url))
    dropSchemaAfterTest(schema, async () => {
      await subscriber.close()
      await proxy.close()
    })
    const COUNT = 600
    const events = { interrupted: [] as TandemError[], resumed: [] as FeedResume[] }
    const watched: Change[] = []
    const stop = subscriber.collection('events').watch((c) => void watched.push(c), {
      since: 'beginning',
      onError: (e) => void events.interrupted.push(e as TandemError),
      onResume: (info) => void events.resumed.push(info),
    })
    const iterated: Change[] = []
    const feed = subscriber.changes({
      collections: ['events'],
      since: 'beginning',
      onInterrupted: (e) => void events.interrupted.push(e),
      onResume: (i) => void events.resumed.push(i),
    })
    const reading = (async () => {
      for await (const c of feed) if (iterated.push(c) >= COUNT) break
    })()
    const mailer = subscriber.consumer('mailer', { collections: ['events'], start: 'beginning' })
    const consumed: Change[] = []
    const consuming = (async () => {
      for await (const c of await mailer.changes()) {
        consumed.push(c)
        if (consumed.length >= COUNT) break
      }
    })()

    const writer = forkWorker('batch-inserter.mjs', {
      store: config('writer'),
      collection: 'events',
      writer: 'w',
      count: COUNT,
      loops: 2,
      pauseMs: 10,
    })
    await writer.waitFor('ready')
    writer.send({ type: 'go' })
    await waitUntil(() => watched.length >= 100, 'the first changes')
    // The subscriber's server goes away for 1.5 s (every connection cut, new ones refused) while
    // the writer goes on; then the writer's own sessions are terminated twice.
    proxy.cut({ down: true })
    await sleep(1500)
    proxy.up()
    expect(await terminate(schema)).toBeGreaterThan(0)
    await sleep(200)
    await terminate(schema)

    const done = await writer.waitFor('done')
    // A write cut by a terminated session is not acknowledged; every acknowledged one must arrive.
    for (const e of done.errors as { code: string }[]) expect(['STORAGE_FAILURE', 'OUTCOME_UNKNOWN']).toContain(e.code)
    const acked = done.acked as number
    await waitUntil(() => watched.length >= acked && iterated.length >= acked && consumed.length >= acked, 'every subscriber to catch up')
    await expectCleanExit(writer)
    stop()
    feed.close()
    await mailer.close()
    await Promise.all([reading, consuming])

    for (const got of [watched, iterated, consumed]) {
      const seqs = got.map((c) => c.seq)
      expect(new Set(seqs).size).toBe(seqs.length) // none twice
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b)) // in order
      expect(seqs).toEqual(seqs.map((_, i) => i + 1)) // none missed (the log is gap-free)
    }
    expect(events.interrupted.length).toBeGreaterThan(0)
    for (const e of events.interrupted)
      expect(e).toMatchObject({ code: 'FEED_INTERRUPTED', message: expect.stringMatching(/keeps retrying/) })
    expect(events.resumed.length).toBeGreaterThan(0)
  },
  LAST_RESORT_TIMEOUT_MS,
)

test.runIf(POSTGRES !== undefined)(
  'a statement_timeout gives SERVER_TIMEOUT naming the setting, for a read and for a write, which wrote nothing',
  async () => {
    const schema = uniqueSchema('stmt')
    const store = await openStore({ url: withOptions(PG_URL, { statement_timeout: 300 }), postgres: { schema }, role: 'a', collections })
    dropSchemaAfterTest(schema, () => store.close())
    const counter = await store.collection('counters').insert({ n: 0 })
    // Another session holds the table: our statements wait until statement_timeout (lock_timeout is busyTimeoutMs, 30 s).
    await pgAdmin(async (c) => {
      await c.query('BEGIN')
      await c.query(`LOCK TABLE "${schema}"."counters" IN ACCESS EXCLUSIVE MODE`)
      const read = store
        .collection('counters')
        .find()
        .catch((e: unknown) => e)
      const write = store
        .collection('counters')
        .update(counter.id, (d) => ({ n: (d.n as number) + 1 }))
        .catch((e: unknown) => e)
      const [r, w] = await Promise.all([read, write])
      await c.query('ROLLBACK')
      expect(r).toMatchObject({ code: 'SERVER_TIMEOUT', message: expect.stringMatching(/statement_timeout.*nothing was written/) })
      expect(w).toMatchObject({
        code: 'SERVER_TIMEOUT',
        message: expect.stringMatching(/statement_timeout.*did not commit: nothing of it was written/),
      })
      expect((w as { cause?: { code?: string } }).cause?.code).toBe('57014')
    })
    expect((await store.collection('counters').get(counter.id))?.data.n).toBe(0)
  },
)

test.runIf(POSTGRES !== undefined)(
  'an idle_in_transaction_session_timeout gives SERVER_TIMEOUT naming the setting; the transaction wrote nothing and the next write works',
  async () => {
    const schema = uniqueSchema('idle')
    const store = await openStore({
      url: withOptions(PG_URL, { idle_in_transaction_session_timeout: 200 }),
      postgres: { schema },
      role: 'a',
      collections,
    })
    dropSchemaAfterTest(schema, () => store.close())
    const error = await store
      .transaction(async (tx) => {
        await tx.collection('counters').insert({ n: 1 }, { id: 'first' })
        await sleep(700)
        await tx.collection('counters').insert({ n: 2 }, { id: 'second' })
      })
      .catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'SERVER_TIMEOUT',
      message: expect.stringMatching(/idle_in_transaction_session_timeout.*nothing of it was written/),
    })
    expect(await store.collection('counters').get('first')).toBeUndefined()
    await store.collection('counters').insert({ n: 3 }, { id: 'third' })
  },
)

test.runIf(POSTGRES !== undefined)(
  'two processes updating the same hot records in batches, in opposite orders, get no deadlock error and no deadlock stall, and lose no update',
  async () => {
    const schema = uniqueSchema('order')
    const config = (role: string): StoreConfig<typeof collections> => ({ url: PG_URL, postgres: { schema }, role, collections })
    const setup = await openStore(config('setup'))
    dropSchemaAfterTest(schema, () => setup.close())
    const ids = Array.from({ length: 8 }, (_, i) => `r${i}`)
    for (const id of ids) await setup.collection('counters').insert({ n: 0 }, { id })
    const ROUNDS = 40
    const up = forkWorker('opposite-order-updater.mjs', { store: config('up'), collection: 'counters', ids, rounds: ROUNDS })
    const down = forkWorker('opposite-order-updater.mjs', {
      store: config('down'),
      collection: 'counters',
      ids: [...ids].reverse(),
      rounds: ROUNDS,
    })
    await Promise.all([up.waitFor('ready'), down.waitFor('ready')])
    up.send({ type: 'go' })
    down.send({ type: 'go' })
    const [a, b] = await Promise.all([up.waitFor('done'), down.waitFor('done')])
    expect([...(a.errors as unknown[]), ...(b.errors as unknown[])]).toEqual([])
    for (const id of ids) expect((await setup.collection('counters').get(id))?.data.n).toBe(2 * ROUNDS)
    // A deadlock costs PostgreSQL's deadlock_timeout (1 s) before it is even found.
    expect(Math.max(a.slowestRoundMs as number, b.slowestRoundMs as number)).toBeLessThan(900)
    await Promise.all([expectCleanExit(up), expectCleanExit(down)])
  },
  LAST_RESORT_TIMEOUT_MS,
)

test.runIf(POSTGRES !== undefined)(
  'after every connection of the pool dies (the server restarted), reads and writes go on without a failed call; a write cut mid-transaction says it did not happen',
  async () => {
    const schema = uniqueSchema('pool')
    const proxy = await startFaultProxy()
    const store = await openStore({ url: proxy.url, postgres: { schema, poolSize: 4 }, role: 'a', collections })
    dropSchemaAfterTest(schema, async () => {
      await store.close()
      await proxy.close()
    })
    const counters = store.collection('counters')
    await Promise.all(Array.from({ length: 8 }, (_, i) => counters.insert({ n: i }, { id: `c${i}` })))
    await Promise.all(Array.from({ length: 4 }, () => counters.find())) // the pool is full of idle connections
    proxy.cut()
    await sleep(50)
    expect((await counters.find()).length).toBe(8)
    await counters.update('c0', (d) => ({ n: (d.n as number) + 1 }))
    expect((await counters.get('c0'))?.data.n).toBe(1)

    const cutMidway = store
      .transaction(async (tx) => {
        await tx.collection('counters').update('c1', (d) => ({ n: (d.n as number) + 100 }))
        proxy.cut()
        await sleep(50)
        await tx.collection('counters').get('c2')
      })
      .catch((e: unknown) => e)
    expect(await cutMidway).toMatchObject({
      code: 'STORAGE_FAILURE',
      message: expect.stringMatching(/did not commit: nothing of it was written/),
    })
    expect((await counters.get('c1'))?.data.n).toBe(1)
  },
)

import { describe, expect, test } from 'vitest'
import { openStore, type Store, type StoreConfig } from '../../src/index.js'
import type { ChangeRow } from '../../src/backends/backend.js'
import type { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js'
import { PG_URL, POSTGRES, dropSchemaAfterTest, pgAdmin, uniqueSchema } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker, sleep, waitUntil, type WorkerHandle } from '../helpers/processes.js'

const collections = { events: { writers: '*' } } as const
type Collections = typeof collections

/** A fresh schema for one test: configs for workers, and stores opened here (closed before the drop). */
function feedSchema() {
  const schema = uniqueSchema('feed')
  const stores: Store<Collections>[] = []
  dropSchemaAfterTest(schema, () => Promise.all(stores.map((s) => s.close().catch(() => undefined))))
  const config = (role: string): StoreConfig<Collections> => ({ url: PG_URL, postgres: { schema }, role, collections })
  const open = async (role: string) => {
    const store = await openStore(config(role))
    stores.push(store)
    return store
  }
  return { schema, config, open }
}

function changesOf(worker: WorkerHandle) {
  return worker.messages.filter((m) => m.type === 'change') as unknown as { seq: number; tag?: string; writer?: string; n?: number }[]
}

describe.runIf(POSTGRES !== undefined)('PostgreSQL change log under out-of-order commits', () => {
  test('the transaction that appended first but commits last is delivered after the other, neither skipped nor repeated', async () => {
    const { config, open } = feedSchema()
    const first = await open('first')
    const second = await open('second')
    const subscriber = forkWorker('change-recorder.mjs', { store: config('subscriber'), since: 'now', until: 2 })
    await subscriber.waitFor('ready')

    // `first` appends its change, then holds its transaction open.
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let appended!: () => void
    const hasAppended = new Promise<void>((resolve) => (appended = resolve))
    const held = first.transaction(async (tx) => {
      await tx.collection('events').insert({ tag: 'appended first, committed last' })
      appended()
      await gate
    })
    await hasAppended
    // `second` appends and commits while `first` is still open.
    await second.collection('events').insert({ tag: 'appended second, committed first' })
    // The subscriber reads past it (its cursor moves to that seq) while `first` is still open...
    await subscriber.waitFor((m) => m.type === 'change')
    expect(changesOf(subscriber).map((c) => c.tag)).toEqual(['appended second, committed first'])
    await sleep(300)
    // ...and still gets `first`'s change once it commits: a seq-by-append log would have given
    // `first` the lower seq, behind the subscriber's cursor, and it would never be read.
    release()
    await held
    await expectCleanExit(subscriber)
    const got = changesOf(subscriber)
    expect(got.map((c) => c.tag)).toEqual(['appended second, committed first', 'appended first, committed last'])
    expect(got[1]!.seq).toBe(got[0]!.seq + 1)
  })

  test('a commit that is slow after taking its seqs holds back later commits, so a reader polling meanwhile never sees a gap', async () => {
    const { schema, open } = feedSchema()
    const slow = await open('slow')
    const fast = await open('fast')
    const reader = await open('reader')
    // Make COMMIT of a { slow: true } record wait, after its change has taken its seq, until this
    // test lets it go: it waits for an advisory lock the test holds. Not a sleep: the steps below
    // wait for what they need (slow stuck in COMMIT, fast queued behind it, the reader polling),
    // however long a loaded machine takes to get there.
    const gateKey = 1 + Math.floor(Math.random() * 2 ** 40)
    await pgAdmin(async (c) => {
      await c.query(
        `CREATE FUNCTION "${schema}".slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.data->>'slow' = 'true' THEN PERFORM pg_advisory_xact_lock(${gateKey}); END IF; RETURN NULL; END $$`,
      )
      await c.query(
        `CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON "${schema}"."events" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${schema}".slow_commit()`,
      )
    })
    const start = await reader.backend.changeHead()
    /** How many of this schema's store connections wait for a lock right now. */
    const waitingForLocks = () =>
      pgAdmin(
        async (c) =>
          (
            await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [
              `tandem:${schema}`,
            ])
          ).rows[0].n as number,
      )

    // A reader polling the log as fast as it can, the whole time.
    const seen: ChangeRow[] = []
    let polling = true
    let cursor = start
    let polls = 0
    const poller = (async () => {
      while (polling) {
        const batch = await reader.backend.readChanges(cursor, 100)
        polls++
        seen.push(...batch.changes)
        cursor = Math.max(cursor, batch.scannedThrough)
      }
    })()

    const order: string[] = []
    let pollsWhileHeld = 0
    await pgAdmin(async (gate) => {
      await gate.query('SELECT pg_advisory_lock($1)', [gateKey])
      const slowWrite = slow
        .collection('events')
        .insert({ tag: 'slow', slow: true })
        .then(() => order.push('slow committed'))
      await waitUntil(async () => (await waitingForLocks()) >= 1, '`slow` to wait in COMMIT, holding the change-log lock')
      const fastWrite = fast
        .collection('events')
        .insert({ tag: 'fast' })
        .then(() => order.push('fast committed'))
      await waitUntil(async () => (await waitingForLocks()) >= 2, '`fast` to queue for the change-log lock behind `slow`')
      const pollsBefore = polls
      await waitUntil(() => polls >= pollsBefore + 10, 'the reader to poll the log 10 times while both commits are pending', {
        progress: () => polls,
      })
      pollsWhileHeld = polls - pollsBefore
      expect(order).toEqual([])
      await gate.query('SELECT pg_advisory_unlock($1)', [gateKey])
      await Promise.all([slowWrite, fastWrite])
    })
    const pollsAtEnd = polls
    await waitUntil(() => polls >= pollsAtEnd + 2, 'the reader to poll after both commits', { progress: () => polls })
    polling = false
    await poller

    expect(order).toEqual(['slow committed', 'fast committed'])
    expect(seen.map((c) => [c.seq, c.data?.tag])).toEqual([
      [start + 1, 'slow'],
      [start + 2, 'fast'],
    ])
    expect(pollsWhileHeld).toBeGreaterThanOrEqual(10)
  })

  test(
    'writers in three processes, a subscriber in a fourth: every change arrives exactly once, in seq order, without gaps',
    { timeout: LAST_RESORT_TIMEOUT_MS },
    async () => {
      const { config, open } = feedSchema()
      const setup = await open('setup')
      const WRITERS = 3
      const EACH = 400
      const subscriber = forkWorker('change-recorder.mjs', { store: config('subscriber'), since: 'beginning', until: WRITERS * EACH })
      const writers = Array.from({ length: WRITERS }, (_, i) =>
        forkWorker('batch-inserter.mjs', { store: config(`writer-${i}`), collection: 'events', writer: `w${i}`, count: EACH, loops: 4 }),
      )
      await Promise.all([subscriber.waitFor('ready'), ...writers.map((w) => w.waitFor('ready'))])
      for (const w of writers) w.send({ type: 'go' })
      const reports = await Promise.all(writers.map((w) => w.waitFor('done')))
      expect(reports.map((r) => r.errors)).toEqual(writers.map(() => []))
      await subscriber.waitFor('end')
      await expectCleanExit(subscriber)

      const got = changesOf(subscriber)
      const seqs = got.map((c) => c.seq)
      const first = seqs[0]!
      expect(seqs).toEqual(seqs.map((_, i) => first + i))
      for (let i = 0; i < WRITERS; i++) {
        const ns = got.filter((c) => c.writer === `w${i}`).map((c) => c.n!)
        expect(ns.length).toBe(EACH)
        expect(new Set(ns).size).toBe(EACH)
      }
      expect(await setup.collection('events').count()).toBe(WRITERS * EACH)
      expect(await setup.checkIntegrity()).toEqual(['ok'])
    },
  )

  // Changes travel in the NOTIFY payload when they fit and are delivered from the listener's cache
  // (docs/postgres.md, "Changes in the notification"); larger ones leave only the head in it, and
  // the reader goes to the table. Mixed, nothing may be skipped, repeated or reordered.
  test('changes too large for a notification, between small ones and batches, arrive once each, in order, with their data', async () => {
    const { open } = feedSchema()
    const writer = await open('writer')
    const reader = await open('reader')
    const stream = reader.changes({ since: 'now' })
    const got: { seq: number; i: number; pad: number }[] = []
    const reading = (async () => {
      for await (const change of stream) {
        got.push({ seq: change.seq, i: change.data!.i as number, pad: (change.data!.pad as string).length })
        if (got.length === 40) break
      }
    })()
    // The listener is up (its LISTEN has taken effect) before the first write, however long that
    // takes: the notification path below must have been taken.
    await waitUntil(() => (reader.backend as PostgresBackend).listenerConnections > 0, "the reader's LISTEN connection")
    const sizes = [10, 9000, 10, 10, 20_000, 10]
    let i = 0
    for (let round = 0; i < 40; round++) {
      const pad = sizes[round % sizes.length]!
      if (round % 3 === 2) {
        // A batch: one commit, several changes in one notification (or none, if too large).
        const n = Math.min(4, 40 - i)
        await Promise.all(Array.from({ length: n }, () => writer.collection('events').insert({ i: i++, pad: 'x'.repeat(pad) })))
      } else {
        await writer.collection('events').insert({ i: i++, pad: 'x'.repeat(pad) })
      }
    }
    await reading
    expect(got.map((c) => c.i).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, k) => k))
    expect(got.map((c) => c.seq)).toEqual(got.map((_, k) => got[0]!.seq + k))
    // Both paths were taken: reads answered from notifications, and reads of the table.
    const stats = (reader.backend as PostgresBackend).feedStats
    expect(stats.fromNotifications).toBeGreaterThan(0)
    expect(stats.fromLog).toBeGreaterThan(0)
    const written = new Map((await writer.collection('events').find()).map((r) => [r.data.i as number, (r.data.pad as string).length]))
    expect(got.map((c) => c.pad)).toEqual(got.map((c) => written.get(c.i)))
  })
})

describe.runIf(POSTGRES !== undefined)('PostgreSQL store format 1 → 2', () => {
  test('opening a format-1 store upgrades it in place: seqs go on from the old head, and an older process still writing fails loudly', async () => {
    const { schema, open } = feedSchema()
    const store = await open('writer')
    for (let i = 0; i < 5; i++) await store.collection('events').insert({ i })
    await store.close()
    // Turn it back into what format 1 left: the head in a meta row, moved by every commit.
    await pgAdmin(async (c) => {
      await c.query(`UPDATE "${schema}"._tandem_meta SET value = '1' WHERE key = 'format'`)
      await c.query(`INSERT INTO "${schema}"._tandem_meta VALUES ('change_head', '5')`)
    })

    const upgraded = await open('writer')
    const feed = upgraded.changes({ since: 4 })
    await upgraded.collection('events').insert({ i: 5 })
    const seqs: number[] = []
    for await (const change of feed) {
      seqs.push(change.seq)
      if (seqs.length === 2) break
    }
    expect(seqs).toEqual([5, 6])
    expect(await upgraded.checkIntegrity()).toEqual(['ok'])
    const meta = await pgAdmin(async (c) => (await c.query(`SELECT key, value FROM "${schema}"._tandem_meta ORDER BY key`)).rows)
    expect(meta.find((r) => r.key === 'format')?.value).toBe('2')
    // A format-1 process moves the head row with a bigint cast: it now fails instead of giving out seqs.
    await expect(
      pgAdmin((c) => c.query(`UPDATE "${schema}"._tandem_meta SET value = (value::bigint + 1)::text WHERE key = 'change_head'`)),
    ).rejects.toThrow(/invalid input syntax for type bigint: "retired: this store is format 2, upgrade tandemdb in every process/)
  })
})

describe.runIf(POSTGRES !== undefined)('PostgreSQL change log emptied by retention', () => {
  test('when age trims every change, the next seq follows the trim mark, and a reader behind it is told', async () => {
    const schema = uniqueSchema('trimall')
    const stores: Store<Collections>[] = []
    dropSchemaAfterTest(schema, () => Promise.all(stores.map((s) => s.close().catch(() => undefined))))
    const store = await openStore({ url: PG_URL, postgres: { schema }, role: 'w', collections, changes: { maxAgeMs: 1 } })
    stores.push(store)
    for (let i = 0; i < 3; i++) await store.collection('events').insert({ i })
    await sleep(10)
    expect(await store.trimChanges()).toBe(3)
    expect(await store.checkIntegrity()).toEqual(['ok'])
    const feed = store.changes({ since: 3 })
    await store.collection('events').insert({ i: 3 })
    for await (const change of feed) {
      expect(change.seq).toBe(4)
      break
    }
    const behind = store.changes({ since: 1 })
    await expect(behind[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'CHANGES_TRIMMED' })
  })
})

import { join } from 'node:path'
import { describe, expect, onTestFinished, test } from 'vitest'
import { openStore, type CollectionsConfig, type Store, type StoreConfig } from '../../src/index.js'
import { TARGETS, PG_URL, dropSchemaAfterTest, pgAdmin, tempDir, uniqueSchema, type BackendTarget } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker, type WorkerHandle } from '../helpers/processes.js'

// Issue #16 item 6. Retention kept "the newest maxCount" by id order, and ids are ULIDs made from
// the wall clock (or anything a caller chose), so a record just written with a small custom id, or
// by a process whose clock is behind, was the one trimmed. Age limits trusted every timestamp the
// same way: one change-log entry written by a process whose clock is behind took every younger
// entry before it along, and a process whose clock jumps ahead trims everything. Retention now
// orders by creation (a sequence the engine gives out) and uses wall time only to judge age: it
// trims, oldest first, only while records (changes) are old, and never by a clock that jumped
// ahead while the process ran. Each test runs the skewed clock in a child process (Date.now is
// replaced before tandemdb is loaded), against a parent with a correct clock.

const DAY_MS = 24 * 60 * 60 * 1000
const MINUTE_MS = 60_000

/** Where one test's store lives, as a config both this process and its children can open. */
function location(
  backend: BackendTarget,
  stores: Store<CollectionsConfig>[],
): Pick<StoreConfig, 'dataDir' | 'path' | 'url' | 'postgres' | 'files'> {
  if (backend.name === 'sqlite') return { dataDir: tempDir(), path: 'store.db' }
  if (backend.name === 'files') return { files: { dir: join(tempDir(), 'store') } }
  const schema = uniqueSchema('clock')
  dropSchemaAfterTest(schema, () => Promise.all(stores.map((s) => s.close().catch(() => undefined))))
  return { url: PG_URL, postgres: { schema } }
}

async function setup<C extends CollectionsConfig>(backend: BackendTarget, collections: C, extra: Partial<StoreConfig<C>> = {}) {
  const stores: Store<CollectionsConfig>[] = []
  const where = location(backend, stores)
  const config = (role: string): StoreConfig<C> => ({ ...where, role, collections, archiveDir: tempDir(), ...extra })
  /** This process's store, with a correct clock. */
  const open = async () => {
    const store = await openStore(config('parent'))
    stores.push(store as unknown as Store<CollectionsConfig>)
    onTestFinished(() => store.close())
    return store
  }
  /** A child process whose clock is `offsetMs` off, with the store open. */
  const skewed = async (offsetMs: number): Promise<WorkerHandle> => {
    const worker = forkWorker('skewed-clock.mjs', { config: config('skewed'), offsetMs })
    await worker.waitFor('ready')
    return worker
  }
  return { open, skewed }
}

async function run(worker: WorkerHandle, cmd: Record<string, unknown>, reply: string): Promise<Record<string, unknown>> {
  const before = worker.messages.length
  worker.send({ type: 'cmd', ...cmd })
  const message = await worker.waitFor((m) => worker.messages.indexOf(m) >= before && (m.type === reply || m.type === 'failed'))
  expect(message.type, JSON.stringify(message)).toBe(reply)
  return message
}

async function stop(worker: WorkerHandle): Promise<void> {
  worker.send({ type: 'cmd', action: 'stop' })
  await expectCleanExit(worker)
}

// Not on remote: these tests open stores in this process and in children with skewed clocks (lacks.engine).
describe.each(TARGETS.filter((b) => b.lacks.engine === undefined))('retention under clock trouble on $name', (backend) => {
  test(
    'maxCount keeps the newest records by creation, whatever their ids and the clocks of the processes that wrote them',
    async () => {
      const { open, skewed } = await setup(backend, { events: { writers: '*', retain: { maxCount: 5, archive: false } } })
      const store = await open()
      const events = store.collection('events')
      for (let i = 0; i < 5; i++) await events.insert({ i })
      // A process whose clock is a day behind: its ULIDs sort before every id written so far.
      const behind = await skewed(-DAY_MS)
      await run(behind, { action: 'insert', collection: 'events', records: [{ data: { i: 5 } }, { data: { i: 6 } }] }, 'inserted')
      await stop(behind)
      // And a custom id that sorts first.
      await events.insert({ i: 7 }, { id: '0' })
      await events.insert({ i: 8 }, { id: '00' })
      expect(await events.count()).toBe(9)
      const { trimmed } = await store.compact()
      expect(trimmed.events).toBe(4)
      expect((await events.find()).map((r) => r.data.i as number).sort((a, b) => a - b)).toEqual([4, 5, 6, 7, 8])
    },
    LAST_RESORT_TIMEOUT_MS,
  )

  test(
    'a record written by a process whose clock is behind is not trimmed by age while younger records came before it',
    async () => {
      const { open, skewed } = await setup(backend, { logs: { writers: '*', retain: { maxAgeMs: 10 * MINUTE_MS, archive: false } } })
      const store = await open()
      const logs = store.collection('logs')
      for (let i = 0; i < 3; i++) await logs.insert({ i })
      const behind = await skewed(-DAY_MS)
      await run(behind, { action: 'insert', collection: 'logs', records: [{ data: { i: 3 } }, { data: { i: 4 } }] }, 'inserted')
      // The process with the wrong clock runs retention itself too: by its clock nothing is old.
      expect((await run(behind, { action: 'compact' }, 'compacted')).result).toMatchObject({ trimmed: { logs: 0 } })
      await stop(behind)
      await logs.insert({ i: 5 })
      expect((await store.compact()).trimmed.logs).toBe(0)
      expect((await logs.find()).map((r) => r.data.i as number).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5])
    },
    LAST_RESORT_TIMEOUT_MS,
  )

  test(
    'a change written by a process whose clock is behind does not make the change log trim the younger changes before it',
    async () => {
      const { open, skewed } = await setup(backend, { events: { writers: '*' } }, { changes: { maxAgeMs: 10 * MINUTE_MS } })
      // The log starts with changes that are old by their timestamps (a process a day behind
      // opened the store first): those may go. Then young ones, then another old-looking one.
      const first = await skewed(-DAY_MS)
      await run(first, { action: 'insert', collection: 'events', records: [{ data: { i: 0 } }, { data: { i: 1 } }] }, 'inserted')
      await stop(first)
      const store = await open()
      const events = store.collection('events')
      for (let i = 2; i < 5; i++) await events.insert({ i })
      const behind = await skewed(-DAY_MS)
      await run(behind, { action: 'insert', collection: 'events', records: [{ data: { i: 5 } }] }, 'inserted')
      await stop(behind)
      await events.insert({ i: 6 })
      const before = (await store.backend.readChanges(0, 1000)).changes
      const firstYoung = before.find((c) => c.role === 'parent')!.seq
      expect(await store.trimChanges()).toBe(firstYoung - 1)
      const { changes, trimmedThrough } = await store.backend.readChanges(0, 1000)
      expect(trimmedThrough).toBe(firstYoung - 1)
      expect(changes.filter((c) => c.collection === 'events').map((c) => c.data?.i)).toEqual([2, 3, 4, 5, 6])
    },
    LAST_RESORT_TIMEOUT_MS,
  )

  test(
    'a clock that jumps a day ahead while a process runs does not make its retention trim records or changes by age',
    async () => {
      const { open, skewed } = await setup(
        backend,
        { logs: { writers: '*', retain: { maxAgeMs: 10 * MINUTE_MS, archive: false } } },
        { changes: { maxAgeMs: 10 * MINUTE_MS } },
      )
      const store = await open()
      const logs = store.collection('logs')
      const worker = await skewed(0)
      for (let i = 0; i < 4; i++) await logs.insert({ i })
      await run(worker, { action: 'insert', collection: 'logs', records: [{ data: { i: 4 } }] }, 'inserted')
      await run(worker, { action: 'step', offsetMs: DAY_MS }, 'stepped')
      const { result } = await run(worker, { action: 'compact' }, 'compacted')
      expect(result).toEqual({ trimmed: { logs: 0 }, changesTrimmed: 0 })
      await stop(worker)
      // Nothing trimmed. (In id order the worker's record may sort among the parent's: ids made by two
      // processes in the same millisecond have no order between them.)
      expect((await logs.find()).map((r) => r.data.i as number).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4])
      expect((await store.backend.readChanges(0, 1)).trimmedThrough).toBe(0)
    },
    LAST_RESORT_TIMEOUT_MS,
  )

  test.runIf(backend.name === 'postgres')(
    'a PostgreSQL table made before created_seq gets it on open, numbering its rows by creation time, and retention follows it',
    async () => {
      const stores: Store<CollectionsConfig>[] = []
      const where = location(backend, stores)
      const collections = { events: { writers: '*', retain: { maxCount: 2, archive: false } } } as const
      const first = await openStore({ ...where, role: 'old', collections: { events: { writers: '*' } } })
      stores.push(first as unknown as Store<CollectionsConfig>)
      // Ids in the opposite order of creation: the old retention (by id) would keep the oldest.
      for (const [i, id] of ['z', 'y', 'x', 'w', 'v'].entries()) {
        await first.collection('events').insert({ i }, { id })
        await new Promise((resolve) => setTimeout(resolve, 3))
      }
      await first.close()
      const schema = (where.postgres as { schema: string }).schema
      // What a store written by an earlier version looks like: no created_seq column.
      await pgAdmin((client) => client.query(`ALTER TABLE "${schema}"."events" DROP COLUMN created_seq`))
      const store = await openStore({ ...where, role: 'new', collections })
      stores.push(store as unknown as Store<CollectionsConfig>)
      const numbered = await pgAdmin((client) =>
        client.query<{ id: string; created_seq: string }>(`SELECT id, created_seq FROM "${schema}"."events" ORDER BY created_seq`),
      )
      expect(numbered.rows.map((r) => [r.id, Number(r.created_seq)])).toEqual([
        ['z', 1],
        ['y', 2],
        ['x', 3],
        ['w', 4],
        ['v', 5],
      ])
      await store.collection('events').insert({ i: 5 }, { id: 'a' })
      expect((await store.compact()).trimmed.events).toBe(4)
      expect((await store.collection('events').find()).map((r) => r.data.i).sort()).toEqual([4, 5])
    },
  )

  test('age limits still trim what is old, oldest first, and count limits what is too many', async () => {
    // The young records must stay young until compact() runs, however loaded the machine: an age
    // limit far above the time five inserts and a compact can take.
    const store = await (await setup(backend, { logs: { writers: '*', retain: { maxAgeMs: 1500, maxCount: 3, archive: false } } })).open()
    const logs = store.collection('logs')
    for (let i = 0; i < 3; i++) await logs.insert({ i })
    await new Promise((resolve) => setTimeout(resolve, 1600))
    for (let i = 3; i < 8; i++) await logs.insert({ i })
    const { trimmed } = await store.compact()
    expect(trimmed.logs).toBe(5)
    expect((await logs.find()).map((r) => r.data.i)).toEqual([5, 6, 7])
  })
})

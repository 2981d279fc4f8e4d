// Issue #24: a change reader outlives failures to read the change log. The failure is injected at
// the backend edge (the engine's own translated error: an SQLite I/O error, a lost PostgreSQL
// connection), the same on every backend; test/postgres/server-faults.test.ts makes real ones.
import { describe, expect, test } from 'vitest'
import { ChangesTrimmedError, StorageError, type Change, type TandemError } from '../../src/index.js'
import type { FeedResume } from '../../src/changes/change.js'
import { TARGETS } from '../helpers/backends.js'
import { waitUntil } from '../helpers/processes.js'

// Skipped on remote: tests that make the engine's reads fail (lacks.engine, test/helpers/backends.ts).
const collections = { tasks: { writers: '*' } } as const

/** Makes the store's change-log reads (and head reads) fail while `failing` is true. */
function injectReadFailures(store: {
  backend: { readChanges: (...args: never[]) => Promise<unknown>; changeHead: () => Promise<number> }
}) {
  const state = { failing: false, failures: 0 }
  const backend = store.backend
  const readChanges = backend.readChanges.bind(backend)
  const changeHead = backend.changeHead.bind(backend)
  const fail = (): never => {
    state.failures++
    throw new StorageError(
      'disk I/O error (injected: SQLITE_IOERR_READ)',
      Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_READ' }),
    )
  }
  backend.readChanges = (async (...args: never[]) => (state.failing ? fail() : readChanges(...args))) as typeof backend.readChanges
  backend.changeHead = async () => (state.failing ? fail() : changeHead())
  return state
}

describe.each(TARGETS)('change readers on $name', (backend) => {
  test.skipIf(backend.lacks.engine !== undefined)(
    'watch(), changes() and a consumer keep going through read failures: FEED_INTERRUPTED once, then onResume, every change once and in order',
    async () => {
      const open = await backend.tempStore()
      const store = await open({ role: 'app', collections })
      const tasks = store.collection('tasks')
      const state = injectReadFailures(store as never)
      const interrupted: TandemError[] = []
      const resumed: FeedResume[] = []
      const watched: Change[] = []
      const stop = tasks.watch((c) => void watched.push(c), {
        since: 'beginning',
        onError: (e) => void interrupted.push(e as TandemError),
        onResume: (i) => void resumed.push(i),
      })
      const iterated: Change[] = []
      const feed = store.changes({
        since: 'beginning',
        onInterrupted: (e) => void interrupted.push(e),
        onResume: (i) => void resumed.push(i),
      })
      const reading = (async () => {
        for await (const c of feed) iterated.push(c)
      })()
      const consumer = store.consumer('worker', {
        start: 'beginning',
        onInterrupted: (e) => void interrupted.push(e),
        onResume: (i) => void resumed.push(i),
      })
      const consumed: Change[] = []
      const consuming = (async () => {
        for await (const c of await consumer.changes()) consumed.push(c)
      })()

      for (let i = 0; i < 10; i++) await tasks.insert({ i })
      await waitUntil(() => watched.length === 10 && iterated.length === 10 && consumed.length === 10, 'the first 10 changes')
      state.failing = true
      for (let i = 10; i < 30; i++) await tasks.insert({ i }) // writes go on; reads of the log fail
      await waitUntil(() => state.failures >= 6 && interrupted.length >= 3, 'the readers to fail and report it')
      expect(resumed).toEqual([])
      state.failing = false
      for (let i = 30; i < 40; i++) await tasks.insert({ i })
      await waitUntil(() => watched.length >= 40 && iterated.length >= 40 && consumed.length >= 40, 'every change after the failures')

      for (const got of [watched, iterated, consumed])
        expect(got.map((c) => (c.data as { i: number }).i)).toEqual(Array.from({ length: 40 }, (_, i) => i))
      // One report per reader per outage, typed, with the engine's error as cause.
      expect(interrupted).toHaveLength(3)
      for (const e of interrupted) {
        expect(e).toMatchObject({
          code: 'FEED_INTERRUPTED',
          message: expect.stringMatching(/after seq 10: no change is missed or repeated/),
        })
        expect((e as { cause?: { code?: string } }).cause?.code).toBe('STORAGE_FAILURE')
      }
      expect(resumed).toHaveLength(3)
      for (const r of resumed) expect(r.attempts).toBeGreaterThan(0)
      stop()
      feed.close()
      await consumer.close()
      await Promise.all([reading, consuming])
    },
  )

  test.skipIf(backend.lacks.engine !== undefined)(
    'a reader started with since "now" while the log cannot be read waits, then starts at the head once it can',
    async () => {
      const open = await backend.tempStore()
      const store = await open({ role: 'app', collections })
      const tasks = store.collection('tasks')
      await tasks.insert({ i: -1 })
      const state = injectReadFailures(store as never)
      state.failing = true
      const feed = store.changes()
      const first = feed.next()
      await waitUntil(() => state.failures >= 2, 'the head read to fail')
      expect(feed.interrupted?.code).toBe('FEED_INTERRUPTED')
      state.failing = false
      await feed.started
      await tasks.insert({ i: 0 })
      const next = await first
      expect(next.value?.data).toEqual({ i: 0 })
      expect(feed.interrupted).toBeUndefined()
      feed.close()
    },
  )

  test('a reader still ends with CHANGES_TRIMMED rather than retry past changes retention dropped', async () => {
    const open = await backend.tempStore()
    const store = await open({ role: 'app', collections, changes: { maxCount: 1 } })
    const tasks = store.collection('tasks')
    for (let i = 0; i < 5; i++) await tasks.insert({ i })
    await store.trimChanges()
    const feed = store.changes({ since: 0 })
    await expect(feed.next()).rejects.toBeInstanceOf(ChangesTrimmedError)
  })
})

import { describe, expect, test } from 'vitest'
import { ChangesTrimmedError, type Change } from '../../src/index.js'
import { TARGETS, type StoreOpener } from '../helpers/backends.js'
import { take } from '../helpers/take-changes.js'

// Skipped on remote (test/helpers/backends.ts, TargetLacks): tests that reach into the engine or the
// lease holder's pid (lacks.engine), and 'now' shared between two clients (lacks.sharedNow).
const collections = {
  tasks: { writers: '*' },
  notes: { writers: '*' },
  blobs: { writers: '*' },
  audit: { writers: '*', history: 'full' },
} as const

describe.each(TARGETS)('change feed on $name', (backend) => {
  test("every write appears once, in order, with op, version, role and, with history: 'full', its own data", async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const feed = store.changes()
    const tasks = store.collection('audit')
    const t = await tasks.insert({ n: 1 })
    await tasks.update(t.id, (d) => ({ n: (d.n as number) + 1 }))
    await tasks.patch(t.id, { done: true })
    await tasks.replace(t.id, { n: 9 })
    await tasks.delete(t.id)
    const changes = await take(feed, 5)
    expect(changes.map((c) => [c.op, c.version, c.data])).toEqual([
      ['insert', 1, { n: 1 }],
      ['update', 2, { n: 2 }],
      ['update', 3, { n: 2, done: true }],
      ['update', 4, { n: 9 }],
      ['delete', 4, { n: 9 }],
    ])
    expect(changes.every((c) => c.collection === 'audit' && c.id === t.id && c.role === 'app')).toBe(true)
    expect(changes.map((c) => [c.dataVersion, c.superseded])).toEqual(changes.map((c) => [c.version, undefined]))
    const seqs = changes.map((c) => c.seq)
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i))
    expect(Date.parse(changes[0]!.at)).toBeGreaterThan(0)
    feed.close()
  })

  test('a change is logged if and only if its write committed', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const feed = store.changes()
    const tasks = store.collection('tasks')
    await tasks.insert({ n: 0 }, { id: 'taken' })
    await Promise.allSettled([
      tasks.insert({ n: 1 }),
      tasks.insert({ n: 2 }, { id: 'taken' }),
      store.transaction(async (tx) => {
        await tx.collection('notes').insert({ lost: true })
        throw new Error('rolled back')
      }),
      tasks.replace('taken', { n: 3 }, { ifVersion: 7 }),
      tasks.insert({ n: 4 }),
    ])
    const changes = await take(feed, 3)
    expect(changes.map((c) => c.data)).toEqual([{ n: 0 }, { n: 1 }, { n: 4 }])
    expect(changes[2]!.seq - changes[0]!.seq).toBe(2)
    const extra = await Promise.race([feed.next(), new Promise((resolve) => setTimeout(() => resolve('none'), 200))])
    expect(extra).toBe('none')
    feed.close()
  })

  test("since: 'now', 'beginning' and a seq", async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    await tasks.insert({ n: 1 })
    const second = await tasks.insert({ n: 2 })
    const fromNow = store.changes({ since: 'now' })
    await tasks.insert({ n: 3 })
    expect((await take(fromNow, 1)).map((c) => c.data)).toEqual([{ n: 3 }])
    const all = await take(store.changes({ since: 'beginning' }), 3)
    expect(all.map((c) => c.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    const afterFirst = await take(store.changes({ since: all[0]!.seq }), 2)
    expect(afterFirst.map((c) => c.id)).toEqual([second.id, all[2]!.id])
    expect(() => store.changes({ since: -1 })).toThrow(RangeError)
  })

  test('filters by collection and by id', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const notesOnly = store.changes({ collections: ['notes'] })
    const oneTask = store.changes({ ids: ['t1'] })
    await store.collection('tasks').insert({ a: 1 })
    await store.collection('tasks').insert({ a: 2 }, { id: 't1' })
    await store.collection('notes').insert({ b: 1 })
    await store.collection('tasks').patch('t1', { a: 3 })
    expect((await take(notesOnly, 1)).map((c) => c.data)).toEqual([{ b: 1 }])
    // The insert, unless the patch coalesced it before the feed read it; then the patch.
    const first = (await take(oneTask, 1))[0]!
    const ofT1 = first.version === 2 ? [first] : [first, ...(await take(oneTask, 1))]
    expect(ofT1.map((c) => [c.id, c.op, c.version])).toEqual(
      [
        ['t1', 'insert', 1],
        ['t1', 'update', 2],
      ].slice(2 - ofT1.length),
    )
    expect(ofT1.at(-1)!.data).toEqual({ a: 3 })
    expect(() => store.changes({ collections: ['bad name' as 'tasks'] })).toThrow(TypeError)
  })

  test.skipIf(backend.lacks.engine !== undefined)(
    "since 'now' counts from the call: a write made right after it is delivered even when reading the log's head is slow",
    async () => {
      const store = await (await backend.tempStore())({ role: 'app', collections })
      // Reading the head waits as a busy pool might (PostgreSQL reads it on another connection than
      // the writes): the insert below must not commit before the stream's starting point is fixed.
      const engine = store.backend as { changeHead(): Promise<number> }
      const readHead = engine.changeHead.bind(engine)
      engine.changeHead = async () => {
        await new Promise((resolve) => setTimeout(resolve, 100))
        return readHead()
      }
      const feed = store.changes()
      const task = await store.collection('tasks').insert({ a: 1 })
      expect((await take(feed, 1)).map((c) => c.id)).toEqual([task.id])
    },
  )

  test("by default a change read while its record is at its version carries that version's data", async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const feed = store.changes()
    const blobs = store.collection('blobs')
    const b = await blobs.insert({ big: 'x'.repeat(1000) })
    const [inserted] = await take(feed, 1)
    expect(inserted).toMatchObject({ op: 'insert', collection: 'blobs', version: 1, dataVersion: 1, data: { big: 'x'.repeat(1000) } })
    expect(inserted).not.toHaveProperty('superseded')
    await blobs.patch(b.id, { small: true })
    const [patched] = await take(feed, 1)
    expect(patched).toMatchObject({ op: 'update', version: 2, dataVersion: 2, data: { big: 'x'.repeat(1000), small: true } })
  })

  /**
   * Reads, on a fresh handle (nothing cached from notifications: what any process resuming from
   * `since` gets), the changes after `since` up to and including the sentinel write to 'notes'.
   */
  async function readBack(open: StoreOpener, since: number): Promise<Change[]> {
    const reader = await open({ role: 'app', collections })
    const out: Change[] = []
    for (const c of await take(reader.changes({ since }), 1_000_000, 10_000, (c) => c.collection === 'notes')) out.push(c)
    return out
  }

  test('a record written again before the feed reads it: the log keeps its latest change only (coalesced), with the latest data', async () => {
    const open = await backend.tempStore()
    const store = await open({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const start = (await store.describe()).changes.head
    const t = await tasks.insert({ n: 1 })
    await tasks.patch(t.id, { n: 2 })
    await store.transaction(async (tx) => {
      await tx.collection('tasks').patch(t.id, { n: 3 })
      await tx.collection('tasks').patch(t.id, { n: 4 })
    })
    const other = await tasks.insert({ n: 0 })
    await store.collection('notes').insert({ sentinel: true })
    const changes = await readBack(open, start)
    expect(changes.map((c) => [c.id, c.op, c.version, c.dataVersion, c.superseded, c.data])).toEqual([
      [t.id, 'update', 4, 4, undefined, { n: 4 }],
      [other.id, 'insert', 1, 1, undefined, { n: 0 }],
      [changes.at(-1)!.id, 'insert', 1, 1, undefined, { sentinel: true }],
    ])
  })

  test('a change read after its record changed again, before coalescing removed it, carries the newer data and says so', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const feed = store.changes()
    const t = await tasks.insert({ n: 1 })
    await tasks.patch(t.id, { n: 2 })
    await tasks.patch(t.id, { n: 3 })
    // A live feed may deliver the insert and the first patch (read before the next write, or from
    // a cached notification) or not (coalesced). Each one delivered has its own version's data, or
    // the newer data and superseded; the last change is never marked.
    const changes = await take(feed, 3, 10_000, (c) => c.version === 3)
    expect(changes.at(-1)).toMatchObject({ op: 'update', version: 3, dataVersion: 3, data: { n: 3 } })
    expect(changes.at(-1)!.superseded).toBeUndefined()
    for (const c of changes) {
      expect(c.dataVersion).toBeGreaterThanOrEqual(c.version)
      expect(c.data).toEqual({ n: c.dataVersion })
      expect(c.superseded).toBe(c.dataVersion! > c.version ? true : undefined)
    }
    feed.close()
  })

  test('a record deleted before its changes are read leaves a tombstone: id, version and time, no data', async () => {
    const open = await backend.tempStore()
    const store = await open({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const start = (await store.describe()).changes.head
    const t = await tasks.insert({ n: 1 })
    await tasks.patch(t.id, { n: 2 })
    await tasks.delete(t.id)
    await store.collection('notes').insert({ sentinel: true })
    const changes = (await readBack(open, start)).filter((c) => c.collection === 'tasks')
    expect(changes.map((c) => [c.op, c.id, c.version, c.superseded, 'data' in c, 'dataVersion' in c])).toEqual([
      ['delete', t.id, 2, undefined, false, false],
    ])
    expect(Date.parse(changes[0]!.at)).toBeGreaterThan(0)
  })

  test("history: 'full' keeps every intermediate version, even when read late", async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const audit = store.collection('audit')
    const start = (await store.describe()).changes.head
    const a = await audit.insert({ n: 1 })
    await audit.patch(a.id, { n: 2 })
    await audit.delete(a.id)
    const changes = await take(store.changes({ since: start }), 3)
    expect(changes.map((c) => [c.op, c.version, c.dataVersion, c.superseded, c.data])).toEqual([
      ['insert', 1, 1, undefined, { n: 1 }],
      ['update', 2, 2, undefined, { n: 2 }],
      ['delete', 2, 2, undefined, { n: 2 }],
    ])
  })

  test('changeData, the option history replaced, is refused with what to write instead', async () => {
    const open = await backend.tempStore()
    await expect(open({ role: 'app', collections: { old: { writers: '*', changeData: false } as never } })).rejects.toThrow(
      /changeData was replaced by history/,
    )
  })

  test.skipIf(backend.lacks.sharedNow !== undefined)(
    'another handle on the same store (other connections) sees each commit promptly, without polling by the caller',
    async () => {
      const open = await backend.tempStore()
      const writer = await open({ role: 'w', collections })
      const reader = await open({ role: 'r', collections })
      const feed = reader.changes()
      const written: string[] = []
      for (let i = 0; i < 200; i++) written.push((await writer.collection('tasks').insert({ i })).id)
      const seen = await take(feed, 200)
      expect(seen.map((c) => c.id)).toEqual(written)
    },
  )

  test.skipIf(backend.lacks.engine !== undefined)(
    'a reader keeping up with commits one at a time reads the log about once per commit, not twice',
    async () => {
      const open = await backend.tempStore()
      const writer = await open({ role: 'w', collections })
      const reader = await open({ role: 'r', collections })
      let reads = 0
      const readChanges = reader.backend.readChanges.bind(reader.backend)
      reader.backend.readChanges = (...args) => {
        reads++
        return readChanges(...args)
      }
      const feed = reader.changes()
      const written: string[] = []
      for (let i = 0; i < 50; i++) {
        const next = feed.next() // The reader waits at the end of the log, as a subscriber does.
        written.push((await writer.collection('tasks').insert({ i })).id)
        expect((await next).value?.id).toBe(written[i])
      }
      // One read per delivered change, plus the first; spurious wake-ups (a file event before its
      // commit is visible) may add a few. Reading again after each delivery would be 100.
      expect(reads).toBeLessThan(70)
      feed.close()
    },
  )

  test('watch calls back for one collection until stopped, and a throwing listener does not stop it', async () => {
    const open = await backend.tempStore()
    const writer = await open({ role: 'w', collections })
    const reader = await open({ role: 'r', collections })
    const got: number[] = []
    const errors: unknown[] = []
    let resolveThird!: () => void
    const third = new Promise<void>((resolve) => (resolveThird = resolve))
    const stop = reader.collection('tasks').watch(
      (c) => {
        got.push(c.data!.n as number)
        if (c.data!.n === 2) throw new Error('listener failed')
        if (got.length === 3) resolveThird()
      },
      { onError: (e) => errors.push(e) },
    )
    await new Promise((resolve) => setTimeout(resolve, 20))
    for (const n of [1, 2, 3]) await writer.collection('tasks').insert({ n })
    await writer.collection('notes').insert({ n: 99 })
    await third
    stop()
    await writer.collection('tasks').insert({ n: 4 })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(got).toEqual([1, 2, 3])
    expect(errors).toHaveLength(1)
  })

  test('closing the store ends its iterators cleanly', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const feed = store.changes()
    const pending = feed.next()
    await store.close()
    await expect(pending).resolves.toEqual({ done: true, value: undefined })
    expect(() => store.changes()).toThrow(/closed/)
  })

  test('closing a stream ends every next() waiting on it, and the store goes on', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const feed = store.changes({ since: 'now' })
    await store.collection('tasks').insert({ n: 1 })
    expect((await feed.next()).value?.data).toEqual({ n: 1 })
    // Two calls at once (for await never does this, a hand-written loop may): both wait for a commit.
    const first = feed.next()
    const second = feed.next()
    await new Promise((resolve) => setTimeout(resolve, 50))
    feed.close()
    await expect(first).resolves.toEqual({ done: true, value: undefined })
    await expect(second).resolves.toEqual({ done: true, value: undefined })
    const other = store.changes({ since: 'now' })
    await store.collection('tasks').insert({ n: 2 })
    expect((await other.next()).value?.data).toEqual({ n: 2 })
    other.close()
  })

  test('a reader behind retention gets ChangesTrimmedError, never a silent gap', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections, changes: { maxCount: 10 } })
    const tasks = store.collection('tasks')
    const first = await tasks.insert({ n: 0 })
    for (let i = 1; i < 30; i++) await tasks.insert({ n: i })
    expect(await store.trimChanges()).toBe(20)
    const behind = store.changes({ since: 0 })
    const error = await behind.next().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ChangesTrimmedError)
    expect(error).toMatchObject({ code: 'CHANGES_TRIMMED', trimmedThrough: expect.any(Number) })
    expect((error as Error).message).toMatch(/Resync/)
    const kept = await take(store.changes({ since: (error as ChangesTrimmedError).trimmedThrough }), 10)
    expect(kept.map((c) => c.data!.n)).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29])
    expect(first.version).toBe(1)
  })
})

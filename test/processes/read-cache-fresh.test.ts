import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker, rawExec, type WorkerMessage } from '../helpers/processes.js'

// A SQLite store keeps the rows it read by id and serves them again while PRAGMA data_version says
// no connection committed anything since (src/backends/sqlite/sqlite-read-cache.ts). These tests
// read through that cache right after other processes' acknowledged writes: never the older version.

const collections = { items: { writers: '*' } } as const

async function openReader(path: string) {
  const store = await openStore({ path, role: 'reader', collections })
  onTestFinished(() => store.close())
  return store
}

test(
  'a get right after another process acknowledged an update returns the new version, never the cached one',
  async () => {
    const path = join(tempDir(), 'store.db')
    const store = await openReader(path)
    const items = store.collection('items')
    await items.insert({ n: 0 }, { id: 'hot' })
    await items.insert({ n: -1 }, { id: 'other' })
    const writer = forkWorker('step-writer.mjs', { path, collections })
    await writer.waitFor('ready')
    for (let n = 1; n <= 200; n++) {
      // Read both records a few times: the second read of each is served by the cache.
      for (let i = 0; i < 3; i++) {
        expect((await items.get('hot'))?.data.n).toBe(n - 1)
        expect((await items.get('other'))?.data.n).toBe(-1)
      }
      writer.send({ type: 'do', action: 'write', id: 'hot', n })
      const written = await writer.waitFor((m: WorkerMessage) => m.type === 'written' && m.n === n)
      // The other process's update resolved: this process must see it, at once.
      const got = await items.get('hot')
      expect(got?.data.n).toBe(n)
      expect(got?.version).toBe(written.version)
    }
    writer.send({ type: 'do', action: 'stop' })
    await expectCleanExit(writer)
  },
  LAST_RESORT_TIMEOUT_MS,
)

test(
  'reads racing a writer in another process never go back to a version older than one already acknowledged',
  async () => {
    const path = join(tempDir(), 'store.db')
    const store = await openReader(path)
    const items = store.collection('items')
    await items.insert({ n: 0 }, { id: 'hot' })
    const writer = forkWorker('step-writer.mjs', { path, collections })
    await writer.waitFor('ready')
    // Acknowledged n as this process learns of it (a message arrives after its update resolved).
    let acked = 0
    writer.onMessage((m) => {
      if (m.type === 'acked') acked = m.n as number
    })
    const COUNT = 2000
    writer.send({ type: 'do', action: 'run', id: 'hot', count: COUNT })
    let reads = 0
    let last = 0
    while (acked < COUNT) {
      const known = acked
      const n = (await items.get('hot'))!.data.n as number
      expect(n, `read ${reads}: an update to ${known} was acknowledged before this read`).toBeGreaterThanOrEqual(known)
      expect(n, 'versions never go back').toBeGreaterThanOrEqual(last)
      last = n
      reads++
      // Let the writer's messages in now and then (reads alone would never yield to the event loop's I/O).
      if (reads % 50 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    expect((await items.get('hot'))!.data.n).toBe(COUNT)
    await writer.waitFor('ran')
    writer.send({ type: 'do', action: 'stop' })
    await expectCleanExit(writer)
    console.log(`${reads} reads while ${COUNT} updates were acknowledged`)
  },
  LAST_RESORT_TIMEOUT_MS,
)

test('a row changed by a program writing the table directly (no Tandem) is read fresh too', async () => {
  const dir = tempDir()
  const path = join(dir, 'store.db')
  const store = await openReader(path)
  const items = store.collection('items')
  await items.insert({ n: 0 }, { id: 'hot' })
  expect((await items.get('hot'))?.data.n).toBe(0)
  expect((await items.get('hot'))?.data.n).toBe(0)
  const raw = forkWorker('raw-sqlite.mjs', { file: path, busyTimeoutMs: 5000 })
  await raw.waitFor('ready')
  for (let n = 1; n <= 20; n++) {
    await rawExec(raw, `UPDATE c_items SET data = '{"n":${n}}', version = version + 1 WHERE id = 'hot'`)
    expect((await items.get('hot'))?.data.n).toBe(n)
    expect((await items.get('hot'))?.version).toBe(n + 1)
  }
  raw.send({ type: 'exec', exit: true })
  await expectCleanExit(raw)
})

test('a record returned by get is the caller own: changing it changes no later read', async () => {
  const store = await openReader(join(tempDir(), 'store.db'))
  const items = store.collection('items')
  await items.insert({ n: 1, tags: ['a'] }, { id: 'r' })
  const first = (await items.get('r'))!
  first.data.n = 99
  ;(first.data.tags as string[]).push('b')
  const second = (await items.get('r'))!
  expect(second.data).toEqual({ n: 1, tags: ['a'] })
  expect(second).not.toBe(first)
})

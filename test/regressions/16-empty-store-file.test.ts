import { existsSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { openStore, TandemError, type StoreConfig } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker } from '../helpers/processes.js'

// Issue #16 item 9. A store file of 0 bytes is not a new store: SQLite writes a header the moment
// a store is created, so an empty file is a truncated store (a failed copy, a full disk, a
// `> file` by mistake). openStore silently started a new, empty store in it, and every process
// then carried on as if the data had never existed. It now refuses it with STORE_FILE_EMPTY,
// unless asked to start a new store there (`create: true`); `create: false` refuses to create
// anything, so a mistyped path cannot start a new store either.

const collections = { tasks: { writers: '*' } } as const

async function open(config: Partial<StoreConfig<typeof collections>>) {
  const store = await openStore({ role: 'app', collections, ...config })
  onTestFinished(() => store.close())
  return store
}

test('an empty store file is refused with STORE_FILE_EMPTY, left as it was, and nothing else is created beside it', async () => {
  const dataDir = tempDir()
  const file = join(dataDir, 'store.db')
  const store = await open({ dataDir, path: 'store.db' })
  await store.collection('tasks').insert({ title: 'precious' })
  await store.close()
  truncateSync(file, 0)
  const before = readdirSync(dataDir).sort()

  const error = await openStore({ dataDir, path: 'store.db', role: 'app', collections }).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(TandemError)
  expect(error).toMatchObject({ code: 'STORE_FILE_EMPTY' })
  expect((error as Error).message).toContain(file)
  expect((error as Error).message).toMatch(/is empty \(0 bytes\).*truncated.*Nothing was opened.*create: true/)
  expect(statSync(file).size).toBe(0)
  expect(readdirSync(dataDir).sort()).toEqual(before)
})

test('create: true starts a new store in an empty file (one made with touch, say)', async () => {
  const dataDir = tempDir()
  writeFileSync(join(dataDir, 'fresh.db'), '')
  const store = await open({ dataDir, path: 'fresh.db', create: true })
  await store.collection('tasks').insert({ n: 1 })
  expect(await store.collection('tasks').count()).toBe(1)
  expect(statSync(join(dataDir, 'fresh.db')).size).toBeGreaterThan(0)
})

test('create: false opens an existing store but refuses a missing file with STORE_NOT_FOUND, creating nothing', async () => {
  const dataDir = tempDir()
  const error = await openStore({ dataDir, path: 'typo.db', role: 'app', collections, create: false }).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(TandemError)
  expect(error).toMatchObject({ code: 'STORE_NOT_FOUND' })
  expect((error as Error).message).toMatch(/typo\.db does not exist.*create: false/)
  expect(existsSync(join(dataDir, 'typo.db'))).toBe(false)
  await (await open({ dataDir, path: 'real.db' })).close()
  const store = await open({ dataDir, path: 'real.db', create: false })
  expect(await store.collection('tasks').count()).toBe(0)
  await expect(openStore({ dataDir, path: 'x.db', role: 'app', collections, create: 'yes' as never })).rejects.toThrow(
    /create must be true or false/,
  )
})

test('a file that is empty only because another process is creating the store this instant is waited for, not refused', async () => {
  const dataDir = tempDir()
  const made = await open({ dataDir, path: 'model.db' })
  await made.close()
  const header = readFileSync(join(dataDir, 'model.db'))
  // SQLite creates the file empty and writes its header a moment later: play that moment slowly.
  writeFileSync(join(dataDir, 'new.db'), '')
  setTimeout(() => writeFileSync(join(dataDir, 'new.db'), header), 300)
  const started = performance.now()
  const store = await open({ dataDir, path: 'new.db' })
  expect(performance.now() - started).toBeGreaterThanOrEqual(250)
  await store.collection('tasks').insert({ n: 1 })
  expect(await store.collection('tasks').count()).toBe(1)
})

test(
  'many processes creating one new store at the same moment all open it: none sees a half-made, empty file',
  async () => {
    for (let round = 0; round < 3; round++) {
      const dataDir = tempDir()
      const config = { dataDir, path: 'new.db', role: 'app', collections }
      const workers = Array.from({ length: 6 }, () => forkWorker('store-holder.mjs', { config }))
      const first = await Promise.race(workers.map((w) => w.waitFor((m) => m.type === 'ready' || m.type === 'crash')))
      expect(first.type, JSON.stringify(first)).toBe('ready')
      for (const w of workers) expect((await w.waitFor((m) => m.type === 'ready' || m.type === 'crash')).type, w.explain()).toBe('ready')
      for (const w of workers) w.send({ type: 'cmd', action: 'insert', collection: 'tasks', records: [{ n: 1 }] })
      await Promise.all(workers.map((w) => w.waitFor('inserted')))
      for (const w of workers) w.send({ type: 'cmd', action: 'stop' })
      await Promise.all(workers.map(expectCleanExit))
      const store = await open({ dataDir, path: 'new.db', create: false })
      expect(await store.collection('tasks').count()).toBe(6)
      expect(readdirSync(dataDir).filter((f) => f.endsWith('.tmp'))).toEqual([])
    }
  },
  LAST_RESORT_TIMEOUT_MS,
)

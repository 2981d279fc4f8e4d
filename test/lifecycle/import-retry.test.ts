import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { expect, onTestFinished, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { importJsonFile, importStore } from '../../src/lifecycle.js'
import { SqliteBackend } from '../../src/backends/sqlite/sqlite-backend.js'
import { type Backend, type WriteTx } from '../../src/backends/backend.js'
import { tempDir } from '../helpers/backends.js'
import { exportFile, recordLine, storeState } from '../helpers/transfer.js'

// PostgreSQL rolls a deadlocked transaction back and the backend runs its work again. An import's
// work reads its input: run twice, it must import everything exactly once, never the half of a
// stream the first run left. The engine's retry is simulated on SQLite, where it is deterministic:
// the first run of the next write does all its work, then is rolled back as a deadlock would be.

class Rollback extends Error {}

async function storeWithRetries() {
  const dir = tempDir()
  const real = await SqliteBackend.open({
    path: join(dir, 'store.db'),
    durability: 'normal',
    busyTimeoutMs: 5000,
    journalSizeLimitBytes: 1 << 26,
    walCheckpointBytes: 1 << 25,
  })
  let retryNext = false
  let runs = 0
  const write = async <T>(work: (tx: WriteTx) => Promise<T>, options?: { busyTimeoutMs?: number }): Promise<T> => {
    if (retryNext) {
      retryNext = false
      await real
        .write(async (tx) => {
          runs++
          await work(tx)
          throw new Rollback('deadlock, as PostgreSQL would report it')
        }, options)
        .catch((error: unknown) => {
          if (!(error instanceof Rollback)) throw error
        })
    }
    runs++
    return real.write(work, options)
  }
  // Everything else goes to the real backend (bound: its methods use private fields).
  const backend = new Proxy(real, {
    get: (target, prop) => {
      if (prop === 'write') return write
      const value = Reflect.get(target, prop, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  }) as unknown as Backend
  const store = await openStore({ backend, role: 'app', collections: { notes: { writers: '*' } } })
  onTestFinished(() => store.close())
  return { store, dir, retryNextWrite: () => ((retryNext = true), (runs = 0)), runs: () => runs }
}

const lines = Array.from({ length: 100 }, (_, i) => recordLine('notes', `n${String(i).padStart(3, '0')}`, { i }))

test('an import run twice by the engine reads its file again from the start and imports each record once', async () => {
  const { store, dir, retryNextWrite, runs } = await storeWithRetries()
  const file = join(dir, 'in.ndjson')
  writeFileSync(file, exportFile(lines))
  retryNextWrite()
  const result = await importStore(store, { from: file, onConflict: 'fail' })
  expect(runs()).toBe(2)
  expect(result.collections).toEqual({ notes: { inserted: 100, overwritten: 0, skipped: 0 } })
  expect(await store.collection('notes').count()).toBe(100)
  const { changes } = await store.backend.readChanges(0, 1000)
  expect(changes.filter((c) => c.collection === 'notes')).toHaveLength(100)

  // Legacy JSON imports hold their records in memory: a second run sees all of them too.
  const json = join(dir, 'in.json')
  writeFileSync(json, JSON.stringify(Array.from({ length: 10 }, (_, i) => ({ id: `j${i}`, i }))))
  retryNextWrite()
  expect((await importJsonFile(store, { file: json, collection: 'notes', onConflict: 'fail' })).records).toBe(10)
  expect(await store.collection('notes').count()).toBe(110)
})

test('an import from a stream that the engine must run twice is refused, and nothing is imported', async () => {
  const { store, retryNextWrite, runs } = await storeWithRetries()
  await store.collection('notes').insert({ kept: true })
  const before = await storeState(store)
  retryNextWrite()
  const error = await importStore(store, { from: Readable.from([exportFile(lines)]), onConflict: 'fail' }).catch((e: unknown) => e)
  expect(runs()).toBe(2)
  expect(error).toMatchObject({ code: 'BUSY_TIMEOUT', message: expect.stringMatching(/cannot be read twice; nothing was imported/) })
  expect(await storeState(store)).toEqual(before)
})

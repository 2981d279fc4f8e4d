import Database from 'better-sqlite3'
import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { expectCleanExit, forkWorker, rawExec } from '../helpers/processes.js'

// Issue #2: a read-modify-write done as a deferred transaction (BEGIN; SELECT; UPDATE) loses to
// any other process that commits between its read and its write. In WAL mode the UPDATE then
// fails with SQLITE_BUSY_SNAPSHOT at once, whatever the busy timeout: the snapshot it read is
// stale, so no amount of waiting lets it upgrade to a writer. Tandem takes the write lock before
// reading (BEGIN IMMEDIATE), so the same interleaving just makes the second writer wait.

test('a raw deferred read-then-write fails with SQLITE_BUSY_SNAPSHOT when another process commits in between, busy timeout or not', async () => {
  const file = join(tempDir(), 'raw.db')
  const db = new Database(file, { timeout: 2000 })
  onTestFinished(() => {
    db.close()
  })
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE counters (id TEXT PRIMARY KEY, n INTEGER NOT NULL)')
  db.exec("INSERT INTO counters VALUES ('c', 0)")
  expect(db.pragma('busy_timeout', { simple: true })).toBe(2000)

  const other = forkWorker('raw-sqlite.mjs', { file, busyTimeoutMs: 2000 })
  await other.waitFor('ready')

  // This process: BEGIN (deferred) and read n, which pins its snapshot.
  db.exec('BEGIN')
  const { n } = db.prepare("SELECT n FROM counters WHERE id = 'c'").get() as { n: number }
  expect(n).toBe(0)
  // The other process increments and commits in between.
  await rawExec(other, "UPDATE counters SET n = n + 1 WHERE id = 'c'")
  // Now this process's write cannot happen: its read is stale.
  const write = db.prepare("UPDATE counters SET n = ? WHERE id = 'c'")
  const started = performance.now()
  expect(() => write.run(n + 1)).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY_SNAPSHOT' }))
  const failedAfterMs = performance.now() - started
  // Retrying inside the same transaction cannot help either.
  expect(() => write.run(n + 1)).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY_SNAPSHOT' }))
  db.exec('ROLLBACK')
  console.log(`raw deferred transaction: SQLITE_BUSY_SNAPSHOT after ${failedAfterMs.toFixed(1)} ms despite busy_timeout = 2000`)

  // This process's increment is gone; only the other one's survived.
  expect(db.prepare("SELECT n FROM counters WHERE id = 'c'").get()).toEqual({ n: 1 })

  other.send({ type: 'exec', exit: true })
  await expectCleanExit(other)
})

test('through Tandem the same race loses nothing: the second process waits for the first update to commit', async () => {
  const dataDir = tempDir()
  const collections = { counters: { writers: '*' } } as const
  const store = await openStore({ dataDir, path: 'store.db', role: 'first', collections })
  onTestFinished(() => store.close())
  const counters = store.collection('counters')
  await counters.insert({ n: 0 }, { id: 'c' })

  const second = forkWorker('blocked-updater.mjs', {
    store: { dataDir, path: 'store.db', role: 'second', collections },
    collection: 'counters',
    id: 'c',
  })
  await second.waitFor('ready')

  // This process's update has read n = 0 and is inside its function, holding the write lock,
  // until the second process is demonstrably contending for the lock.
  let seen: number | undefined
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let entered!: () => void
  const inside = new Promise<void>((resolve) => (entered = resolve))
  const first = counters.update('c', async (d) => {
    seen = d.n as number
    entered()
    await released
    return { ...d, n: (d.n as number) + 1 }
  })
  await Promise.race([inside, first]) // (first settling here would be a failure: it reports why)
  second.send({ type: 'go' })
  try {
    await second.waitFor('waiting')
  } finally {
    release() // also on failure, or closing the store would wait for this update forever
  }

  const firstResult = await first
  const secondReport = await second.waitFor('updated')
  await expectCleanExit(second)
  console.log(`second process was refused the lock ${String(secondReport.retries)} times before its update went through`)

  expect(seen).toBe(0)
  expect(firstResult.data.n).toBe(1)
  expect(secondReport.error).toBeUndefined()
  expect(secondReport.record).toMatchObject({ version: 3, data: { n: 2 } })
  expect(await counters.get('c')).toMatchObject({ version: 3, data: { n: 2 } })
  await store.close()
})

import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { copyStore } from '../../src/lifecycle.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, forkWorker } from '../helpers/processes.js'

/**
 * Coalescing on SQLite (docs/changes.md): a record row keeps the seq of its latest change-log
 * entry, and the write that appends the next one deletes it by that seq.
 */
const collections = { tasks: { writers: '*' }, audit: { writers: '*', history: 'full' } } as const

function logOf(path: string): { seq: number; collection: string; id: string; op: string; version: number }[] {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare('SELECT seq, collection, id, op, version FROM _tandem_changes ORDER BY seq').all() as never
  } finally {
    db.close()
  }
}

function seqOf(path: string, collection: string, id: string): number | null {
  const db = new Database(path, { readonly: true })
  try {
    return (db.prepare(`SELECT seq FROM c_${collection} WHERE id = ?`).get(id) as { seq: number | null }).seq
  } finally {
    db.close()
  }
}

test('each record keeps one entry, the one its seq names; history: full keeps them all; an undone write leaves them consistent', async () => {
  const path = join(tempDir(), 'store.db')
  const store = await openStore({ path, role: 'app', collections })
  const tasks = store.collection('tasks')
  const a = await tasks.insert({ n: 0 })
  const b = await tasks.insert({ n: 0 })
  for (let i = 1; i <= 50; i++) await tasks.patch(i % 2 === 0 ? a.id : b.id, { n: i })
  const audited = await store.collection('audit').insert({ n: 0 })
  await store.collection('audit').patch(audited.id, { n: 1 })
  // Writes batched with a transaction that writes and then fails (undone as a savepoint when
  // group commit batched it with the others): what committed stays coalesced and consistent.
  const settled = await Promise.allSettled([
    tasks.patch(a.id, { n: 100 }),
    store.transaction(async (tx) => {
      await tx.collection('tasks').patch(b.id, { n: 101 })
      await tx.collection('tasks').patch(a.id, { n: 101 })
      throw new Error('undo')
    }),
    tasks.patch(b.id, { n: 102 }),
  ])
  expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
  const deleted = await tasks.insert({ n: 0 })
  await tasks.patch(deleted.id, { n: 1 })
  await tasks.delete(deleted.id)
  await store.close()

  const log = logOf(path)
  const entries = (id: string) => log.filter((e) => e.id === id).map((e) => [e.op, e.version])
  expect(entries(a.id)).toEqual([['update', 27]])
  expect(entries(b.id)).toEqual([['update', 27]])
  expect(entries(audited.id)).toEqual([
    ['insert', 1],
    ['update', 2],
  ])
  expect(entries(deleted.id)).toEqual([['delete', 2]])
  for (const id of [a.id, b.id]) expect(seqOf(path, 'tasks', id)).toBe(log.find((e) => e.id === id)!.seq)
})

test('a seq left stale by a foreign writer never deletes another record’s entry', async () => {
  const path = join(tempDir(), 'store.db')
  const store = await openStore({ path, role: 'app', collections })
  const tasks = store.collection('tasks')
  const a = await tasks.insert({ n: 0 })
  const b = await tasks.insert({ n: 0 })
  await store.close()
  // A writer that copied b's seq into a (or any seq of another record's entry).
  const db = new Database(path)
  db.prepare('UPDATE c_tasks SET seq = (SELECT seq FROM c_tasks WHERE id = ?) WHERE id = ?').run(b.id, a.id)
  db.close()
  const again = await openStore({ path, role: 'app', collections })
  await again.collection('tasks').patch(a.id, { n: 1 })
  await again.close()
  const log = logOf(path)
  expect(log.filter((e) => e.id === b.id).map((e) => e.op)).toEqual(['insert'])
  // a's insert is not coalesced (its seq was lost), its update is logged: the feed still ends at a's latest state.
  expect(log.filter((e) => e.id === a.id).map((e) => e.op)).toEqual(['insert', 'update'])
})

test(
  'writers SIGKILLed mid-write again and again leave each record with exactly its latest entry, named by its seq',
  async () => {
    const path = join(tempDir(), 'store.db')
    const config = { path, role: 'app', collections: { tasks: { writers: '*' } } } as const
    const store = await openStore(config)
    const ids = ['a', 'b', 'c']
    for (const id of ids) await store.collection('tasks').insert({ n: 0 }, { id })
    await store.close()
    for (let round = 0; round < 6; round++) {
      const workers = ids.map((id) =>
        forkWorker('incrementer.mjs', { store: config, collection: 'tasks', id, untilStop: true, loops: 4, progressEvery: 5 }),
      )
      await Promise.all(workers.map((w) => w.waitFor('ready')))
      for (const w of workers) w.send({ type: 'go' })
      await Promise.all(workers.map((w) => w.waitFor('progress')))
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 30))
      for (const w of workers) w.kill('SIGKILL')
      await Promise.all(workers.map((w) => w.exited))
    }
    const db = new Database(path, { readonly: true })
    try {
      for (const id of ids) {
        const record = db.prepare('SELECT version, seq FROM c_tasks WHERE id = ?').get(id) as { version: number; seq: number }
        const entries = db.prepare('SELECT seq, op, version FROM _tandem_changes WHERE id = ?').all(id)
        expect(record.version).toBeGreaterThan(30)
        expect(entries).toEqual([{ seq: record.seq, op: 'update', version: record.version }])
      }
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    } finally {
      db.close()
    }
  },
  LAST_RESORT_TIMEOUT_MS,
)

test('a copy writes its batches as inserts first, then their entries: each copied row still names its own entry', async () => {
  const dir = tempDir()
  const source = await openStore({ path: join(dir, 'from.db'), role: 'app', collections })
  for (let i = 0; i < 30; i++) await source.collection('tasks').insert({ n: i })
  await source.close()
  await copyStore({ from: { path: join(dir, 'from.db') }, to: { path: join(dir, 'to.db') }, batchSize: 7 })
  const db = new Database(join(dir, 'to.db'), { readonly: true })
  try {
    const rows = db.prepare('SELECT r.seq AS named, c.seq AS logged FROM c_tasks r JOIN _tandem_changes c ON c.id = r.id').all() as {
      named: number
      logged: number
    }[]
    expect(rows).toHaveLength(30)
    expect(rows.every((r) => r.named === r.logged)).toBe(true)
  } finally {
    db.close()
  }
})

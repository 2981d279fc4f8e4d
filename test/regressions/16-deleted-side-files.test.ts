import { unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, forkWorker, waitUntil, type WorkerHandle } from '../helpers/processes.js'

// Issue 16, item 2: deleting the -shm file while processes had the store open corrupted it;
// deleting the -wal file and then killing a writer lost acknowledged writes, with no error
// anywhere. The processes that have the store open must notice, keep what they acknowledged,
// and refuse further writes (STORE_FILES_CHANGED) instead of doing more damage.

/** Writes each writer acknowledges after the deletion, at most, before the test stops waiting for it to notice. */
const MAX_WRITES_AFTER = 3000

async function writer(path: string, name: string): Promise<WorkerHandle> {
  const worker = forkWorker('side-file-writer.mjs', { path, writer: name })
  await worker.waitFor('ready')
  worker.send({ type: 'go' })
  return worker
}

const acked = (w: WorkerHandle) => w.messages.filter((m) => m.type === 'ack').length
const refusal = (w: WorkerHandle) => (w.messages.find((m) => m.type === 'write-failed')?.error as { message?: string } | undefined)?.message
const noticed = (w: WorkerHandle) =>
  w.messages.some((m) => m.type === 'write-failed' && (m.error as { code?: string }).code === 'STORE_FILES_CHANGED')

async function createStore(path: string): Promise<void> {
  const store = await openStore({ path, role: 'writer', collections: { items: { writers: '*' } } })
  await store.close()
}

/** After the deletion: until each writer noticed, or wrote MAX_WRITES_AFTER more without noticing. */
async function waitForEachToNotice(writers: WorkerHandle[]): Promise<void> {
  const before = writers.map(acked)
  await waitUntil(
    () => writers.every((w, i) => noticed(w) || acked(w) - before[i]! >= MAX_WRITES_AFTER || !w.running),
    'the writers to notice the deleted file',
    {
      progress: () => writers.reduce((n, w) => n + w.messages.length, 0),
    },
  )
}

/** SIGKILLs every writer, then opens the store afresh: every acknowledged record present, file sound. */
async function checkAfterKill(path: string, writers: WorkerHandle[], names: string[]): Promise<{ missing: string[]; integrity: string[] }> {
  for (const w of writers) w.kill('SIGKILL')
  await Promise.all(writers.map((w) => w.exited))
  const store = await openStore({ path, role: 'checker', collections: { items: { writers: '*' } } })
  try {
    const integrity = await store.checkIntegrity()
    const present = new Set<string>()
    for (let after: string | null | undefined; after !== null;) {
      const page = await store.collection('items').findPage({ limit: 10_000, ...(after === undefined ? {} : { after }) })
      for (const r of page.records) present.add(`${String(r.data.writer)}:${String(r.data.seq)}`)
      after = page.next
    }
    const missing: string[] = []
    writers.forEach((w, i) => {
      for (let seq = 1; seq <= acked(w); seq++) if (!present.has(`${names[i]}:${seq}`)) missing.push(`${names[i]}:${seq}`)
    })
    return { missing, integrity }
  } finally {
    await store.close()
  }
}

test(
  'deleting the -wal file under live writers is noticed, and no acknowledged write is lost when they are then killed',
  async () => {
    const path = join(tempDir(), 'store.db')
    await createStore(path)
    const names = ['a', 'b']
    const writers = await Promise.all(names.map((n) => writer(path, n)))
    await waitUntil(() => writers.every((w) => acked(w) >= 300), 'the writers to get going')

    unlinkSync(`${path}-wal`)
    await waitForEachToNotice(writers)
    const { missing, integrity } = await checkAfterKill(path, writers, names)
    console.log(
      `acknowledged: ${writers.map(acked).join(' + ')}; missing after the kill: ${missing.length}; writer a was told: ${refusal(writers[0]!)}`,
    )

    expect(missing, 'acknowledged writes lost').toEqual([])
    expect(integrity).toEqual(['ok'])
    for (const w of writers) expect(noticed(w), `${w.label} must refuse writes with STORE_FILES_CHANGED. ${w.explain()}`).toBe(true)
  },
  LAST_RESORT_TIMEOUT_MS,
)

test(
  'deleting the -shm file under live writers is noticed before a newcomer and they write over each other',
  async () => {
    const path = join(tempDir(), 'store.db')
    await createStore(path)
    const names = ['a', 'b', 'late']
    const writers = await Promise.all(names.slice(0, 2).map((n) => writer(path, n)))
    await waitUntil(() => writers.every((w) => acked(w) >= 300), 'the writers to get going')

    unlinkSync(`${path}-shm`)
    // A process that opens now creates a new -shm: its locks no longer exclude the others'.
    const late = await writer(path, 'late')
    await waitUntil(() => acked(late) >= 300 || !late.running, 'the newcomer to write')
    await waitForEachToNotice(writers)
    const all = [...writers, late]
    const { missing, integrity } = await checkAfterKill(path, all, names)
    console.log(
      `acknowledged: ${all.map(acked).join(' + ')}; missing: ${missing.length}; integrity: ${integrity.slice(0, 3).join('; ')}; writer a was told: ${refusal(writers[0]!)}`,
    )

    expect(integrity, 'the store must stay sound').toEqual(['ok'])
    expect(missing, 'acknowledged writes lost').toEqual([])
    for (const w of writers) expect(noticed(w), `${w.label} must refuse writes with STORE_FILES_CHANGED. ${w.explain()}`).toBe(true)
  },
  LAST_RESORT_TIMEOUT_MS,
)

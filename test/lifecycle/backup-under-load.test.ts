import Database from 'better-sqlite3'
import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { backupStore } from '../../src/lifecycle.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker, sleep, waitUntil, type WorkerHandle } from '../helpers/processes.js'

// Two processes insert numbered records (writer w, seq 1, 2, 3..., each write waiting for the
// previous one's commit) while this process backs the store up. The backup must be one instant of
// the store: per writer, exactly seq 1..k with no hole, k at least every write acknowledged before
// the backup started. And the backup must not stop the writers, nor this process's event loop.

const SEED_RECORDS = 30_000
const WRITERS = ['w1', 'w2']
const collections = { items: { writers: '*' }, seed: { writers: '*' } } as const

test(
  'a backup taken while 2 processes write continuously passes integrity_check and holds, per writer, exactly its writes 1..k',
  { timeout: LAST_RESORT_TIMEOUT_MS },
  async () => {
    const dataDir = tempDir()
    const config = (role: string) => ({ dataDir, path: 'store.db', role, collections })
    const store = await openStore(config('backup'))
    onTestFinished(() => store.close())
    // Enough data (about 30 MB) that the copy takes a while, with the writers busy all along.
    const padding = 'x'.repeat(900)
    for (let i = 0; i < SEED_RECORDS; i += 1000)
      await store.collection('seed').insertMany(Array.from({ length: 1000 }, (_, j) => ({ i: i + j, padding })))

    const acked = new Map<string, number>(WRITERS.map((w) => [w, 0]))
    const workers: WorkerHandle[] = WRITERS.map((writer) => {
      const worker = forkWorker('numbered-writer.mjs', { store: config(writer), collection: 'items', writer })
      worker.onMessage((m) => {
        if (m.type === 'ack') acked.set(writer, m.seq as number)
      })
      return worker
    })
    await Promise.all(workers.map((w) => w.waitFor('ready')))
    for (const w of workers) w.send({ type: 'go' })
    await waitUntil(() => WRITERS.every((w) => acked.get(w)! >= 100), '100 acknowledged writes from each writer')

    // Event-loop lag while the backup runs (the copy is in a worker thread, so timers keep firing),
    // and, for the log, the lag of the half second before it, with the writers' reports streaming
    // in. Both checks are relative to the backup itself, not to a fixed time: a loop blocked by the
    // copy would not tick at all until it ended and would lag by the whole backup; a free one ticks
    // all along and lags only by scheduling noise, which load makes larger, but load makes the
    // backup slower too (the bound is half its duration, and never under 250 ms).
    let maxLagMs = 0
    let ticks = 0
    let last = performance.now()
    const lag = setInterval(() => {
      const now = performance.now()
      maxLagMs = Math.max(maxLagMs, now - last - 5)
      last = now
      ticks++
    }, 5)
    await sleep(500)
    const baselineLagMs = maxLagMs
    maxLagMs = 0
    ticks = 0
    const before = new Map(acked)
    const result = await backupStore(store, join(tempDir(), 'backup.db'))
    const ticksDuringBackup = ticks
    clearInterval(lag)
    const after = new Map(acked)

    for (const w of workers) w.send({ type: 'stop' })
    const done = await Promise.all(workers.map((w) => w.waitFor('done')))
    await Promise.all(workers.map(expectCleanExit))
    done.forEach((d) => expect(d.errors).toEqual([]))
    const final = new Map(WRITERS.map((w, i) => [w, done[i]!.acked as number]))

    const written = WRITERS.map((w) => after.get(w)! - before.get(w)!)
    console.log(
      `backup under load: ${(result.bytes / 1e6).toFixed(1)} MB in ${result.durationMs} ms while 2 writers acknowledged ${written.join(' + ')} writes; ` +
        `event-loop lag at most ${maxLagMs.toFixed(0)} ms over ${ticksDuringBackup} ticks of 5 ms (${baselineLagMs.toFixed(0)} ms in the half second before)`,
    )
    expect(result).toMatchObject({ integrity: 'ok', format: 'sqlite' })
    // The writers were not stopped by the backup.
    for (const n of written) expect(n).toBeGreaterThan(0)
    expect(ticksDuringBackup).toBeGreaterThanOrEqual(5)
    expect(maxLagMs).toBeLessThan(Math.max(250, result.durationMs / 2))

    // Check the backup on its own, read-only.
    const db = new Database(result.path, { readonly: true })
    onTestFinished(() => {
      if (db.open) db.close()
    })
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    expect(db.pragma('journal_mode', { simple: true })).toBe('delete') // one self-contained file
    expect((db.prepare('SELECT count(*) AS n FROM "c_seed"').get() as { n: number }).n).toBe(SEED_RECORDS)
    const rows = db.prepare(`SELECT json_extract(data, '$.writer') AS writer, json_extract(data, '$.seq') AS seq FROM "c_items"`).all() as {
      writer: string
      seq: number
    }[]
    for (const writer of WRITERS) {
      const seqs = rows
        .filter((r) => r.writer === writer)
        .map((r) => r.seq)
        .sort((a, b) => a - b)
      const k = seqs.length
      // Exactly 1..k: a consistent prefix, no hole, no duplicate.
      expect(seqs).toEqual(Array.from({ length: k }, (_, i) => i + 1))
      // Everything acknowledged before the backup started is in it; nothing beyond what was ever written.
      expect(k).toBeGreaterThanOrEqual(before.get(writer)!)
      expect(k).toBeLessThanOrEqual(final.get(writer)!)
    }
    expect(rows.length).toBeLessThanOrEqual([...final.values()].reduce((a, b) => a + b, 0))

    // And it opens as a Tandem store.
    db.close()
    const restored = await openStore({ path: result.path, role: 'check', collections })
    onTestFinished(() => restored.close())
    expect(await restored.collection('items').count()).toBe(rows.length)
  },
)

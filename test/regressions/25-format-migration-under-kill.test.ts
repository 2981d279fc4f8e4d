import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, forkWorker } from '../helpers/processes.js'

/**
 * Issue 25: opening a store of the release before coalescing gives its record tables the seq
 * column (the seq of each record's latest change-log entry), once, in the open's first
 * transaction. Processes opening it are SIGKILLed at spread-out moments of their open, again and
 * again, while the log is large: the store stays whole (records, the old log entries with their
 * copies, the consumer's position), and the next open finishes the job.
 */
const FIXTURE = join(import.meta.dirname, '../fixtures/store-before-25.db')
const collections = { notes: { writers: '*' }, blobs: { writers: '*' } } as const
/** Log entries added to the old file, so that the open has more to read while it is interrupted. */
const EXTRA_ENTRIES = 200_000

function upgraded(path: string): boolean {
  const db = new Database(path, { readonly: true })
  try {
    return ['notes', 'blobs'].every((c) => db.prepare(`SELECT 1 FROM pragma_table_info('c_${c}') WHERE name = 'seq'`).get() !== undefined)
  } finally {
    db.close()
  }
}

test(
  'a store from before coalescing, opened by processes SIGKILLed mid-open again and again, loses nothing and ends upgraded',
  async () => {
    const path = join(tempDir(), 'old.db')
    copyFileSync(FIXTURE, path)
    const old = new Database(path)
    // Entries of another collection's writes, as an old, busy store holds them (no copies).
    old
      .prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO _tandem_changes (collection, id, op, version, role, at, data) SELECT 'gone', 'g' || (i % 5000), 'update', i, 'app', 0, NULL FROM n`,
      )
      .run(EXTRA_ENTRIES)
    const entriesBefore = (old.prepare('SELECT count(*) AS n FROM _tandem_changes').get() as { n: number }).n
    old.close()

    // How long one open takes here, up to 'ready': the kills spread over that span.
    const probe = forkWorker('store-holder.mjs', { config: { path: join(tempDir(), 'fresh.db'), role: 'app', collections } })
    const started = performance.now()
    await probe.waitFor('ready')
    const openMs = performance.now() - started
    probe.kill('SIGKILL')
    await probe.exited

    let killedBefore = 0
    for (let k = 0; k < 8 && !upgraded(path); k++) {
      const worker = forkWorker('store-holder.mjs', { config: { path, role: 'app', collections } })
      // From early in the open to well past the probe's whole open.
      await new Promise((resolve) => setTimeout(resolve, (openMs * (k + 1)) / 3))
      worker.kill('SIGKILL')
      await worker.exited
      if (!upgraded(path)) killedBefore++
    }
    const store = await openStore({ path, role: 'app', collections })
    try {
      expect((await store.collection('notes').get('n1'))?.data).toEqual({ text: 'second' })
      expect(await store.collection('notes').get('n2')).toBeUndefined()
      expect((await store.collection('blobs').get('b1'))?.data).toEqual({ size: 3 })
      const first = []
      for await (const c of store.changes({ since: 'beginning' })) {
        first.push([c.seq, c.op, c.data])
        if (first.length === 2) break
      }
      expect(first).toEqual([
        [1, 'insert', { text: 'first' }],
        [2, 'update', { text: 'second' }],
      ])
      const mailer = store.consumer('mailer')
      for await (const c of await mailer.changes()) {
        expect(c.seq).toBe(4)
        break
      }
      await mailer.close()
      expect(await store.checkIntegrity()).toEqual(['ok'])
    } finally {
      await store.close()
    }
    expect(upgraded(path)).toBe(true)
    const db = new Database(path, { readonly: true })
    try {
      // Nothing coalesced by the upgrade itself: only writes coalesce. The old records have no seq yet.
      expect((db.prepare('SELECT count(*) AS n FROM _tandem_changes').get() as { n: number }).n).toBe(entriesBefore)
      expect(db.prepare('SELECT count(*) AS n FROM c_notes WHERE seq IS NOT NULL').get()).toEqual({ n: 0 })
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    } finally {
      db.close()
    }
    console.log(
      `format migration under SIGKILL: open takes ~${openMs.toFixed(0)} ms; ${killedBefore} kills left the store not yet upgraded, the next open upgraded it`,
    )
  },
  LAST_RESORT_TIMEOUT_MS,
)

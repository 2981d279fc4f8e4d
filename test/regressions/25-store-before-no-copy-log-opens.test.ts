import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'

/**
 * Issue 25: a store file written by the release before change logs without copies (made by
 * tandemdb at 7605a1b: notes n1 inserted then patched, n2 inserted then deleted, blobs b1 under
 * changeData: false, consumer "mailer" acked through seq 3) opens with nothing lost.
 */
const FIXTURE = join(import.meta.dirname, '../fixtures/store-before-25.db')
const collections = { notes: { writers: '*' }, blobs: { writers: '*' } } as const

test('a store made before copies became opt-in opens with its records, log and consumer positions, and compact switches it to a shrinking file', async () => {
  const path = join(tempDir(), 'old.db')
  copyFileSync(FIXTURE, path)
  const store = await openStore({ path, role: 'app', collections })
  try {
    expect((await store.collection('notes').get('n1'))?.data).toEqual({ text: 'second' })
    expect(await store.collection('notes').get('n2')).toBeUndefined()
    expect((await store.collection('blobs').get('b1'))?.data).toEqual({ size: 3 })
    // The old entries keep their copies: delivered as each change's own data.
    const feed = store.changes({ since: 'beginning' })
    const all = []
    for await (const c of feed) {
      all.push([c.seq, c.op, c.version, c.dataVersion, c.superseded ?? false, c.data])
      if (all.length === 5) break
    }
    expect(all).toEqual([
      [1, 'insert', 1, 1, false, { text: 'first' }],
      [2, 'update', 2, 2, false, { text: 'second' }],
      [3, 'insert', 1, 1, false, { text: 'gone' }],
      [4, 'delete', 1, 1, false, { text: 'gone' }],
      [5, 'insert', 1, 1, false, { size: 3 }],
    ])
    // The consumer resumes right after its last ack.
    const mailer = store.consumer('mailer')
    for await (const c of await mailer.changes()) {
      expect(c.seq).toBe(4)
      break
    }
    const report = await store.reclaimSpace()
    expect(report?.rewritten).toBe(true)
    expect((await store.collection('notes').get('n1'))?.data).toEqual({ text: 'second' })
    await store.collection('notes').insert({ text: 'new' }, { id: 'n3' })
  } finally {
    await store.close()
  }
  const db = new Database(path, { readonly: true })
  try {
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(2)
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
  } finally {
    db.close()
  }
})

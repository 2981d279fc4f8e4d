import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import { openStore } from '../../src/index.js'
import { exportRecords, exportStore, importStore } from '../../src/lifecycle.js'
import { BACKENDS, tempDir } from '../helpers/backends.js'
import { exportText } from '../helpers/transfer.js'

const Task = z.object({
  title: z.string(),
  n: z.number(),
  tags: z.array(z.string()).optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
})
const collections = {
  tasks: { writers: ['app'], schema: Task },
  notes: { writers: '*' },
  quiet: { writers: '*', history: 'full' },
} as const

describe.each(BACKENDS)('export and import on $name', (backend) => {
  /** A store with varied data: unicode, nesting, nulls, big and negative numbers, odd keys, versions above 1, a deletion. */
  async function filledStore() {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const notes = store.collection('notes')
    for (let i = 0; i < 250; i++) await tasks.insert({ title: `task ${i} ✓ «ü» 🚀`, n: i * 1.5 - 100, tags: i % 3 === 0 ? ['a', 'b'] : [] })
    const first = (await tasks.find({ limit: 3 }))!
    await tasks.update(first[0]!.id, (d) => ({
      ...d,
      n: 1e21,
      meta: { nested: { deep: [1, null, { x: 'y' }] }, constructor: 'plain key' },
    }))
    await tasks.patch(first[1]!.id, { title: 'patched\nwith "quotes" and \\ backslash' })
    await tasks.patch(first[1]!.id, { n: -0.000001 })
    await tasks.delete(first[2]!.id)
    await notes.insert({ text: 'with my own id', empty: {}, list: [] }, { id: 'note/with spaces and ünïcode' })
    await notes.insert({ text: null })
    await store.collection('quiet').insert({ big: 'x'.repeat(10_000) })
    return store
  }

  test('export then import into an empty store round-trips every record byte for byte, versions and timestamps included', async () => {
    const source = await filledStore()
    const dir = tempDir()
    const file = join(dir, 'export.ndjson')
    const exported = await exportStore(source, { to: file })
    expect(exported).toMatchObject({ path: file, records: 252, collections: { notes: 2, quiet: 1, tasks: 249 } })
    expect(exported.bytes).toBe(readFileSync(file).length)
    expect(readdirSync(dir)).toEqual(['export.ndjson']) // no temp file left behind

    const target = await (await backend.tempStore())({ role: 'other', roles: { other: {} }, collections })
    const result = await importStore(target, { from: file, onConflict: 'fail' })
    expect(result).toMatchObject({
      dryRun: false,
      records: 252,
      ignored: 0,
      collections: {
        notes: { inserted: 2, overwritten: 0, skipped: 0 },
        quiet: { inserted: 1, overwritten: 0, skipped: 0 },
        tasks: { inserted: 249, overwritten: 0, skipped: 0 },
      },
    })
    // The re-export is the same text, but for the header's time.
    expect(await exportText(target)).toEqual(await exportText(source))
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
    expect(lines.slice(1)).toEqual((await exportText(target)).slice(1))
    // And the records read back the same through the API.
    for (const name of ['tasks', 'notes', 'quiet'] as const) {
      expect(await target.collection(name).find()).toEqual(await source.collection(name).find())
    }
    expect((await target.collection('tasks').find()).some((r) => r.version === 3)).toBe(true)
  })

  test('the export file has a header, one line per record with its metadata, and an end line with the counts', async () => {
    const source = await filledStore()
    const lines = await exportText(source, ['notes'])
    expect(JSON.parse(lines[0]!)).toEqual({
      tandem: 'export',
      format: 2,
      kind: backend.name,
      collections: ['notes'],
      exportedAt: '',
      snapshot: backend.name === 'sqlite',
      schemaVersion: 0,
      fingerprint: source.fingerprint,
      maxLineBytes: 16 * 1024 * 1024,
    })
    const record = JSON.parse(lines[2]!) // by id: the generated ULID sorts first
    expect(Object.keys(record)).toEqual(['collection', 'id', 'version', 'createdAt', 'updatedAt', 'role', 'data'])
    expect(record).toMatchObject({
      collection: 'notes',
      id: 'note/with spaces and ünïcode',
      version: 1,
      role: 'app',
      data: { text: 'with my own id', empty: {}, list: [] },
    })
    expect(record.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    expect(JSON.parse(lines.at(-1)!)).toEqual({ tandem: 'end', records: { notes: 2 } })
    expect(lines).toHaveLength(4)
  })

  test('streams work both ways: export to a Writable, import from a Readable', async () => {
    const source = await filledStore()
    const sink = new PassThrough()
    const chunks: Buffer[] = []
    sink.on('data', (c: Buffer) => chunks.push(c))
    const exported = await exportStore(source, { to: sink, pageSize: 7 })
    expect(exported.path).toBeUndefined()
    const text = Buffer.concat(chunks)
    expect(text.length).toBe(exported.bytes)

    const target = await (await backend.tempStore())({ role: 'app', collections })
    // Chunks of 100 bytes: lines (and multi-byte characters) cut anywhere.
    const pieces = Array.from({ length: Math.ceil(text.length / 100) }, (_, i) => text.subarray(i * 100, i * 100 + 100))
    await importStore(target, { from: Readable.from(pieces), onConflict: 'fail' })
    expect(await exportText(target)).toEqual(await exportText(source))
  })

  test('exportRecords yields every record with its collection, a page at a time, and break releases it', async () => {
    const source = await filledStore()
    const seen = []
    for await (const r of exportRecords(source, { collections: ['tasks'], pageSize: 10 })) seen.push(r)
    expect(seen.map(({ collection, ...r }) => (expect(collection).toBe('tasks'), r))).toEqual(await source.collection('tasks').find())
    for await (const r of exportRecords(source, { pageSize: 1 })) {
      expect(r.collection).toBe('notes')
      break
    }
    // The store keeps working (and closes) after an abandoned export.
    await source.collection('notes').insert({ after: true })
    await source.close()
  })

  test('some collections only: on export, and on import (the rest counted as ignored)', async () => {
    const source = await filledStore()
    const dir = tempDir()
    const all = join(dir, 'all.ndjson')
    await exportStore(source, { to: all })
    const onlyNotes = await exportStore(source, { to: join(dir, 'notes.ndjson'), collections: ['notes'] })
    expect(onlyNotes.collections).toEqual({ notes: 2 })

    const target = await (await backend.tempStore())({ role: 'app', collections })
    const result = await importStore(target, { from: all, onConflict: 'fail', collections: ['notes', 'quiet'] })
    expect(result).toMatchObject({ records: 3, ignored: 249 })
    expect(await target.collection('tasks').count()).toBe(0)
    expect(await target.collection('notes').count()).toBe(2)
    await expect(exportStore(source, { to: join(dir, 'x.ndjson'), collections: ['nope'] })).rejects.toMatchObject({
      code: 'UNKNOWN_COLLECTION',
    })
  })

  test('imported records reach the change feed as inserts and updates, with their versions', async () => {
    const source = await filledStore()
    const file = join(tempDir(), 'e.ndjson')
    await exportStore(source, { to: file, collections: ['notes', 'quiet'] })
    const target = await (await backend.tempStore())({ role: 'app', collections })
    const note = await target.collection('notes').insert({ text: 'old' }, { id: 'note/with spaces and ünïcode' })
    await target.collection('notes').patch(note.id, { text: 'older' })
    const head = await target.backend.changeHead()
    await importStore(target, { from: file, onConflict: 'overwrite' })
    const imported = await target.backend.changeHead()
    for (const q of await target.collection('quiet').find()) await target.collection('quiet').delete(q.id)
    const { changes } = await target.backend.readChanges(head, imported - head)
    // In file order: notes by id (the generated ULID sorts before "note/..."), then quiet.
    expect(changes.map((c) => [c.collection, c.op, c.version, c.role, c.data === undefined])).toEqual([
      ['notes', 'insert', 1, 'app', false],
      ['notes', 'update', 1, 'app', false],
      ['quiet', 'insert', 1, 'app', false], // history: 'full' holds for imports too: the copy outlives the record
    ])
    expect(changes[1]!.id).toBe(note.id)
  })

  // One import is one transaction. On PostgreSQL, a per-record lock for every new id once filled
  // the server's lock table (max_locks_per_transaction) past some 15,000 records here: "out of shared
  // memory", nothing imported. What exists is now read a batch at a time under the collection's lock.
  test('a large import of new and existing records, with duplicates in the input, is one transaction that fits any engine', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    await store.collection('notes').insertMany(Array.from({ length: 100 }, (_, i) => ({ n: i, kept: true })))
    const existing = await store.collection('notes').find({ limit: 100 })
    const dir = tempDir()
    const file = join(dir, 'big.ndjson')
    const at = '2026-01-01T00:00:00.000Z'
    const line = (id: string, version: number, n: number) =>
      JSON.stringify({ collection: 'notes', id, version, createdAt: at, updatedAt: at, role: 'app', data: { n } })
    const lines = Array.from({ length: 30_000 }, (_, i) => line(`big-${String(i).padStart(5, '0')}`, 1, i))
    // 100 ids that exist (newer versions: they win), and one id twice in the input (the second is newer).
    lines.push(...existing.map((r, i) => line(r.id, r.version + 1, -i)))
    lines.push(line('big-00007', 5, 7007))
    writeFileSync(file, `${lines.join('\n')}\n`)
    const result = await importStore(store, { from: file, onConflict: 'newer-version-wins' })
    expect(result.collections.notes).toEqual({ inserted: 30_000, overwritten: 101, skipped: 0 })
    expect(await store.collection('notes').count()).toBe(30_100)
    expect((await store.collection('notes').get('big-00007'))?.data).toEqual({ n: 7007 })
    expect((await store.collection('notes').get(existing[5]!.id))?.data).toEqual({ n: -5 })
    await store.close()
  }, 60_000)

  test('options are checked: a missing onConflict, a misspelled option, a bad source', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const file = join(tempDir(), 'e.ndjson')
    writeFileSync(file, '')
    await expect(importStore(store, { from: file } as never)).rejects.toThrow(
      /onConflict must be one of 'skip', 'overwrite', 'fail', 'newer-version-wins'/,
    )
    await expect(importStore(store, { from: file, onConflict: 'fail', dryrun: true } as never)).rejects.toThrow(/Unknown option "dryrun"/)
    await expect(importStore(store, { from: 42, onConflict: 'fail' } as never)).rejects.toThrow(TypeError)
    await expect(importStore(store, { from: join(tempDir(), 'missing.ndjson'), onConflict: 'fail' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    })
    await expect(exportStore(store, { to: file, pagesize: 3 } as never)).rejects.toThrow(/Unknown export option "pagesize"/)
    expect(await importStore(store, { from: file, onConflict: 'fail' })).toMatchObject({ records: 0, collections: {} })
  })
})

describe('export consistency on SQLite', () => {
  test('an export is the store as of one instant: writes made while it runs are not in it', async () => {
    const dataDir = tempDir()
    const store = await openStore({ dataDir, path: 'store.db', role: 'app', collections })
    const notes = store.collection('notes')
    await notes.insertMany(Array.from({ length: 100 }, (_, i) => ({ i })))
    const last = (await notes.find({ orderBy: '-$id', limit: 1 }))[0]!
    const other = await openStore({ dataDir, path: 'store.db', role: 'other', roles: { other: {} }, collections })

    const seen = []
    for await (const r of exportRecords(store, { collections: ['notes'], pageSize: 10 })) {
      seen.push(r)
      if (seen.length === 1) {
        // Another handle (its own connections, like another process) writes mid-export.
        await other.collection('notes').insertMany(Array.from({ length: 50 }, (_, i) => ({ late: i })))
        await other.collection('notes').patch(last.id, { changed: true })
      }
    }
    expect(seen).toHaveLength(100)
    expect(seen.at(-1)).toMatchObject({ id: last.id, version: 1, data: { i: 99 } })
    expect(await notes.count()).toBe(150)
    await other.close()
    await store.close()
  })
})

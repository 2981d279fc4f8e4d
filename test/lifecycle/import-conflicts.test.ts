import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { importStore, ImportError, type ConflictPolicy } from '../../src/lifecycle.js'
import { BACKENDS, tempDir } from '../helpers/backends.js'
import { exportFile, recordLine, storeState } from '../helpers/transfer.js'

const collections = { tasks: { writers: ['app'] } } as const
const IMPORTED_AT = '2020-01-02T03:04:05.006Z'

describe.each(BACKENDS)('import conflict policies on $name', (backend) => {
  /**
   * The store holds a (version 1), b (version 5), c (version 2); the file brings a at version 3,
   * b at 2, c at 2 (equal), and a new d.
   */
  async function setup() {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    await tasks.insert({ v: 'stored a' }, { id: 'a' })
    await tasks.insert({ v: 'stored b' }, { id: 'b' })
    for (let i = 0; i < 4; i++) await tasks.patch('b', { v: 'stored b', i })
    await tasks.insert({ v: 'stored c' }, { id: 'c' })
    await tasks.patch('c', { v: 'stored c' })
    const file = join(tempDir(), 'import.ndjson')
    const meta = (version: number) => ({ version, createdAt: IMPORTED_AT, updatedAt: IMPORTED_AT, role: 'importer' })
    writeFileSync(
      file,
      exportFile([
        recordLine('tasks', 'a', { v: 'imported a' }, meta(3)),
        recordLine('tasks', 'b', { v: 'imported b' }, meta(2)),
        recordLine('tasks', 'c', { v: 'imported c' }, meta(2)),
        recordLine('tasks', 'd', { v: 'imported d' }, meta(1)),
      ]),
    )
    return { store, file }
  }

  const versionsAndValues = async (store: Awaited<ReturnType<typeof setup>>['store']) =>
    Object.fromEntries((await store.collection('tasks').find()).map((r) => [r.id, [r.version, r.data.v]]))

  test("'skip' keeps every stored record and inserts only new ids", async () => {
    const { store, file } = await setup()
    const result = await importStore(store, { from: file, onConflict: 'skip' })
    expect(result.collections).toEqual({ tasks: { inserted: 1, overwritten: 0, skipped: 3 } })
    expect(await versionsAndValues(store)).toEqual({ a: [1, 'stored a'], b: [5, 'stored b'], c: [2, 'stored c'], d: [1, 'imported d'] })
  })

  test("'overwrite' replaces each record with the imported one: data, version, timestamps and role", async () => {
    const { store, file } = await setup()
    const result = await importStore(store, { from: file, onConflict: 'overwrite' })
    expect(result.collections).toEqual({ tasks: { inserted: 1, overwritten: 3, skipped: 0 } })
    expect(await versionsAndValues(store)).toEqual({
      a: [3, 'imported a'],
      b: [2, 'imported b'],
      c: [2, 'imported c'],
      d: [1, 'imported d'],
    })
    expect(await store.collection('tasks').get('b')).toMatchObject({
      version: 2,
      createdAt: IMPORTED_AT,
      updatedAt: IMPORTED_AT,
      role: 'importer',
    })
  })

  test("'newer-version-wins' replaces only records whose imported version is higher", async () => {
    const { store, file } = await setup()
    const result = await importStore(store, { from: file, onConflict: 'newer-version-wins' })
    expect(result.collections).toEqual({ tasks: { inserted: 1, overwritten: 1, skipped: 2 } })
    expect(await versionsAndValues(store)).toEqual({ a: [3, 'imported a'], b: [5, 'stored b'], c: [2, 'stored c'], d: [1, 'imported d'] })
  })

  test("'fail' stops at the first existing id with DUPLICATE_ID naming its line, and imports nothing", async () => {
    const { store, file } = await setup()
    const before = await storeState(store)
    const error = await importStore(store, { from: file, onConflict: 'fail' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ImportError)
    expect(error).toMatchObject({ code: 'DUPLICATE_ID', line: 2, collection: 'tasks', id: 'a' })
    expect((error as Error).message).toMatch(/^Line 2 of import\.ndjson: Record tasks\/a already exists \(version 1\)/)
    expect(await storeState(store)).toEqual(before)
  })

  test('an id twice in one file is a conflict with itself, under the same policy', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const file = join(tempDir(), 'twice.ndjson')
    writeFileSync(file, [recordLine('tasks', 'x', { n: 1 }, { version: 1 }), recordLine('tasks', 'x', { n: 2 }, { version: 2 })].join('\n'))
    expect((await importStore(store, { from: file, onConflict: 'newer-version-wins' })).collections).toEqual({
      tasks: { inserted: 1, overwritten: 1, skipped: 0 },
    })
    expect(await store.collection('tasks').get('x')).toMatchObject({ version: 2, data: { n: 2 } })
  })

  test('a stored id twice in one file: each line is judged against what the lines before it left', async () => {
    const { store } = await setup() // b is stored at version 5
    const file = join(tempDir(), 'stored-twice.ndjson')
    // b: older (skipped), then newer (wins), then in between (skipped: the line before left 7).
    // c (stored at 2): newer (wins), then newer still (wins again). Then a new e, twice.
    const lines = [
      recordLine('tasks', 'b', { v: 'b at 4' }, { version: 4 }),
      recordLine('tasks', 'c', { v: 'c at 3' }, { version: 3 }),
      recordLine('tasks', 'b', { v: 'b at 7' }, { version: 7 }),
      recordLine('tasks', 'e', { v: 'e at 1' }, { version: 1 }),
      recordLine('tasks', 'c', { v: 'c at 9' }, { version: 9 }),
      recordLine('tasks', 'b', { v: 'b at 6' }, { version: 6 }),
      recordLine('tasks', 'e', { v: 'e at 2' }, { version: 2 }),
    ]
    writeFileSync(file, lines.join('\n'))
    const result = await importStore(store, { from: file, onConflict: 'newer-version-wins' })
    expect(result.collections).toEqual({ tasks: { inserted: 1, overwritten: 4, skipped: 2 } })
    expect(await versionsAndValues(store)).toEqual({ a: [1, 'stored a'], b: [7, 'b at 7'], c: [9, 'c at 9'], e: [2, 'e at 2'] })
    expect(await store.checkIntegrity()).toEqual(['ok'])
  })

  test('inside store.transaction(), a failed import undoes only itself, and a committed one commits with the transaction', async () => {
    const { store } = await setup()
    const good = join(tempDir(), 'good.ndjson')
    writeFileSync(good, recordLine('tasks', 'x', { v: 'imported x' }, { version: 1 }))
    const bad = join(tempDir(), 'bad.ndjson')
    // More records than one write batch of the import (500) before the broken line: some are written when it fails.
    const many = Array.from({ length: 600 }, (_, i) => recordLine('tasks', `y${i}`, { v: 'imported y' }, { version: 1 }))
    writeFileSync(bad, [...many, '{ not json'].join('\n'))
    await store.transaction(async (tx) => {
      await tx.collection('tasks').patch('a', { v: 'patched in the transaction' })
      await expect(importStore(store, { from: bad, onConflict: 'overwrite' })).rejects.toBeInstanceOf(ImportError)
      await importStore(store, { from: good, onConflict: 'overwrite' })
    })
    const values = await versionsAndValues(store)
    expect(values.a).toEqual([2, 'patched in the transaction'])
    expect(values.x).toEqual([1, 'imported x'])
    expect(Object.keys(values).filter((id) => id.startsWith('y'))).toEqual([])
    expect(await store.checkIntegrity()).toEqual(['ok'])
  })

  test.each<ConflictPolicy>(['skip', 'overwrite', 'newer-version-wins', 'fail'])(
    "dryRun with '%s' reports what the import would do and changes nothing",
    async (policy) => {
      const { store, file } = await setup()
      const before = await storeState(store)
      const dry = await importStore(store, { from: file, onConflict: policy, dryRun: true }).catch((e: unknown) => e)
      expect(await storeState(store)).toEqual(before)
      const real = await importStore(store, { from: file, onConflict: policy }).catch((e: unknown) => e)
      if (policy === 'fail') {
        // A dry run finds the same problem.
        expect(dry).toMatchObject({ code: 'DUPLICATE_ID', line: 2 })
        expect(real).toMatchObject({ code: 'DUPLICATE_ID', line: 2 })
      } else {
        expect(dry).toMatchObject({ dryRun: true, collections: (real as { collections: unknown }).collections, records: 4 })
        expect(real).toMatchObject({ dryRun: false })
      }
    },
  )
})
